/**
 * garden train with a "text" spec (a LoRA of a tiny Llama on text files) and garden generate
 * --adapter, merged and unmerged, against the training tape's own forward pass.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { candidateOperator } from '../../src/core/lab/policy.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { hfFolderFiles, tinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { parseCausalLmConfig } from '../../src/core/models/llama-config.ts';
import { mulberry32 } from '../../src/core/seeded.ts';
import { toFloat32 } from '../../src/core/tensor.ts';
import { frozenModel, llamaLogits } from '../../src/core/train/llama.ts';
import { importPeft } from '../../src/core/train/peft.ts';
import { llamaSites } from '../../src/core/train/llama.ts';
import { adapterParams } from '../../src/core/train/mlp.ts';
import { Tape } from '../../src/core/train/tape.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-train-lm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ck = tinyCheckpoint({ seed: 5, scale: 0.6 });
const cfg = parseCausalLmConfig(ck.config);
const folder = join(root, 'tiny');
const WORDS = ['the', 'cat', 'and', 'a', 'heron', 'river', 'in', 'on', 'then', 'there', 'fish', 'dusk'];
/** Seeded word salad with a strong bigram habit ("the cat", "a heron") for the adapter to learn. */
function prose(seed: number, words: number): string {
  const r = mulberry32(seed);
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(r() < 0.35 ? 'the cat' : WORDS[Math.floor(r() * WORDS.length)]);
  return `${out.join(' ')}.\n`;
}

