import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { oneHotBlendRound, writeTinyDigits } from '../lab-fixture.ts';
import { runGarden as garden } from '../test-run.ts';

let dir = '';
let catalog = '';
let pins: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-exit-'));
  catalog = join(dir, 'catalog.json');
  pins = writeTinyDigits(dir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A round of one-hot blends (each is one parent unchanged, so one equals the no-op parent exactly
 * and margin 0 promotes it). `direction` max is a sound policy; min (lower accuracy is better) is a
 * perverse one that the seeded regression set must expose.
 */
function round(name: string, direction: 'max' | 'min'): string {
  const r = oneHotBlendRound(pins, { direction });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(r));
  return path;
}

/** Run a promoting round into its own ledger and candidates folder. */
async function gardenAfterRound(name: string, direction: 'max' | 'min' = 'max'): Promise<{ ledger: string; out: string }> {
  const ledger = join(dir, `${name}.ledger.json`);
  const out = join(dir, `${name}.out`);
  const r = await garden('lab', round(name, direction), '--ledger', ledger, '--out', out);
  expect(r.code, r.err).toBe(0);
  expect(r.out).toMatch(/^decision: promote-to-shadow/m);
  return { ledger, out };
}

type Report = Record<
  'reproduce' | 'reject' | 'explain' | 'verify' | 'rollback',
  { ok: boolean; summary: string; evidence: Record<string, unknown>[] }
>;

async function exitCheck(ledger: string, out: string | null, cat = catalog): Promise<{ code: number; report: Report }> {
  const r = await garden('lab', 'exit-check', '--ledger', ledger, '--catalog', cat, ...(out ? ['--candidates', out] : []), '--json');
  expect(r.err).not.toMatch(/^garden lab:/m);
  return { code: r.code, report: JSON.parse(r.out) };
}

