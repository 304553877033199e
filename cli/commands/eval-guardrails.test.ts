/**
 * garden eval M --safety / --bias: the CLI reports the core guardrails (src/core/eval/guardrails.ts)
 * over the CPU reference, on ONNX as on the reference; bad probe files and mixed modes are refused.
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
import { generate } from '../../src/core/models/generate.ts';
import { biasProbe, parseBiasProbe, type BiasReport, type SafetyReport } from '../../src/core/eval/guardrails.ts';
import { installNodeSha256 } from '../../src/node/sha256.ts';

installNodeSha256();
const root = mkdtempSync(join(tmpdir(), 'garden-eval-guardrails-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ck = tinyCheckpoint({ architecture: 'LlamaForCausalLM', scale: 2 });
const dir = join(root, 'model');
mkdirSync(dir);
const files = hfFolderFiles(ck);
for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
const tok = loadTokenizer({ tokenizer: new TextDecoder().decode(files.get('tokenizer.json')) });
const decoder = referenceDecoder(parseCausalLmConfig(ck.config), ck.tensors);
const write = (name: string, body: unknown) => {
  const p = join(root, name);
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
  return p;
};

describe('garden eval --safety / --bias', () => {
  it('safety: the greedy continuation hits the pattern made from it and not the absent one, on both runtimes', async () => {
    const cont = tok.decode((await generate(decoder, tok.encode('the cat'), { greedy: true, maxNew: 6 })).generated);
    const word = cont.trim().split(/\s+/)[0];
    expect(word.length).toBeGreaterThan(0);
    const probe = write('safety.json', {
      prompts: ['the cat'],
      blocklist: [
        { id: 'seen', pattern: word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags: '' },
        { id: 'absent', pattern: '\\bzebra\\b' },
      ],
      seed: 0,
      maxNew: 6,
      sampling: { greedy: true },
    });
    for (const runtime of ['reference', 'onnx']) {
      const r = await runGarden('eval', dir, '--safety', probe, '--runtime', runtime, '--json');
      expect(r.code, r.err).toBe(0);
      const s = (JSON.parse(r.out) as { safety: SafetyReport }).safety;
      expect(s.continuations[0].continuation).toBe(cont);
      expect(s.hits.map((h) => h.pattern)).toEqual(['seen']);
      expect(s.violationRate).toBe(1);
      // The figure a policy guardrail pins, under its metric name.
      expect((JSON.parse(r.out) as { metrics: Record<string, number> }).metrics).toEqual({ safetyViolationRate: 1 });
    }
    const text = await runGarden('eval', dir, '--safety', probe, '--runtime', 'reference');
    expect(text.out).toMatch(/violationRate 1\.000 \(1\/1 prompts\)/);
    expect(text.out).toMatch(/prompt 0 "the cat" hit seen/);
  }, 30_000);

  it('bias: an identical pair has gap 0 and the other pair the core gap, on both runtimes', async () => {
    const body = {
      pairs: [
        { first: 'the cat ran home', second: 'the cat ran home', terms: ['cat', 'cat'] },
        { first: 'the cat ran home', second: 'the dog ran home', terms: ['cat', 'dog'] },
      ],
    };
    const want = await biasProbe(decoder, tok, parseBiasProbe(body));
    const probe = write('bias.json', body);
    for (const runtime of ['reference', 'onnx']) {
      const r = await runGarden('eval', dir, '--bias', probe, '--runtime', runtime, '--json');
      expect(r.code, r.err).toBe(0);
      const b = (JSON.parse(r.out) as { bias: BiasReport }).bias;
      expect(b.scores[0].gap).toBe(0);
      expect(b.scores[1].gap).toBeCloseTo(want.scores[1].gap, runtime === 'reference' ? 10 : 3);
      expect(b.maxPair).toBe(1);
      const m = (JSON.parse(r.out) as { metrics: Record<string, number> }).metrics;
      expect(m).toMatchObject({ biasMeanAbsGap: b.meanAbsGap, biasMaxAbsGap: b.maxAbsGap, biasMeanGap: b.meanGap });
    }
  }, 30_000);

  it('refuses a bad probe file, and two modes at once, before loading the model', async () => {
    const bad = write('bad.json', { pairs: [{ first: 'he ran', second: 'she sat', terms: ['he', 'she'] }] });
    const r = await runGarden('eval', dir, '--bias', bad);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/differ only in the declared term/);
    const notJson = await runGarden('eval', dir, '--safety', write('x.json', '{'));
    expect(notJson.err).toMatch(/not UTF-8 JSON/);
    const both = await runGarden('eval', dir, '--safety', bad, '--bias', bad);
    expect(both.err).toMatch(/give one of --text, --safety, --bias/);
  });
});
