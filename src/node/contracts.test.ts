import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSuite, suiteRows } from '../core/eval/suite.ts';
import { checkInput, checkOutput, contractVerb, parseContract, registryContract } from '../core/lab/contract.ts';
import { loadStarterContract, starterContractPath } from './contracts.ts';

const catalogUrl = new URL('../../public/starter/catalog.json', import.meta.url);
const starter = (slot: string) => readFileSync(starterContractPath(slot)!, 'utf8');

describe('the starter slots each ship a contract', () => {
  const families = existsSync(catalogUrl)
    ? (JSON.parse(readFileSync(catalogUrl, 'utf8')).families as {
        id: string;
        input: { shape: number[] };
        output: { labels: string[] };
        suites: { id: string; file: string; task: string }[];
      }[])
    : [];

  it('a slot without a file, or with a name that is no file name, has none', () => {
    expect(loadStarterContract('nope')).toBeNull();
    expect(starterContractPath('../contract')).toBeNull();
  });

  it.each(['digits', 'mail'])('%s.contract parses and names its slot', (slot) => {
    const c = parseContract(starter(slot), `${slot}.contract`);
    expect(c.slot).toBe(slot);
    expect(contractVerb(c).timeoutMs).toBe(10_000);
  });

  // Not skipped without the starter garden: npm test builds it before the unit tests.
  it("each starter family has a contract whose shapes are the family's, and every suite row meets takes and before", () => {
    expect(
      families.length,
      `${catalogUrl.pathname} is missing or lists no family: run "npm run starter" first (npm test builds it before the unit tests)`,
    ).toBeGreaterThan(0);
    for (const f of families) {
      const v = contractVerb(parseContract(starter(f.id), `${f.id}.contract`));
      expect(registryContract(v)).toMatchObject({ inputLength: f.input.shape[0], outputLength: f.output.labels.length });
      for (const s of f.suites) {
        const suite = readSuite(new Uint8Array(readFileSync(new URL(`../../public/starter/${s.file}`, import.meta.url))));
        const n = Math.min(suite.count, 200);
        const rows = suiteRows(suite, 0, n);
        const F = suite.featureSize;
        for (let i = 0; i < n; i++) expect(checkInput(v, rows.subarray(i * F, (i + 1) * F)), `${s.id} row ${i}`).toBeNull();
      }
    }
  });
});

describe('lm.contract: the language-model lab slot (the Llama starter lm family)', () => {
  const lmManifest = new URL('../../public/starter/lm/manifest.json', import.meta.url);
  const loaded = loadStarterContract('lm')!;
  const v = loaded.verb;

  it("parses, names the lm slot and gives one logit per token of the family's vocabulary", () => {
    expect(loaded.contract.slot).toBe('lm');
    expect(v.name).toBe('next-token');
    // Not skipped without the starter garden: npm test builds it before the unit tests.
    const m = JSON.parse(readFileSync(lmManifest, 'utf8')) as { params: { vocabSize: number }; suites: { id: string }[] };
    expect(v.takes).toMatchObject({ name: 'ids', type: 'int', length: 32, range: [-1, m.params.vocabSize - 1] });
    expect(v.gives).toMatchObject({ name: 'logits', type: 'float', length: m.params.vocabSize, range: null });
    expect(registryContract(v)).toEqual({ inputLength: 32, outputLength: m.params.vocabSize, timeoutMs: 30_000, compare: 'argmax' });
    expect(v.risk).toBe('medium');
    // Every verify line names the family's frozen suites (a sum of them joined by "+") and perplexity.
    expect(v.verify.map((x) => [x.suite, x.metric, x.cmp, x.window.unit])).toEqual([
      ['moby+mixed', 'perplexity', '<=', 'requests'],
      ['mixed', 'perplexity', '<=', 'days'],
    ]);
    const ids = new Set(m.suites.map((s) => s.id));
    for (const x of v.verify) for (const part of x.suite.split('+')) expect(ids, `${x.suite} part ${part}`).toContain(part);
  });

  it('checks a routed prompt (left-padded with -1) and the logits', () => {
    const input = new Float32Array(32).fill(-1);
    input.set([5, 17, 639], 29);
    expect(checkInput(v, input)).toBeNull();
    expect(checkInput(v, input.subarray(1))?.section).toBe('takes');
    expect(
      checkInput(
        v,
        Float32Array.from(input, (x, i) => (i === 31 ? 640 : x)),
      )?.detail,
    ).toBe('ids[31] is 640, outside [-1, 639]');
    expect(
      checkInput(
        v,
        Float32Array.from(input, (x, i) => (i === 30 ? 1.5 : x)),
      )?.detail,
    ).toBe('ids[30] is 1.5, not an integer');
    const logits = Float32Array.from({ length: 640 }, (_, i) => Math.sin(i));
    expect(checkOutput(v, input, logits)).toBeNull();
    expect(checkOutput(v, input, logits.subarray(0, 50))?.section).toBe('gives');
    expect(
      checkOutput(
        v,
        input,
        Float32Array.from(logits, (x, i) => (i === 3 ? NaN : x)),
      )?.section,
    ).toBe('gives');
    expect(
      checkOutput(
        v,
        input,
        Float32Array.from(logits, (x, i) => (i === 3 ? Infinity : x)),
      )?.section,
    ).toBe('after');
    expect(checkOutput(v, input, new Float32Array(640).fill(0.25))).toMatchObject({
      section: 'fails when',
      rule: 'no decision: spread(logits) < 0.000001',
    });
  });
});
