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
import { perplexity } from '../../src/core/models/perplexity.ts';
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
});
