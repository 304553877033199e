/**
 * The `garden generate` contract, in-process: `garden generate M (--prompt TEXT | --ids 1,2,3)
 * --max-new N [--greedy | --temperature T --top-p P --seed S] [--json]` with M a `.slm` or a
 * Hugging Face folder; --json prints {"ids", "text", "logits"}.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { parseCausalLmConfig } from '../../src/core/models/llama-config.ts';
import { referenceDecoder } from '../../src/core/models/decoder.ts';
import { argmax } from '../../src/core/models/generate.ts';
import { loadTokenizer } from '../../src/core/models/tokenizer.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-generate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ck = tinyCheckpoint({ architecture: 'Qwen2ForCausalLM', dtype: 'BF16', tied: true, scale: 1 });
const cfg = parseCausalLmConfig(ck.config);
const folder = join(root, 'qwen');
const slm = join(root, 'qwen.slm');

beforeAll(async () => {
  mkdirSync(folder);
  for (const [name, bytes] of hfFolderFiles(ck, { shards: 2 })) writeFileSync(join(folder, name), bytes);
  const r = await runGarden('import', folder, '--out', slm);
  expect(r.code, r.err).toBe(0);
});

interface Out {
  ids: number[];
  text: string;
  logits: number[];
}
async function gen(...args: string[]): Promise<Out> {
  const r = await runGarden('generate', ...args, '--json');
  expect(r.code, r.err).toBe(0);
  expect(r.out.split('\n')).toHaveLength(1);
  const o = JSON.parse(r.out) as Out;
  expect(Object.keys(o)).toEqual(['ids', 'text', 'logits']);
  return o;
}

async function referenceGreedy(prompt: number[], n: number): Promise<{ ids: number[]; logits: Float32Array }> {
  const d = referenceDecoder(cfg, ck.tensors);
  let l = await d.forward(prompt);
  const promptLogits = l.slice(l.length - cfg.vocabSize);
  const ids = [...prompt];
  for (let i = 0; i < n; i++) {
    const id = argmax(l.subarray(l.length - cfg.vocabSize));
    ids.push(id);
    if (id === 1) break;
    l = await d.forward([id]);
  }
  return { ids, logits: promptLogits };
}

describe('garden generate', () => {
  it('--ids --greedy --json on a .slm: prompt then greedy ids as the reference gives them, logits at the last prompt position', async () => {
    const o = await gen(slm, '--ids', '0,5,17,42', '--max-new', '10', '--greedy');
    const ref = await referenceGreedy([0, 5, 17, 42], 10);
    expect(o.ids).toEqual(ref.ids);
    expect(o.logits).toHaveLength(cfg.vocabSize);
    expect(Math.max(...o.logits.map((x, i) => Math.abs(x - ref.logits[i])))).toBeLessThan(1e-4);
    const tok = loadTokenizer({ tokenizer: new TextDecoder().decode(hfFolderFiles(ck).get('tokenizer.json')) });
    expect(o.text).toBe(tok.decode(o.ids));
  });

  it('an HF folder gives the same output as its .slm; the ONNX runtime the same as the reference runtime', async () => {
    const a = await gen(slm, '--ids', '0,7,7', '--max-new', '6');
    const b = await gen(folder, '--ids', '0,7,7', '--max-new', '6');
    const c = await gen(slm, '--ids', '0,7,7', '--max-new', '6', '--runtime', 'reference');
    expect(b.ids).toEqual(a.ids);
    expect(b.logits).toEqual(a.logits);
    expect(c.ids).toEqual(a.ids);
  });

  it('--prompt TEXT is encoded with the model tokenizer (BOS first) and the text starts with the prompt', async () => {
    const o = await gen(slm, '--prompt', 'the cat', '--max-new', '4', '--greedy');
    expect(o.ids.slice(0, 3)).toEqual([0, 100, 110]);
    expect(o.text.startsWith('the cat')).toBe(true);
  });

  it('sampling is seeded: --temperature --top-p --seed repeats, another seed differs, a tiny top-p is greedy', async () => {
    const args = [slm, '--ids', '0,5', '--max-new', '12', '--temperature', '1.5', '--top-p', '0.95'];
    const a = await gen(...args, '--seed', '3');
    const b = await gen(...args, '--seed', '3');
    const c = await gen(...args, '--seed', '4');
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).not.toEqual(a.ids);
    const tiny = await gen(slm, '--ids', '0,5', '--max-new', '6', '--temperature', '1.5', '--top-p', '0.000001', '--seed', '9');
    const greedy = await gen(slm, '--ids', '0,5', '--max-new', '6', '--greedy');
    expect(tiny.ids).toEqual(greedy.ids);
  });

  it('stops on the end-of-sequence token of generation_config.json', async () => {
    const free = await gen(folder, '--ids', '0,5,17', '--max-new', '8', '--greedy');
    const eos = free.ids[3 + 2];
    const dir = join(root, 'eos');
    mkdirSync(dir);
    for (const [name, bytes] of hfFolderFiles(ck))
      writeFileSync(
        join(dir, name),
        name === 'generation_config.json' ? new TextEncoder().encode(JSON.stringify({ eos_token_id: [eos] })) : bytes,
      );
    const o = await gen(dir, '--ids', '0,5,17', '--max-new', '8', '--greedy');
    expect(o.ids).toEqual(free.ids.slice(0, free.ids.indexOf(eos, 3) + 1));
  });

  it("--decoder fused gives the standard decoder's ids on a head_dim-16 model (GroupQueryAttention)", async () => {
    const wide = tinyCheckpoint({ architecture: 'LlamaForCausalLM', hidden: 64, heads: 4, kvHeads: 2, scale: 1 });
    const dir = join(root, 'wide');
    mkdirSync(dir);
    for (const [name, bytes] of hfFolderFiles(wide)) writeFileSync(join(dir, name), bytes);
    const a = await gen(dir, '--ids', '0,5,17', '--max-new', '8', '--greedy');
    const b = await gen(dir, '--ids', '0,5,17', '--max-new', '8', '--greedy', '--decoder', 'fused');
    expect(b.ids).toEqual(a.ids);
    expect(Math.max(...b.logits.map((x, i) => Math.abs(x - a.logits[i])))).toBeLessThan(1e-4);
  });

  it("--chat renders the prompt through tokenizer_config.json's chat_template (its BOS once, no second one)", async () => {
    const dir = join(root, 'chat');
    mkdirSync(dir);
    const template =
      "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
    for (const [name, bytes] of hfFolderFiles(ck)) {
      const b =
        name === 'tokenizer_config.json'
          ? new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(bytes)), chat_template: template }))
          : bytes;
      writeFileSync(join(dir, name), b);
    }
    const o = await gen(dir, '--prompt', 'the cat', '--chat', '--system', 'on', '--max-new', '2', '--greedy');
    const tok = loadTokenizer({ tokenizer: new TextDecoder().decode(hfFolderFiles(ck).get('tokenizer.json')) });
    const rendered = '<s>system: on\nuser: the cat\nassistant:';
    const expected = tok.encode(rendered, { addSpecialTokens: false });
    expect(expected.filter((x) => x === 0)).toHaveLength(1);
    expect(o.ids.slice(0, expected.length)).toEqual(expected);
    const none = await runGarden('generate', slm, '--prompt', 'x', '--chat', '--max-new', '1');
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no chat_template/);
  });

  it('--runtime simd (the wasm-SIMD decoder) on a quantized .slm and on the float one: the reference runtime’s ids, logits within 1e-4', async () => {
    for (const scheme of ['int8', 'int4']) {
      const q = join(root, `qwen-${scheme}.slm`);
      const r = await runGarden('quantize', slm, '--scheme', scheme, '--block', '16', '--out', q);
      expect(r.code, r.err).toBe(0);
      const a = await gen(q, '--ids', '0,5,17,42', '--max-new', '10', '--greedy', '--runtime', 'simd');
      const b = await gen(q, '--ids', '0,5,17,42', '--max-new', '10', '--greedy', '--runtime', 'reference');
      expect(a.ids, scheme).toEqual(b.ids);
      expect(a.ids.length, scheme).toBeGreaterThan(4);
      expect(Math.max(...a.logits.map((x, i) => Math.abs(x - b.logits[i]))), scheme).toBeLessThan(1e-4);
    }
    const sampled = ['--prompt', 'the cat', '--max-new', '6', '--temperature', '0.8', '--top-p', '0.9', '--seed', '3', '--runtime'];
    const f = await gen(slm, ...sampled, 'simd');
    const g = await gen(slm, ...sampled, 'reference');
    expect(f.ids).toEqual(g.ids);
    expect(f.text).toBe(g.text);
    const plain = await runGarden('generate', slm, '--ids', '0,5', '--max-new', '3', '--runtime', 'simd');
    expect(plain.code, plain.err).toBe(0);
    expect(plain.err).toMatch(/tokens\/s decoding on simd/);
    // --threads 1 and 3: the default (two threads)'s ids and logits, bit for bit.
    const q8 = join(root, 'qwen-int8.slm');
    const two = await gen(q8, '--ids', '0,5,17', '--max-new', '5', '--greedy', '--runtime', 'simd');
    for (const n of ['1', '3'])
      expect(await gen(q8, '--ids', '0,5,17', '--max-new', '5', '--greedy', '--runtime', 'simd', '--threads', n)).toEqual(two);
    for (const [args, msg] of [
      [['--threads', '0'], /1 to 64/],
      [['--threads', 'two'], /not an integer/],
    ] as const) {
      const r = await runGarden('generate', slm, '--ids', '1', '--max-new', '1', '--runtime', 'simd', ...args);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(msg);
    }
    const onnx = await runGarden('generate', slm, '--ids', '1', '--max-new', '1', '--threads', '2');
    expect(onnx.err).toMatch(/--threads applies to --runtime simd only/);
    const bad = await runGarden('generate', slm, '--ids', '1', '--max-new', '3', '--runtime', 'simd', '--decoder', 'fused');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--decoder applies to --runtime onnx only/);
  });

  it('refuses a bad command line in one line', async () => {
    for (const args of [
      [slm, '--max-new', '3'],
      [slm, '--prompt', 'x', '--ids', '1', '--max-new', '3'],
      [slm, '--ids', '1,x', '--max-new', '3'],
      [slm, '--ids', '1', '--max-new', '3', '--greedy', '--temperature', '1'],
      [slm, '--ids', '1', '--max-new', '3', '--top-p', '0.5'],
      [slm, '--ids', '1', '--max-new', '-1'],
      [slm, '--ids', String(cfg.vocabSize), '--max-new', '3'],
      [slm, '--ids', '1', '--max-new', '300'],
      [join(root, 'missing.slm'), '--ids', '1', '--max-new', '3'],
      [slm, '--ids', '1', '--max-new', '3', '--decoder', 'turbo'],
      [slm, '--ids', '1', '--max-new', '3', '--chat'],
      [slm, '--prompt', 'x', '--max-new', '3', '--system', 'y'],
    ]) {
      const r = await runGarden('generate', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err.split('\n'), args.join(' ')).toHaveLength(1);
    }
  });
});