function spec(name: string, over: Record<string, unknown> = {}): string {
  const s = {
    base: 'tiny',
    data: { train: ['a.txt', 'b.md'] },
    text: { seq_len: 16, validation_split: 0.25, eval_every: 5 },
    adapter: { r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj', 'down_proj', 'lm_head'] },
    train: { steps: 20, batch: 4, lr: 0.02, schedule: 'cosine', warmup_steps: 2, seed: 3 },
    ...over,
  };
  writeFileSync(join(root, name), JSON.stringify(s));
  return join(root, name);
}

beforeAll(() => {
  mkdirSync(folder);
  for (const [name, bytes] of hfFolderFiles(ck)) writeFileSync(join(folder, name), bytes);
  writeFileSync(join(root, 'a.txt'), prose(1, 200));
  writeFileSync(join(root, 'b.md'), prose(2, 150));
  writeFileSync(join(root, 'eval.txt'), prose(9, 100));
});

interface Out {
  ids: number[];
  text: string;
  logits: number[];
}
async function gen(...args: string[]): Promise<Out> {
  const r = await runGarden('generate', ...args, '--json');
  expect(r.code, r.err).toBe(0);
  const o = JSON.parse(r.out) as Out;
  expect(Object.keys(o)).toEqual(['ids', 'text', 'logits']);
  return o;
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('garden train (text spec) and garden generate --adapter', () => {
  const out = join(root, 'adapter');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the manifest is read back as JSON
  let manifest: Record<string, any>;
  it('trains a LoRA on text files and writes PEFT files; validation loss falls below the base', async () => {
    const r = await runGarden('train', spec('spec.json', { suite_texts: ['eval.txt'] }), '--out', out, '--root', root, '--json');
    expect(r.code, r.err).toBe(0);
    manifest = JSON.parse(readFileSync(join(out, 'garden_training.json'), 'utf8'));
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, fan_in_fan_out: false });
    expect(manifest.task).toBe('causal-lm');
    expect(manifest.data.train.map((f: { file: string }) => f.file)).toEqual(['a.txt', 'b.md']);
    expect(manifest.data.validationWindows).toBeGreaterThan(0);
    expect(manifest.suiteTextsKeptApart.checked[0].name).toBe('eval.txt');
    expect(manifest.result.evaluations.map((e: { step: number }) => e.step)).toEqual([5, 10, 15, 20]);
    const v = manifest.result.validation;
    expect(v.adapterLoss).toBeLessThan(v.baseLoss - 0.05);
    // The manifest keeps hashes and counts, never the text.
    expect(readFileSync(join(out, 'garden_training.json'), 'utf8')).not.toContain('heron');
    // Same spec, same bytes.
    const again = join(root, 'again');
    expect(
      (await runGarden('train', spec('spec.json', { suite_texts: ['eval.txt'] }), '--out', again, '--root', root, '--json')).code,
    ).toBe(0);
    expect(readFileSync(join(again, 'adapter_model.safetensors'))).toEqual(readFileSync(join(out, 'adapter_model.safetensors')));
  });

  it('merged and unmerged give the same logits, equal to the training tape with the LoRA beside each layer', async () => {
    const ids = '0,40,50,60,7,9,11';
    const base = await gen(folder, '--ids', ids, '--max-new', '4', '--greedy');
    const merged = await gen(folder, '--ids', ids, '--max-new', '4', '--greedy', '--adapter', out);
    const unmerged = await gen(folder, '--ids', ids, '--max-new', '4', '--greedy', '--adapter', out, '--adapter-mode', 'unmerged');
    const reference = await gen(folder, '--ids', ids, '--max-new', '4', '--greedy', '--adapter', out, '--runtime', 'reference');
    expect(maxDiff(merged.logits, unmerged.logits)).toBeLessThan(1e-4);
    expect(maxDiff(merged.logits, reference.logits)).toBeLessThan(1e-4);
    expect(maxDiff(merged.logits, base.logits)).toBeGreaterThan(1e-2);
    const adapter = importPeft(
      { config: readFileSync(join(out, 'adapter_config.json'), 'utf8'), weights: readFileSync(join(out, 'adapter_model.safetensors')) },
      llamaSites(cfg),
      new Map(ck.tensors.map((t) => [t.name, t])),
    );
    const tape = new Tape('f32');
    const values = new Map(adapterParams(adapter).map((p) => [p.name, tape.constant(p.data, p.rows, p.cols, p.name)]));
    const f32 = new Map(ck.tensors.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
    const shapes = new Map(ck.tensors.map((t) => [t.name, t.shape]));
    const prompt = ids.split(',').map(Number);
    const logits = llamaLogits({ ...frozenModel(tape, cfg, f32, shapes), adapter, lora: values }, prompt, 1, prompt.length).data;
    expect(maxDiff(unmerged.logits, logits.subarray((prompt.length - 1) * cfg.vocabSize))).toBeLessThan(1e-4);
  });

  it('--merged-out writes the trained candidate: a causal-LM .slm (recipe lora-merge) with the logits of --adapter', async () => {
    const m = join(root, 'merged.slm');
    const r = await runGarden(
      'train',
      spec('spec.json', { suite_texts: ['eval.txt'] }),
      '--out',
      join(root, 'again2'),
      '--merged-out',
      m,
      '--root',
      root,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/merged {5}.*merged\.slm {2}[0-9a-f]{64} {2}\(operator lora-merge\)/);
    expect(candidateOperator(readSlm(readFileSync(m)).metadata)).toBe('lora-merge');
    const a = await gen(folder, '--ids', '0,5', '--max-new', '2', '--greedy', '--adapter', out);
    const b = await gen(m, '--ids', '0,5', '--max-new', '2', '--greedy');
    expect(b.ids).toEqual(a.ids);
    expect(maxDiff(a.logits, b.logits)).toBeLessThan(1e-5);
  });

  it('the .slm of the folder takes the same adapter', async () => {
    const slm = join(root, 'tiny.slm');
    expect((await runGarden('import', folder, '--out', slm)).code).toBe(0);
    const a = await gen(folder, '--ids', '0,5', '--max-new', '2', '--adapter', out);
    const b = await gen(slm, '--ids', '0,5', '--max-new', '2', '--adapter', out, '--adapter-mode', 'unmerged');
    expect(maxDiff(a.logits, b.logits)).toBeLessThan(1e-4);
  });

  it('early stop: after patience evaluations without a new best the run stops and keeps the best adapter', async () => {
    const o = join(root, 'early');
    const r = await runGarden(
      'train',
      spec('early.json', {
        text: { seq_len: 16, validation_split: 0.25, eval_every: 1, patience: 2 },
        train: { steps: 60, batch: 4, lr: 0.2, seed: 3 },
      }),
      '--out',
      o,
      '--root',
      root,
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const m = JSON.parse(r.out);
    expect(m.result.stoppedEarly).toBe(true);
    expect(m.result.steps).toBeLessThan(60);
    const evals = m.result.evaluations as { step: number; loss: number }[];
    const best = evals.reduce((a, b) => (b.loss < a.loss ? b : a));
    expect(m.result.keptStep).toBe(best.step);
    expect(evals.at(-1)!.step - best.step).toBe(2);
  });

  it('refuses a training file that shares a 64-byte window with a suite text, and bad specs and flags', async () => {
    writeFileSync(join(root, 'leak.txt'), `${prose(4, 50)}${readFileSync(join(root, 'eval.txt'), 'utf8').slice(100, 200).toUpperCase()}`);
    const r = await runGarden(
      'train',
      spec('leak.json', { data: { train: ['a.txt', 'leak.txt'] }, suite_texts: ['eval.txt'] }),
      '--out',
      join(root, 'x'),
      '--root',
      root,
    );
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/leak\.txt shares 64 bytes .* with suite text eval\.txt/);
    const bad = await runGarden('train', spec('bad.json', { data: { train: ['a.jsonl'] } }), '--out', join(root, 'x'), '--root', root);
    expect(bad.err).toMatch(/spec\.data\.train must be a \.txt or \.md file/);
    const both = await runGarden(
      'train',
      spec('both.json', { data: { train: 'a.txt', validation: 'b.md' } }),
      '--out',
      join(root, 'x'),
      '--root',
      root,
    );
    expect(both.err).toMatch(/give spec\.data\.validation or spec\.text\.validation_split, not both/);
    const g = await runGarden(
      'generate',
      folder,
      '--ids',
      '0',
      '--max-new',
      '1',
      '--adapter',
      out,
      '--adapter-mode',
      'unmerged',
      '--runtime',
      'reference',
    );
    expect(g.err).toMatch(/reference runtime takes merged adapters/);
  });
});
