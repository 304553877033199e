/**
 * passthrough with layer slices (mergekit's frankenmerge): the layer stack of two tiny Llama
 * checkpoints, its config and species, the reference forward pass of the stack, scale with a
 * filter, and the one-line refusals.
 */
import { describe, expect, it } from 'vitest';
import { breed } from './breed.ts';
import { cpuBackend } from './backend.ts';
import { candidateSlm, type ParentInfo } from './candidate.ts';
import { hfFolderFiles, tinyCheckpoint, type TinyCheckpoint } from '../models/llama-testing.ts';
import { architectureHash, parseCausalLmConfig } from '../models/llama-config.ts';
import { referenceDecoder } from '../models/decoder.ts';
import { tokenizerHash } from '../models/tokenizer.ts';
import { HF_KEYS } from '../format/hf-keys.ts';
import { readSlm, speciesId, speciesSignature } from '../format/slm.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import type { RecipeParams } from './types.ts';

const dec = new TextDecoder();

/** A checkpoint as the CLI hands it to candidateSlm: tensors and the folder's files in the metadata. */
function parent(ck: TinyCheckpoint, hash: string): ParentInfo {
  const files = hfFolderFiles(ck);
  const metadata = {
    [HF_KEYS.config]: dec.decode(files.get('config.json')),
    [HF_KEYS.tokenizer]: dec.decode(files.get('tokenizer.json')),
    [HF_KEYS.tokenizerConfig]: dec.decode(files.get('tokenizer_config.json')),
  };
  const cfg = parseCausalLmConfig(ck.config);
  const graph = architectureHash(cfg, tokenizerHash({ tokenizer: metadata[HF_KEYS.tokenizer], config: metadata[HF_KEYS.tokenizerConfig] }));
  return {
    hash: hash.repeat(64) as ParentInfo['hash'],
    species: speciesId(speciesSignature(ck.tensors, graph, [])),
    graph,
    vocabulary: [],
    tensors: ck.tensors,
    metadata,
  };
}

const A = tinyCheckpoint({ layers: 3, seed: 1, scale: 1 });
const B = tinyCheckpoint({ layers: 3, seed: 2, scale: 1 });
const run = (params: RecipeParams, parents: TinyCheckpoint[] = [A, B]) =>
  breed({ operator: 'passthrough', params, seed: 0, parents: parents.map((p) => p.tensors) }, cpuBackend);
const byName = (ts: readonly Tensor[]) => new Map(ts.map((t) => [t.name, t]));

