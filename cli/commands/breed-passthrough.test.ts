/**
 * passthrough with layer slices through the command line: two imported tiny Llama checkpoints
 * stacked by `garden breed` from a recipe and from a mergekit YAML (`garden recipe
 * --from-mergekit`); the candidate has 4 layers, its ONNX decoder (generated from the new config)
 * agrees with the reference forward pass on the candidate's tensors, and `garden export --hf`
 * writes a config.json with the new layer count that imports back to the same bytes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyCheckpoint, type TinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { parseCausalLmConfig } from '../../src/core/models/llama-config.ts';
import { referenceDecoder } from '../../src/core/models/decoder.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { HF_KEYS } from '../../src/core/format/hf.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-passthrough-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function importFolder(name: string, ck: TinyCheckpoint): Promise<void> {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [f, bytes] of hfFolderFiles(ck)) writeFileSync(join(dir, f), bytes);
  const r = await runGarden('import', dir, '--out', join(root, `${name}.slm`));
  expect(r.code, r.err).toBe(0);
}

beforeAll(async () => {
  await importFolder('a', tinyCheckpoint({ layers: 3, seed: 1, scale: 1 }));
  await importFolder('b', tinyCheckpoint({ layers: 3, seed: 2, scale: 1 }));
  await importFolder('wide', tinyCheckpoint({ layers: 3, seed: 3, hidden: 32 }));
});

const recipe = (layerRange: number[][], parents: string[], out: string) =>
  JSON.stringify({
    kind: 'recipe',
    schemaVersion: 1,
    operator: 'passthrough',
    params: { layerRange },
    seed: 0,
    parents: parents.map((p) => ({ path: p })),
    output: { path: out },
  });

describe('garden breed: passthrough layer slices', () => {
  it('layers [0, 2) of A + [1, 3) of B: 4 layers, the ONNX decoder agrees with the reference, export --hf says 4 layers', async () => {
    writeFileSync(
      join(root, 'stack.json'),
      recipe(
        [
          [0, 2],
          [1, 3],
        ],
        ['a.slm', 'b.slm'],
        'stack.slm',
      ),
    );
    const r = await runGarden('breed', join(root, 'stack.json'), '--threads', '0');
    expect(r.code, r.err).toBe(0);
    const child = readSlm(new Uint8Array(readFileSync(join(root, 'stack.slm'))));
    const cfg = parseCausalLmConfig(JSON.parse(child.metadata[HF_KEYS.config]));
    expect(cfg.numLayers).toBe(4);
    expect(child.tensors.filter((t) => t.name.endsWith('.input_layernorm.weight')).map((t) => t.name)).toHaveLength(4);
    const parent = readSlm(new Uint8Array(readFileSync(join(root, 'a.slm'))));
    expect(child.species).not.toBe(parent.species);

    const ids = [0, 5, 17, 42];
    const g = await runGarden(
      'generate',
      join(root, 'stack.slm'),
      '--ids',
      ids.join(','),
      '--max-new',
      '4',
      '--greedy',
      '--json',
      '--runtime',
      'onnx',
    );
    expect(g.code, g.err).toBe(0);
    const o = JSON.parse(g.out) as { ids: number[]; logits: number[] };
    const ref = referenceDecoder(cfg, child.tensors);
    const logits = await ref.forward(ids);
    const last = logits.slice((ids.length - 1) * cfg.vocabSize);
    expect(Math.max(...o.logits.map((x, i) => Math.abs(x - last[i])))).toBeLessThan(1e-4);
    const gr = await runGarden(
      'generate',
      join(root, 'stack.slm'),
      '--ids',
      ids.join(','),
      '--max-new',
      '4',
      '--greedy',
      '--json',
      '--runtime',
      'reference',
    );
    expect((JSON.parse(gr.out) as { ids: number[] }).ids).toEqual(o.ids);

    const hf = join(root, 'stack-hf');
    expect((await runGarden('export', join(root, 'stack.slm'), '--hf', hf)).code).toBe(0);
    expect((JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')) as { num_hidden_layers: number }).num_hidden_layers).toBe(4);
    const back = join(root, 'stack-back.slm');
    expect((await runGarden('import', hf, '--out', back)).code).toBe(0);
    expect(readSlm(new Uint8Array(readFileSync(back))).species).toBe(child.species);

    // The same stack from mergekit's YAML: the same candidate bytes.
    writeFileSync(
      join(root, 'stack.yml'),
      [
        'merge_method: passthrough',
        'slices:',
        '  - sources: [{ model: a.slm, layer_range: [0, 2] }]',
        '  - sources: [{ model: b.slm, layer_range: [1, 3] }]',
        '# garden: {"seed": 0, "output": {"path": "stack-yml.slm"}}',
      ].join('\n'),
    );
    expect((await runGarden('recipe', '--from-mergekit', join(root, 'stack.yml'), '--out', join(root, 'stack-yml.json'))).code).toBe(0);
    const y = await runGarden('breed', join(root, 'stack-yml.json'), '--threads', '0');
    expect(y.code, y.err).toBe(0);
    expect(Buffer.from(readFileSync(join(root, 'stack-yml.slm'))).equals(Buffer.from(readFileSync(join(root, 'stack.slm'))))).toBe(true);
  });

  it('refuses with one line and writes nothing: a range outside a parent, other hidden sizes', async () => {
    for (const [name, ranges, parents, msg] of [
      [
        'outside',
        [
          [0, 2],
          [2, 4],
        ],
        ['a.slm', 'b.slm'],
        /passthrough: layerRange\[1\] \[2, 4\) is outside parent 1's 3 layers/,
      ],
      [
        'wide',
        [
          [0, 1],
          [0, 1],
        ],
        ['a.slm', 'wide.slm'],
        /passthrough: parent 1 layer 0 .*hidden size or heads differ/,
      ],
    ] as const) {
      writeFileSync(
        join(root, `${name}.json`),
        recipe(
          ranges.map((r) => [...r]),
          [...parents],
          `${name}-out.slm`,
        ),
      );
      const r = await runGarden('breed', join(root, `${name}.json`), '--threads', '0');
      expect(r.code).not.toBe(0);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(msg);
      expect(() => readFileSync(join(root, `${name}-out.slm`))).toThrow();
    }
  });
});
