import { describe, expect, it } from 'vitest';
import { ReleaseController } from './release.ts';
import { Ledger, openLedgerFile, serializeLedger } from './ledger.ts';
import { evidencePromotionCheck, promotionCheck } from './fitness.ts';
import { CONTRACT, memoryLedger, rng } from './test-helpers.ts';
import { canonicalJson } from '../hash.ts';

const eligible = promotionCheck(
  { invocations: 50, successes: 50, failures: 0, consecutiveFailures: 0 },
  { invocations: 50, successes: 40, failures: 10, consecutiveFailures: 0 },
);

describe('release controller', () => {
  it('shadow → canary → champion, each step a ledger entry with the full registry', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('digits', CONTRACT, 'A', ['B']);
    await rc.toShadow('digits', 'C', 'lab round 1');
    expect(rc.current('digits')).toMatchObject({ version: 2, champion: 'A', shadow: 'C', canary: null });
    await rc.toCanary('digits', 0.1, 'shadow agreed');
    expect(rc.current('digits')).toMatchObject({ version: 3, shadow: null, canary: { model: 'C', share: 0.1 } });
    await rc.toChampion('digits', eligible, 'fitness lead');
    expect(rc.current('digits')).toMatchObject({ version: 4, champion: 'C', canary: null, fallback: ['A', 'B'] });
    expect(ledger.entries().map((e) => [e.type, e.payload.action])).toEqual([
      ['release', 'create'],
      ['release', 'shadow'],
      ['release', 'canary'],
      ['release', 'champion'],
    ]);
    expect(rc.versions('digits').map((v) => v.version)).toEqual([1, 2, 3, 4]);
  });

  it('refuses a champion without a passing fitness check', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('s', CONTRACT, 'A');
    await rc.toCanary('s', 0.5, 'try', 'B');
    const weak = promotionCheck({ invocations: 49, successes: 49, failures: 0, consecutiveFailures: 0 }, null);
    await expect(rc.toChampion('s', weak, 'too early')).rejects.toThrow(
      /"B" cannot become champion of "s" on fitness: challenger has 49 invocations; promotion needs at least 50/,
    );
    expect(ledger.length).toBe(2);
  });

  it('rollback restores the previous registry version byte for byte, and is in the ledger', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('digits', CONTRACT, 'A', ['B']);
    await rc.toShadow('digits', 'C', 'round');
    const before = canonicalJson(rc.current('digits'));
    await rc.toCanary('digits', 0.25, 'ok');
    expect(canonicalJson(rc.current('digits'))).not.toBe(before);
    const restored = await rc.rollback('digits', 'canary disagreed');
    expect(canonicalJson(restored)).toBe(before);
    expect(canonicalJson(rc.current('digits'))).toBe(before);
    const last = ledger.entries()[ledger.length - 1];
    expect(last.type).toBe('rollback');
    expect(last.payload.reason).toBe('canary disagreed');
    expect(canonicalJson(last.payload.registry)).toBe(before);
    // Rolling back again goes one more version back; the first version cannot be rolled back.
    await rc.rollback('digits', 'again');
    expect(rc.current('digits').version).toBe(1);
    await expect(rc.rollback('digits', 'too far')).rejects.toThrow(/no previous registry version/);
    // Every version is kept.
    expect(rc.versions('digits').map((v) => v.version)).toEqual([1, 2, 3]);
    expect(ledger.verify().ok).toBe(true);
  });

  it('the registry is replayed from a reloaded ledger, identical byte for byte', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('digits', CONTRACT, 'A', ['B']);
    await rc.toShadow('digits', 'C', 'r');
    await rc.toCanary('digits', 0.1, 'r');
    await rc.rollback('digits', 'r');
    const again: Ledger = await openLedgerFile(serializeLedger(ledger));
    const rc2 = ReleaseController.open(again);
    expect(canonicalJson(rc2.current('digits'))).toBe(canonicalJson(rc.current('digits')));
    expect(rc2.versions('digits').map(canonicalJson)).toEqual(rc.versions('digits').map(canonicalJson));
  });

  it('demotes a champion: the next in the stack takes over, the demoted one goes last', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('s', CONTRACT, 'A', ['B', 'C']);
    await rc.demote('s', 'A', 'three failures');
    expect(rc.current('s')).toMatchObject({ champion: 'B', fallback: ['C', 'A'] });
    await expect(rc.demote('s', 'Z', 'x')).rejects.toThrow(/"Z" is not in slot "s"/);
    await expect(rc.toShadow('s', 'B', 'x')).rejects.toThrow(/already the champion/);
  });

  it('overlapping release steps are serialized: each builds on the version the previous one left', async () => {
    for (const seed of [1, 2, 3]) {
      const { ledger } = await memoryLedger();
      const rc = ReleaseController.open(ledger);
      await rc.createSlot('s', CONTRACT, 'A', ['B', 'C']);
      await rc.toShadow('s', 'S', 'round');
      // The router's automatic demote and a user's click, started together (not awaited in between).
      const steps = [
        () => rc.demote('s', 'A', 'three failures'),
        () => rc.toCanary('s', 0.1, 'user click'),
        () => rc.setFallback('s', ['C', 'B'], 'reorder'),
      ];
      const r = rng(seed);
      const order = steps
        .map((f) => [r(), f] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, f]) => f);
      await Promise.all(order.map((f) => f()));
      const versions = rc.versions('s').map((v) => v.version);
      expect(versions).toEqual([1, 2, 3, 4, 5]);
      const cur = rc.current('s');
      // Every step's change survived: canary from the shadow, A demoted (champion B or C), fallback holds A last.
      expect(cur.canary).toEqual({ model: 'S', share: 0.1 });
      expect(cur.champion).not.toBe('A');
      expect(cur.fallback).toContain('A');
      // Each ledgered step links to the registry the previous step activated.
      const rel = ledger.entries().filter((e) => e.type === 'release');
      for (let i = 1; i < rel.length; i++) expect(rel[i].payload.from).toBe(rel[i - 1].payload.registryHash);
      const again = ReleaseController.open(await openLedgerFile(serializeLedger(ledger)));
      expect(canonicalJson(again.current('s'))).toBe(canonicalJson(cur));
    }
  });

  it('a rollback overlapping a release step rolls back what was live when it ran', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('s', CONTRACT, 'A', ['B']);
    const v1 = canonicalJson(rc.current('s'));
    const [, back] = await Promise.all([rc.toShadow('s', 'S', 'round'), rc.rollback('s', 'undo')]);
    expect(canonicalJson(back)).toBe(v1);
    expect(ReleaseController.open(await openLedgerFile(serializeLedger(ledger))).current('s').version).toBe(1);
  });

  it('canRollback says whether the active stack has a previous version', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    expect(rc.canRollback('s')).toBe(false);
    await rc.createSlot('s', CONTRACT, 'A', ['B']);
    expect(rc.canRollback('s')).toBe(false);
    await rc.toShadow('s', 'S', 'round');
    expect(rc.canRollback('s')).toBe(true);
    await rc.rollback('s', 'undo');
    expect(rc.canRollback('s')).toBe(false);
    await expect(rc.rollback('s', 'again')).rejects.toThrow(/no previous registry version/);
  });

  it('toChampion records its basis (fitness or evidence) in the ledger and refuses an unknown one', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('s', CONTRACT, 'A');
    await rc.toShadow('s', 'S', 'round');
    const verdict = { candidate: 'S', viable: true, checks: [], reasons: [] };
    const fit = promotionCheck(
      { invocations: 3, successes: 3, failures: 0, consecutiveFailures: 0 },
      { invocations: 3, successes: 3, failures: 0, consecutiveFailures: 0 },
    );
    expect(fit).toMatchObject({ basis: 'fitness', eligible: false });
    await expect(rc.toChampion('s', { ...eligible, basis: 'vibes' as never }, 'x', 'S')).rejects.toThrow(
      /basis "vibes" is unknown; valid: fitness, evidence/,
    );
    const ev = evidencePromotionCheck(verdict, { invocations: 3, successes: 3, failures: 0, consecutiveFailures: 0 }, fit);
    await rc.toChampion('s', ev, 'evaluation evidence', 'S');
    const last = ledger.entries()[ledger.length - 1];
    expect(last.payload).toMatchObject({ action: 'champion', evidence: { basis: 'evidence', eligible: true } });
    expect(rc.current('s')).toMatchObject({ champion: 'S', shadow: null, fallback: ['A'] });
  });
});
