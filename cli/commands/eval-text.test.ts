/**
 * garden eval M --text FILE: the perplexity of a causal LM (an HF folder) on UTF-8 suites is the
 * core's perplexity() over the CPU reference, on ONNX as on the reference; pins are enforced.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { parseCausalLmConfig } from '../../src/core/models/llama-config.ts';
import { referenceDecoder } from '../../src/core/models/decoder.ts';
import { loadTokenizer } from '../../src/core/models/tokenizer.ts';
import { nextTokenCalibration, perplexity } from '../../src/core/models/perplexity.ts';
import { fromFloat32, toFloat32 } from '../../src/core/tensor.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { installNodeSha256 } from '../../src/node/sha256.ts';

installNodeSha256();
const root = mkdtempSync(join(tmpdir(), 'garden-eval-text-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ck = tinyCheckpoint({ architecture: 'LlamaForCausalLM', scale: 1 });
const dir = join(root, 'model');
mkdirSync(dir);
const files = hfFolderFiles(ck);
for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
const text = 'the cat and the hat and then the other cat.\nthe end';
const suite = join(root, 'a.txt');
writeFileSync(suite, text);
const other = join(root, 'b.txt');
writeFileSync(other, 'then the cat');

describe('garden eval --text', () => {
  it('scores each text as the core perplexity() on the reference, on both runtimes', async () => {
    const tok = loadTokenizer({ tokenizer: new TextDecoder().decode(files.get('tokenizer.json')) });
    const want = await perplexity(referenceDecoder(parseCausalLmConfig(ck.config), ck.tensors), tok, text, { window: 8 });
    for (const runtime of ['reference', 'onnx']) {
      const r = await runGarden('eval', dir, '--text', suite, '--text', other, '--window', '8', '--runtime', runtime, '--json');
      expect(r.code, r.err).toBe(0);
      const results = (JSON.parse(r.out) as { results: { suite: string; tokens: number; perplexity: number; bitsPerByte: number }[] })
        .results;
      expect(results.map((x) => x.suite)).toEqual(['a.txt', 'b.txt']);
      expect(results[0].tokens).toBe(want.tokens);
      expect(results[0].perplexity).toBeCloseTo(want.perplexity, runtime === 'reference' ? 10 : 3);
      expect(results[0].bitsPerByte).toBeCloseTo(want.bitsPerByte, runtime === 'reference' ? 10 : 4);
    }
  }, 30_000);

  it('refuses a text whose SHA-256 is not the pin, and --suite with --text', async () => {
    const ok = await runGarden('eval', dir, '--text', suite, '--pin', sha256Hex(new TextEncoder().encode(text)), '--runtime', 'reference');
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/a\.txt .*pinned.*perplexity/);
    const bad = await runGarden('eval', dir, '--text', suite, '--pin', '0'.repeat(64));
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/not the pinned/);
    const both = await runGarden('eval', dir, '--text', suite, '--suite', 'x');
    expect(both.err).toMatch(/not both/);
  });

  it('reports next-token ECE (the core calibration on the same windows) and a passing generation smoke', async () => {
    const tok = loadTokenizer({ tokenizer: new TextDecoder().decode(files.get('tokenizer.json')) });
    const cfg = parseCausalLmConfig(ck.config);
    const want = await nextTokenCalibration(referenceDecoder(cfg, ck.tensors), tok.encode(text), { window: 8, bins: 5 });
    const r = await runGarden(
      'eval',
      dir,
      '--text',
      suite,
      '--window',
      '8',
      '--bins',
      '5',
      '--smoke-new',
      '6',
      '--runtime',
      'reference',
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as {
      results: { ece: number; top1Accuracy: number; perplexity: number; calibration: { bins: { count: number }[] } }[];
      generationSmoke: { passed: boolean; finite: boolean; maxNew: number; steps: number; stop: string; eosReachable: boolean };
    };
    expect(j.results[0].ece).toBeCloseTo(want.ece, 10);
    expect(j.results[0].top1Accuracy).toBeCloseTo(want.accuracy, 10);
    expect(j.results[0].calibration.bins.map((b) => b.count)).toEqual(want.bins.map((b) => b.count));
    expect(j.generationSmoke).toMatchObject({ passed: true, finite: true, maxNew: 6, eosReachable: true });
    expect(j.generationSmoke.stop === 'eos' || j.generationSmoke.steps === 6).toBe(true);
    const plain = await runGarden('eval', dir, '--text', suite, '--window', '8', '--runtime', 'reference');
    expect(plain.out).toMatch(/generation smoke {2}passed: logits finite; EOS \[1\] reachable/);
    expect(plain.out).toMatch(/a\.txt .*ece \d\.\d+ \(10 bins\) {2}top1Accuracy/);
  }, 30_000);

  it('a model with a NaN weight fails the generation smoke: the report is printed, the exit is 1', async () => {
    const bad = join(root, 'nan');
    mkdirSync(bad);
    const tensors = ck.tensors.map((t) => {
      if (t.name !== 'model.layers.0.mlp.down_proj.weight') return t;
      const v = toFloat32(t).slice();
      v[0] = NaN;
      return fromFloat32(t.name, t.shape, v);
    });
    for (const [name, bytes] of hfFolderFiles({ ...ck, tensors })) writeFileSync(join(bad, name), bytes);
    const r = await runGarden('eval', bad, '--text', suite, '--window', '8', '--runtime', 'reference', '--json');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/generation smoke failed: .*non-finite logits/);
    expect((JSON.parse(r.out) as { generationSmoke: { finite: boolean } }).generationSmoke.finite).toBe(false);
  }, 30_000);
});
