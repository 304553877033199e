/**
 * Breeding on the causal-LM species: three imported Hugging Face checkpoints (a BF16 base and two
 * fine-tunes of it) merged with task delta and TIES by `garden breed`; the candidate keeps the
 * species, the dtype and the config/tokenizer files, generates, and exports to a folder that
 * imports back.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { fineTuned, hfFolderFiles, tinyCheckpoint, type TinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { parseCausalLmConfig } from '../../src/core/models/llama-config.ts';
import { referenceDecoder } from '../../src/core/models/decoder.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { HF_KEYS } from '../../src/core/format/hf.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-breed-lm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const base = tinyCheckpoint({ architecture: 'LlamaForCausalLM', dtype: 'BF16', llama3Rope: true, scale: 1 });
/** A "fine-tune": the base plus a seeded perturbation of every weight. */
const fineTune = (seed: number): TinyCheckpoint => fineTuned(base, seed, 0.2);

async function importFolder(name: string, ck: TinyCheckpoint): Promise<string> {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [f, bytes] of hfFolderFiles(ck)) writeFileSync(join(dir, f), bytes);
  const out = join(root, `${name}.slm`);
  const r = await runGarden('import', dir, '--out', out);
  expect(r.code, r.err).toBe(0);
  return out;
}

beforeAll(async () => {
  await importFolder('base', base);
  await importFolder('ft1', fineTune(11));
  await importFolder('ft2', fineTune(12));
});

describe('breeding causal LMs', () => {
  for (const [operator, params] of [
    ['task-delta', { lambda: 0.7 }],
    ['ties', { density: 0.5 }],
  ] as const) {
    it(`${operator}: BF16 in, BF16 out, same species, config and tokenizer carried, generates as the reference does`, async () => {
      const recipe = join(root, `${operator}.json`);
      const out = join(root, `${operator}-child.slm`);
      writeFileSync(
        recipe,
        JSON.stringify({
          kind: 'recipe',
          schemaVersion: 1,
          operator,
          params,
          seed: 1,
          base: { path: 'base.slm' },
          parents: [{ path: 'ft1.slm' }, { path: 'ft2.slm' }],
          output: { path: `${operator}-child.slm` },
        }),
      );
      const r = await runGarden('breed', recipe, '--threads', '0');
      expect(r.code, r.err).toBe(0);
      const child = readSlm(new Uint8Array(readFileSync(out)));
      const parent = readSlm(new Uint8Array(readFileSync(join(root, 'base.slm'))));
      expect(child.species).toBe(parent.species);
      expect(child.tensors.every((t) => t.dtype === 'BF16')).toBe(true);
      for (const k of [HF_KEYS.config, HF_KEYS.tokenizer, HF_KEYS.tokenizerConfig]) expect(child.metadata[k]).toBe(parent.metadata[k]);
      expect(child.metadata['garden.operator']).toMatch(new RegExp(`^${operator}@`));
      const changed = child.tensors.filter(
        (t) => !Buffer.from(t.data).equals(Buffer.from(parent.tensors.find((p) => p.name === t.name)!.data)),
      );
      expect(changed.length).toBeGreaterThan(child.tensors.length / 2);

      const g = await runGarden('generate', out, '--ids', '0,5,17', '--max-new', '6', '--greedy', '--json');
      expect(g.code, g.err).toBe(0);
      const o = JSON.parse(g.out) as { ids: number[]; logits: number[] };
      const cfg = parseCausalLmConfig(base.config);
      const ref = await referenceDecoder(cfg, child.tensors).forward([0, 5, 17]);
      const last = ref.slice(2 * cfg.vocabSize);
      expect(Math.max(...o.logits.map((x, i) => Math.abs(x - last[i])))).toBeLessThan(1e-4);

      const hf = join(root, `${operator}-hf`);
      expect((await runGarden('export', out, '--hf', hf, '--base-model', 'seeded/base')).code).toBe(0);
      expect(readFileSync(join(hf, 'README.md'), 'utf8')).toContain(`merge_method: ${operator}@`);
      const back = join(root, `${operator}-back.slm`);
      expect((await runGarden('import', hf, '--out', back)).code).toBe(0);
      const b = readSlm(new Uint8Array(readFileSync(back)));
      expect(b.species).toBe(child.species);
      for (const t of b.tensors)
        expect(Buffer.from(t.data).equals(Buffer.from(child.tensors.find((c) => c.name === t.name)!.data))).toBe(true);
    });
  }
});