describe('passthrough with layer slices', () => {
  it('layers [0, 2) of A then [1, 3) of B: 4 layers, renamed in order, embeddings from A, norm and head from B', async () => {
    const r = await run({
      layerRange: [
        [0, 2],
        [1, 3],
      ],
    });
    expect(r.layers).toEqual([
      { parent: 0, layer: 0 },
      { parent: 0, layer: 1 },
      { parent: 1, layer: 1 },
      { parent: 1, layer: 2 },
    ]);
    // Written out by hand: which source tensor each output tensor must be, byte for byte.
    const a = byName(A.tensors);
    const b = byName(B.tensors);
    const want = new Map<string, Tensor>([
      ['model.embed_tokens.weight', a.get('model.embed_tokens.weight')!],
      ['model.norm.weight', b.get('model.norm.weight')!],
      ['lm_head.weight', b.get('lm_head.weight')!],
    ]);
    const from: [number, Map<string, Tensor>, number][] = [
      [0, a, 0],
      [1, a, 1],
      [2, b, 1],
      [3, b, 2],
    ];
    for (const [out, src, layer] of from)
      for (const [name, t] of src)
        if (name.startsWith(`model.layers.${layer}.`)) want.set(name.replace(`model.layers.${layer}.`, `model.layers.${out}.`), t);
    const got = byName(r.tensors);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, t] of want) expect(Buffer.from(got.get(name)!.data).equals(Buffer.from(t.data)), name).toBe(true);

    // The candidate: config with the new layer count, a species of its own, the reference forward of the stack.
    const file = candidateSlm(r, [parent(A, 'a'), parent(B, 'b')]);
    const child = readSlm(file.bytes);
    const cfg = parseCausalLmConfig(JSON.parse(child.metadata[HF_KEYS.config]));
    expect(cfg.numLayers).toBe(4);
    expect(child.species).not.toBe(parent(A, 'a').species);
    const tok = tokenizerHash({ tokenizer: child.metadata[HF_KEYS.tokenizer], config: child.metadata[HF_KEYS.tokenizerConfig] });
    expect(child.species).toBe(speciesId(speciesSignature(child.tensors, architectureHash(cfg, tok), [])));
    const ids = [0, 5, 17, 42, 9];
    const stack = await referenceDecoder(cfg, child.tensors).forward(ids);
    const byHand = await referenceDecoder(
      cfg,
      [...want].map(([name, t]) => ({ ...t, name })),
    ).forward(ids);
    expect(stack).toEqual(byHand);
    // Not A's or B's function: the stack computes something else.
    const ofA = await referenceDecoder(parseCausalLmConfig(A.config), A.tensors).forward(ids);
    expect(stack).not.toEqual(ofA);
  });

  it('A [0, 2) then A [2, 3) is A itself: same tensors, same forward pass bit for bit', async () => {
    const r = await run(
      {
        layerRange: [
          [0, 2],
          [2, 3],
        ],
      },
      [A, A],
    );
    const a = byName(A.tensors);
    expect(r.tensors.length).toBe(A.tensors.length);
    for (const t of r.tensors) expect(Buffer.from(t.data).equals(Buffer.from(a.get(t.name)!.data)), t.name).toBe(true);
    const cfg = parseCausalLmConfig(A.config);
    expect(await referenceDecoder(cfg, r.tensors).forward([3, 1, 4])).toEqual(await referenceDecoder(cfg, A.tensors).forward([3, 1, 4]));
  });

  it('scale with a filter (mergekit: silence o_proj and down_proj of the second slice), gradients per slice', async () => {
    const r = await run({
      layerRange: [
        [0, 2],
        [1, 3],
      ],
      scale: { perParent: [1, [{ filter: 'o_proj', value: 0 }, { filter: 'down_proj', value: [0, 0.5] }, { value: 1 }]] },
    });
    const got = byName(r.tensors);
    const b = byName(B.tensors);
    const zeros = (n: string) => toFloat32(got.get(n)!).every((x) => x === 0);
    expect(zeros('model.layers.2.self_attn.o_proj.weight')).toBe(true);
    expect(zeros('model.layers.3.self_attn.o_proj.weight')).toBe(true);
    expect(zeros('model.layers.1.self_attn.o_proj.weight')).toBe(false);
    // down_proj: gradient [0, 0.5] over the slice's 2 layers → t = 0 and t = 1.
    expect(zeros('model.layers.2.mlp.down_proj.weight')).toBe(true);
    const half = toFloat32(got.get('model.layers.3.mlp.down_proj.weight')!);
    const src = toFloat32(b.get('model.layers.2.mlp.down_proj.weight')!);
    expect(Array.from(half)).toEqual(Array.from(src, (x) => Math.fround(x * 0.5)));
    // Unmatched tensors of slice 1 take the catch-all 1: copied, the statistic says why.
    expect(r.stats.find((s) => s.name === 'model.layers.3.mlp.up_proj.weight')?.changedFraction).toBe(0);
    expect(Buffer.from(got.get('model.norm.weight')!.data).equals(Buffer.from(b.get('model.norm.weight')!.data))).toBe(true);
  });

  it('refuses with one line: a range outside a parent, an empty range, other hidden sizes, several parents without slices', async () => {
    await expect(
      run({
        layerRange: [
          [0, 2],
          [2, 4],
        ],
      }),
    ).rejects.toThrow(/^passthrough: layerRange\[1\] \[2, 4\) is outside parent 1's 3 layers/);
    await expect(
      run({
        layerRange: [
          [1, 1],
          [0, 1],
        ],
      }),
    ).rejects.toThrow(/layerRange\[0\] \[1, 1\) is outside/);
    const wide = tinyCheckpoint({ layers: 3, seed: 3, hidden: 32 });
    await expect(
      run(
        {
          layerRange: [
            [0, 1],
            [0, 1],
          ],
        },
        [A, wide],
      ),
    ).rejects.toThrow(/parent 1 layer 0 .* the slices' hidden size or heads differ/);
    await expect(run({})).rejects.toThrow(/without layerRange it takes exactly one parent/);
    await expect(run({ layerRange: [[0, 1]] })).rejects.toThrow(/has 1 values for 2 parents/);
  });

  it('refuses parents whose configs differ in more than the layer count, when the candidate is written', async () => {
    const other = tinyCheckpoint({ layers: 3, seed: 4, scale: 1 });
    other.config = { ...other.config, rope_theta: 500000 };
    const r = await run(
      {
        layerRange: [
          [0, 1],
          [0, 1],
        ],
      },
      [A, other],
    );
    expect(() => candidateSlm(r, [parent(A, 'a'), parent(other, 'c')])).toThrow(/^passthrough: parent 1's config.json differs/);
  });

  it('without slices: a copy of its one parent (scaled where asked), the same species', async () => {
    const r = await run({}, [A]);
    expect(r.layers).toBeUndefined();
    expect(r.tensors.map((t) => t.data)).toEqual(A.tensors.map((t) => t.data));
    const p = parent(A, 'a');
    expect(candidateSlm(r, [p]).species).toBe(p.species);
  });
});
