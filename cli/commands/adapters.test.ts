/** garden adapters combine | extract on a tiny Llama folder, checked against the adapters' own deltas. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { parseCausalLmConfig } from '../../src/core/models/llama-config.ts';
import { referenceDecoder } from '../../src/core/models/decoder.ts';
import { mulberry32 } from '../../src/core/seeded.ts';
import { llamaSites } from '../../src/core/train/llama.ts';
import { initAdapter, mergeAdapter, type Adapter } from '../../src/core/train/lora.ts';
import { exportPeft, importPeft } from '../../src/core/train/peft.ts';
import { mlpSites } from '../../src/core/train/mlp.ts';
import { fromFloat32, toFloat32 } from '../../src/core/tensor.ts';
import { speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { writeAdapterDir } from '../../src/node/adapter-dir.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/core/format/safetensors.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-adapters-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ck = tinyCheckpoint({ seed: 8 });
const cfg = parseCausalLmConfig(ck.config);
const byName = new Map(ck.tensors.map((t) => [t.name, t]));

function adapter(seed: number): Adapter {
  const a = initAdapter(
    {
      r: 2,
      alpha: 4,
      dropout: 0,
      targetModules: ['q_proj', 'down_proj'],
      modulesToSave: [],
      useRslora: false,
      fanInFanOut: false,
      baseModel: 'tiny',
      taskType: 'CAUSAL_LM',
    },
    llamaSites(cfg),
    byName,
    seed,
  );
  const r = mulberry32(seed + 100);
  for (const p of a.lora.values()) for (let i = 0; i < p.b.length; i++) p.b[i] = r() - 0.5;
  return a;
}
const a1 = adapter(1);
const a2 = adapter(2);

beforeAll(() => {
  mkdirSync(join(root, 'tiny'));
  for (const [name, bytes] of hfFolderFiles(ck)) writeFileSync(join(root, 'tiny', name), bytes);
  writeAdapterDir(join(root, 'a1'), exportPeft(a1));
  writeAdapterDir(join(root, 'a2'), exportPeft(a2));
  const fine = mergeAdapter(ck.tensors, a1);
  mkdirSync(join(root, 'fine'));
  for (const [name, bytes] of hfFolderFiles({ config: ck.config, tensors: fine })) writeFileSync(join(root, 'fine', name), bytes);
});

const ids = [0, 9, 30, 4];
async function logits(...adapterArgs: string[]): Promise<number[]> {
  const r = await runGarden(
    'generate',
    join(root, 'tiny'),
    '--ids',
    ids.join(','),
    '--max-new',
    '0',
    '--runtime',
    'reference',
    '--json',
    ...adapterArgs,
  );
  expect(r.code, r.err).toBe(0);
  return (JSON.parse(r.out) as { logits: number[] }).logits;
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));

describe('garden adapters', () => {
  it('combine --combination cat with weights 1,1 applies ΔW₁ + ΔW₂ (the two merged one after the other)', async () => {
    const out = join(root, 'cat');
    const r = await runGarden(
      'adapters',
      'combine',
      join(root, 'tiny'),
      '--adapter',
      join(root, 'a1'),
      '--adapter',
      join(root, 'a2'),
      '--weights',
      '1,1',
      '--combination',
      'cat',
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ combination: 'cat', r: 4, modules: 4 });
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))).toMatchObject({
      r: 4,
      lora_alpha: 4,
      task_type: 'CAUSAL_LM',
    });
    const d = referenceDecoder(cfg, mergeAdapter(mergeAdapter(ck.tensors, a1), a2));
    const want = await d.forward(ids);
    expect(maxDiff(await logits('--adapter', out), want.subarray(want.length - cfg.vocabSize))).toBeLessThan(1e-4);
  });

  it('extract --max-rank: rank 2 recovers a rank-2 fine-tune (error ~0), rank 1 leaves an error it prints', async () => {
    const full = await runGarden(
      'adapters',
      'extract',
      join(root, 'tiny'),
      join(root, 'fine'),
      '--max-rank',
      '2',
      '--out',
      join(root, 'x2'),
      '--json',
    );
    expect(full.code, full.err).toBe(0);
    const rep = JSON.parse(full.out) as { relativeError: number; modules: { module: string }[]; notCarried: string[] };
    expect(rep.modules).toHaveLength(4);
    expect(rep.relativeError).toBeLessThan(1e-5);
    expect(rep.notCarried).toEqual([]);
    expect(maxDiff(await logits('--adapter', join(root, 'x2')), await logits('--adapter', join(root, 'a1')))).toBeLessThan(1e-4);
    const one = await runGarden(
      'adapters',
      'extract',
      join(root, 'tiny'),
      join(root, 'fine'),
      '--max-rank',
      '1',
      '--target-modules',
      'q_proj',
      '--out',
      join(root, 'x1'),
    );
    expect(one.code, one.err).toBe(0);
    const m = /relative error in all (\d\.\d+)/.exec(one.out);
    expect(Number(m![1])).toBeGreaterThan(0.01);
    expect(one.out).toMatch(/model\.layers\.0\.self_attn\.q_proj\s+rank\s+1/);
    expect(one.out).toMatch(/changed but not carried: .*down_proj\.weight/);
  });

  it("accepts PEFT's saved copy of lm_head's base weight (save_embedding_layers) and refuses a changed one", async () => {
    const head = byName.get('lm_head.weight')!;
    const withCopy = (data: Uint8Array, dir: string) => {
      const f = exportPeft(a1);
      const { tensors, metadata } = parseSafetensors(f.weights);
      writeAdapterDir(join(root, dir), {
        config: f.config,
        weights: serializeSafetensors([...tensors, { ...head, name: 'base_model.model.lm_head.base_layer.weight', data }], metadata),
      });
      return join(root, dir);
    };
    expect(await logits('--adapter', withCopy(head.data, 'copy'))).toEqual(await logits('--adapter', join(root, 'a1')));
    const changed = head.data.slice();
    changed[0] ^= 1;
    const r = await runGarden('generate', join(root, 'tiny'), '--ids', '0', '--max-new', '0', '--adapter', withCopy(changed, 'changed'));
    expect(r.err).toMatch(/"base_model\.model\.lm_head\.base_layer\.weight" replaces the base's "lm_head\.weight"/);
  });

  it('the MLP species too: extract from an MLP fine-tune at its rank recovers its merge', async () => {
    const r = mulberry32(3);
    const t = (name: string, shape: number[]) =>
      fromFloat32(
        name,
        shape,
        Float32Array.from({ length: shape[0] * (shape[1] ?? 1) }, () => r() - 0.5),
      );
    const mlp = [t('fc1.weight', [6, 5]), t('fc1.bias', [5]), t('fc2.weight', [5, 3]), t('fc2.bias', [3])];
    const sites = mlpSites(mlp);
    const lora = initAdapter(
      {
        r: 1,
        alpha: 2,
        dropout: 0,
        targetModules: ['fc1'],
        modulesToSave: [],
        useRslora: false,
        fanInFanOut: true,
        baseModel: 'm',
        taskType: null,
      },
      sites,
      new Map(mlp.map((x) => [x.name, x])),
      4,
    );
    lora.lora.get('fc1')!.b.fill(0.25);
    const species = speciesId(speciesSignature(mlp, '', ['a', 'b', 'c']));
    writeFileSync(join(root, 'mlp.slm'), writeSlm(mlp, { species, graph: '', vocabulary: ['a', 'b', 'c'] }));
    writeFileSync(join(root, 'mlp-fine.slm'), writeSlm(mergeAdapter(mlp, lora), { species, graph: '', vocabulary: ['a', 'b', 'c'] }));
    const out = join(root, 'mlp-x');
    const x = await runGarden(
      'adapters',
      'extract',
      join(root, 'mlp.slm'),
      join(root, 'mlp-fine.slm'),
      '--max-rank',
      '1',
      '--out',
      out,
      '--json',
    );
    expect(x.code, x.err).toBe(0);
    expect(JSON.parse(x.out)).toMatchObject({ r: 1, modules: [{ module: 'fc1', rank: 1 }], notCarried: [] });
    expect(JSON.parse(x.out).relativeError).toBeLessThan(1e-5);
    const back = importPeft(
      { config: readFileSync(join(out, 'adapter_config.json'), 'utf8'), weights: readFileSync(join(out, 'adapter_model.safetensors')) },
      sites,
      new Map(mlp.map((y) => [y.name, y])),
    );
    expect(maxDiff(toFloat32(mergeAdapter(mlp, back)[0]), toFloat32(mergeAdapter(mlp, lora)[0]))).toBeLessThan(1e-5);
  });

  it('refuses a bad command line in one line', async () => {
    const base = ['adapters', 'combine', join(root, 'tiny'), '--adapter', join(root, 'a1'), '--out', join(root, 'y')];
    for (const [args, msg] of [
      [[...base, '--weights', '1', '--combination', 'slerp'], /--combination must be one of: linear, cat/],
      [[...base, '--weights', '1,2', '--combination', 'linear'], /2 weights for 1 adapters/],
      [['adapters', 'merge'], /expected "combine" or "extract"/],
    ] as const) {
      const r = await runGarden(...args);
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(msg);
    }
  });
});