describe('garden lab exit-check', () => {
  it('after a promoting round with a sound policy, all five hold, each with its evidence, and it exits 0', async () => {
    const strict = await gardenAfterRound('sound');
    const { code, report } = await exitCheck(strict.ledger, strict.out);
    expect(Object.keys(report)).toEqual(['reproduce', 'reject', 'explain', 'verify', 'rollback']);
    for (const k of Object.keys(report) as (keyof Report)[]) {
      expect(report[k].ok, `${k}: ${report[k].summary} ${JSON.stringify(report[k].evidence.filter((e) => e.ok === false))}`).toBe(true);
      expect(report[k].evidence.length, k).toBeGreaterThan(0);
    }
    expect(code).toBe(0);
    const [rep] = report.reproduce.evidence;
    expect(rep.recomputed).toBe(rep.candidate);
    expect(report.reject.evidence.map((e) => [e.candidate, e.refusedBy])).toEqual([
      ['nan-weight', 'runtime-smoke'],
      ['noise', 'viability'],
      ['shuffled-rows', 'viability'],
    ]);
    expect(report.rollback.evidence).toEqual([expect.objectContaining({ slot: 'digits', ok: true, steps: 1, versionsUndone: [2] })]);
    // The drill ran on a copy: the ledger still verifies with its four entries.
    const v = await garden('ledger', 'verify', strict.ledger);
    expect(v.out).toMatch(/^ok: 4 entries/);
    // The table form says the same.
    const t = await garden('lab', 'exit-check', '--ledger', strict.ledger, '--catalog', catalog, '--candidates', strict.out);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/^ok {3}reproduce 1 of 1 admitted candidates bred again bit for bit from their lineage$/m);
    expect(t.out).toMatch(/^exit check passed: all five hold$/m);
  }, 120_000);

  it('a perverse policy (lower accuracy is better) lets known-bad candidates through: reject fails (the NaN is still caught by the smoke) and exits 1', async () => {
    const g = await gardenAfterRound('perverse', 'min');
    const { code, report } = await exitCheck(g.ledger, g.out);
    expect(code).toBe(1);
    expect(report.reject.ok).toBe(false);
    expect(report.reject.evidence.find((e) => e.candidate === 'nan-weight')).toMatchObject({ ok: true, refusedBy: 'runtime-smoke' });
    expect(report.reject.evidence.filter((e) => e.ok === false).map((e) => e.reason)).toContain(
      'the gates let this known-bad candidate through',
    );
  }, 120_000);

  it('without the candidates, reproduce and verify fail and say what is missing', async () => {
    const g = await gardenAfterRound('nocand');
    const { code, report } = await exitCheck(g.ledger, null);
    expect(code).toBe(1);
    expect(report.reproduce.evidence[0].reason).toMatch(/the garden holds no lineage template and candidate manifest for [0-9a-f]{16}…/);
    expect(report.verify.evidence.find((e) => e.ok === false)?.reason).toBe('the garden does not hold the file');
    expect(report.explain.ok && report.rollback.ok).toBe(true);
  }, 120_000);

  it('a tampered candidate file or lineage, and an edited ledger, are caught', async () => {
    const g = await gardenAfterRound('tamper');
    const file0 = JSON.parse(readFileSync(g.ledger, 'utf8'));
    const id: string = file0.records.find((r: { entry: { type: string } }) => r.entry.type === 'admission').entry.payload.candidate;
    const slm = `${id}.slm`;
    // The file: one byte flipped.
    const bytes = readFileSync(join(g.out, slm));
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(join(g.out, slm), bytes);
    let r = await exitCheck(g.ledger, g.out);
    expect(r.code).toBe(1);
    expect(r.report.verify.evidence.find((e) => e.ok === false)?.what).toBe(`candidate ${id.slice(0, 16)}… .slm`);
    // The lineage: another seed; the candidate manifest still binds the old lineage hash.
    const docs = JSON.parse(readFileSync(join(g.out, `${id}.manifests.json`), 'utf8'));
    const lineage = docs.find((d: { kind: string }) => d.kind === 'lineage-template');
    lineage.seed += 1;
    writeFileSync(join(g.out, `${id}.manifests.json`), JSON.stringify(docs));
    r = await exitCheck(g.ledger, g.out);
    expect(r.report.reproduce.evidence[0].reason).toMatch(
      /the candidate manifest binds lineage [0-9a-f]{16}…, but the lineage template hashes to/,
    );
    // Consistent documents for a lineage that did not breed this file: only breeding again tells.
    const { manifestHash } = await import('../../src/core/manifest/index.ts');
    lineage.params.weights = [0.25, 0.25, 0.25, 0.25];
    docs.find((d: { kind: string }) => d.kind === 'candidate-manifest').lineage = manifestHash(lineage);
    writeFileSync(join(g.out, `${id}.manifests.json`), JSON.stringify(docs));
    r = await exitCheck(g.ledger, g.out);
    expect(r.report.reproduce.evidence[0]).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^bred again, it hashes to [0-9a-f]{16}…, not [0-9a-f]{16}…$/),
    });
    // The ledger: an edited reason.
    const file = JSON.parse(readFileSync(g.ledger, 'utf8'));
    file.records[1].entry.payload.reason = 'edited';
    writeFileSync(g.ledger, JSON.stringify(file));
    r = await exitCheck(g.ledger, g.out);
    expect(r.report.verify.evidence[0]).toMatchObject({ what: 'ledger chain and head', ok: false });
    expect(r.report.rollback).toMatchObject({ ok: false, summary: 'the ledger does not verify, so it cannot be replayed to roll back' });
  }, 120_000);

  it('refuses a missing --ledger and a positional argument', async () => {
    expect((await garden('lab', 'exit-check')).err).toMatch(/garden lab exit-check needs --ledger FILE/);
    expect((await garden('lab', 'exit-check', 'x', '--ledger', 'y')).err).toMatch(/takes no positional argument/);
  });
});

const STARTER = resolve(__dirname, '../../public/starter/catalog.json');
const EXAMPLE = resolve(__dirname, '../../examples/digits-round.json');

describe('garden lab exit-check on the starter garden after examples/digits-round.json', () => {
  it('answers every criterion with evidence, and all five hold', async () => {
    expect(existsSync(STARTER), `${STARTER} is missing: run "npm run starter" first`).toBe(true);
    const ledger = join(dir, 'starter.ledger.json');
    const out = join(dir, 'starter.out');
    const r = await garden('lab', EXAMPLE, '--ledger', ledger, '--out', out);
    expect(r.code, r.err).toBe(0);
    const { code, report } = await exitCheck(ledger, out, STARTER);
    expect(Object.keys(report)).toEqual(['reproduce', 'reject', 'explain', 'verify', 'rollback']);
    for (const k of Object.keys(report) as (keyof Report)[]) {
      expect(report[k].ok, `${k}: ${report[k].summary}`).toBe(true);
      // Each answer comes with its evidence: a summary and at least one item, none of them failed.
      expect(report[k].summary.length, k).toBeGreaterThan(0);
      expect(report[k].evidence.length, k).toBeGreaterThan(0);
      expect(report[k].evidence.filter((e) => e.ok === false)).toEqual([]);
    }
    expect(report.reproduce.evidence[0]).toMatchObject({ operator: expect.stringMatching(/^ties@/), ok: true });
    expect(report.reject.evidence.map((e) => e.refusedBy)).toEqual(['runtime-smoke', 'viability', 'viability']);
    expect(report.rollback.evidence).toEqual([expect.objectContaining({ slot: 'digits', ok: true })]);
    expect(report.reject.evidence).toHaveLength(3);
    expect(code).toBe(0);
  }, 180_000);
});
