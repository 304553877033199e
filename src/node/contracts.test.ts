import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSuite, suiteRows } from '../core/eval/suite.ts';
import { checkInput, contractVerb, parseContract, registryContract } from '../core/lab/contract.ts';
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

  it.each(['digits', 'mail', 'text'])('%s.contract parses and names its slot', (slot) => {
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
