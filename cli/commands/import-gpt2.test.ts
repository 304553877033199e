/**
 * GPT-2 (GPT2LMHeadModel) through the CLI: `garden import DIR --out M.slm` on seeded Hugging Face
 * folders (F32 and BF16, transformers' config keys and tensor names, a tokenizer.json), then
 * `garden generate` on the .slm and on the folder, `garden eval --text` and `garden export --hf`, on the ONNX decoder and the CPU reference,
 * against gpt2.ts's reference computed here; refusals name the check.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyTokenizerVocabSize } from '../../src/core/models/llama-testing.ts';
import { tinyGpt2Checkpoint } from '../../src/core/models/gpt2-testing.ts';
import { gpt2ReferenceDecoder } from '../../src/core/models/gpt2.ts';
import { generate } from '../../src/core/models/generate.ts';
import { perplexity } from '../../src/core/models/perplexity.ts';
import { hfLmFromModel, isGpt2Lm } from '../../src/core/format/hf.ts';
import { loadTensors } from '../../src/core/format/model.ts';
import { openModelFile } from '../../src/node/model-files.ts';
import type { DType } from '../../src/core/tensor.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-gpt2-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const CONFIG = {
  n_embd: 16,
  n_head: 4,
  n_layer: 2,
  n_positions: 32,
  vocab_size: tinyTokenizerVocabSize(),
  layer_norm_epsilon: 1e-5,
  activation_function: 'gelu_new',
  bos_token_id: 0,
  eos_token_id: 1,
};

function folder(dtype: DType, config: Record<string, unknown> = CONFIG) {
  const ck = tinyGpt2Checkpoint(config, dtype, 7);
  const dir = join(root, `m${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of hfFolderFiles(ck)) writeFileSync(join(dir, name), bytes);
  return { ck, dir };
}

async function generateJson(...args: string[]): Promise<{ ids: number[]; text: string; logits: number[] }> {
  const r = await runGarden('generate', ...args, '--json');
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { ids: number[]; text: string; logits: number[] };
}

describe('GPT-2: garden import and garden generate', () => {
  for (const dtype of ['F32', 'BF16'] as const)
    it(`${dtype}: imported in its dtype, generated on ONNX as on the reference`, { timeout: 60_000 }, async () => {
      const { ck, dir } = folder(dtype);
      const out = join(root, `out${n++}`, 'gpt2.slm');
      const r = await runGarden('import', dir, '--out', out);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain('GPT2LMHeadModel 2 layers, hidden 16');

      const opened = await openModelFile(out);
      try {
        const lm = hfLmFromModel(opened.model);
        expect(isGpt2Lm(lm)).toBe(true);
        expect(new Set(lm.model.tensors.map((t) => t.dtype))).toEqual(new Set([dtype]));
        const stored = new Map((await loadTensors(lm.model)).map((t) => [t.name, t]));
        for (const t of ck.tensors) expect(stored.get(t.name)?.data, t.name).toEqual(t.data);

        const prompt = [3, 17, 5, 9];
        const want = await generate(gpt2ReferenceDecoder(ck.cfg, ck.tensors), prompt, { maxNew: 5, eosTokenIds: [1], greedy: true });
        const got = await generateJson(out, '--ids', prompt.join(','), '--max-new', '5', '--greedy');
        expect(got.ids).toEqual(want.ids);
        expect(got.ids.length).toBeGreaterThan(prompt.length);
        expect(got.text).toBe(lm.tokenizer.decode(want.ids));
        expect(got.logits).toHaveLength(CONFIG.vocab_size);
        const diff = got.logits.reduce((m, x, i) => Math.max(m, Math.abs(x - want.promptLogits[i])), 0);
        expect(diff).toBeLessThan(1e-4);
        expect(Math.max(...want.promptLogits.map(Math.abs))).toBeGreaterThan(0.5);

        // Seeded sampling from the folder itself, with a prompt: the ONNX decoder and the reference agree.
        const sample = ['--prompt', 'ab ba', '--max-new', '6', '--temperature', '0.8', '--top-p', '0.9', '--seed', '5'];
        const onnx = await generateJson(dir, ...sample);
        const ref = await generateJson(dir, ...sample, '--runtime', 'reference');
        expect(onnx.ids).toEqual(ref.ids);
        const encoded = lm.tokenizer.encode('ab ba');
        expect(onnx.ids.slice(0, encoded.length)).toEqual(encoded);
        expect(onnx.ids.length).toBeGreaterThan(encoded.length);

        // garden eval --text: perplexity on both runtimes as gpt2.ts's reference gives it.
        const text = 'ab ba ab ba a b ab\n';
        const suite = join(root, `t${n++}.txt`);
        writeFileSync(suite, text);
        const ppl = await perplexity(gpt2ReferenceDecoder(ck.cfg, ck.tensors), lm.tokenizer, text, { window: 8 });
        for (const runtime of ['reference', 'onnx']) {
          const e = await runGarden('eval', out, '--text', suite, '--window', '8', '--runtime', runtime, '--json');
          expect(e.code, e.err).toBe(0);
          const [res] = (JSON.parse(e.out) as { results: { tokens: number; perplexity: number }[] }).results;
          expect(res.tokens).toBe(ppl.tokens);
          expect(res.perplexity).toBeCloseTo(ppl.perplexity, runtime === 'reference' ? 10 : 3);
        }

        // garden export --hf writes a folder that imports back to the same species.
        const hf = join(root, `hf${n++}`);
        const exported = await runGarden('export', out, '--hf', hf);
        expect(exported.code, exported.err).toBe(0);
        const again = await runGarden('import', hf, '--out', join(root, `out${n++}`, 'again.slm'));
        expect(again.code, again.err).toBe(0);
        expect(again.out).toContain(`species ${lm.model.species}`);
      } finally {
        await opened.close();
      }
    });

  it('refusals name the check and the supported architectures', async () => {
    const other = folder('F32', { ...CONFIG });
    const cfgPath = join(other.dir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...other.ck.config, architectures: ['GPT2Model'] }));
    const arch = await runGarden('import', other.dir, '--out', join(root, `out${n++}`, 'm.slm'));
    expect(arch.code).toBe(1);
    expect(arch.err).toContain('architecture check failed');
    expect(arch.err).toContain('LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel');

    // A config that disagrees with a tensor's shape: n_positions 32 in the weights, 16 in config.json.
    writeFileSync(cfgPath, JSON.stringify({ ...other.ck.config, n_positions: 16 }));
    const shape = await runGarden('import', other.dir, '--out', join(root, `out${n++}`, 'm.slm'));
    expect(shape.code).toBe(1);
    expect(shape.err).toContain('config check failed');
    expect(shape.err).toMatch(/transformer\.wpe\.weight.*n_positions 16/);

    // Steps that take only the Llama family say so.
    writeFileSync(cfgPath, JSON.stringify(other.ck.config));
    const adapter = await runGarden('generate', other.dir, '--ids', '1,2', '--max-new', '1', '--adapter', other.dir);
    expect(adapter.code).toBe(1);
    expect(adapter.err).toContain('--adapter takes a Llama-family model');
  });
});
