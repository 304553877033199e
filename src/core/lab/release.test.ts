import { describe, expect, it } from 'vitest';
import { ReleaseController, registryBytes } from './release.ts';
import { Ledger, openLedgerFile, serializeLedger } from './ledger.ts';
import { promotionCheck } from './fitness.ts';
import { CONTRACT, memoryLedger } from './test-helpers.ts';
import { canonicalJson } from '../hash.ts';

const eligible = promotionCheck({ invocations: 50, successes: 50, failures: 0, consecutiveFailures: 0 }, { invocations: 50, successes: 40, failures: 10, consecutiveFailures: 0 });

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
    await expect(rc.toChampion('s', weak, 'too early')).rejects.toThrow(/"B" cannot become champion of "s": challenger has 49 invocations; promotion needs at least 50/);
    expect(ledger.length).toBe(2);
  });

  it('rollback restores the previous registry version byte for byte, and is in the ledger', async () => {
    const { ledger } = await memoryLedger();
    const rc = ReleaseController.open(ledger);
    await rc.createSlot('digits', CONTRACT, 'A', ['B']);
    await rc.toShadow('digits', 'C', 'round');
    const before = registryBytes(rc.current('digits'));
    await rc.toCanary('digits', 0.25, 'ok');
    expect(registryBytes(rc.current('digits'))).not.toBe(before);
    const restored = await rc.rollback('digits', 'canary disagreed');
    expect(registryBytes(restored)).toBe(before);
    expect(registryBytes(rc.current('digits'))).toBe(before);
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
    expect(registryBytes(rc2.current('digits'))).toBe(registryBytes(rc.current('digits')));
    expect(rc2.versions('digits').map(registryBytes)).toEqual(rc.versions('digits').map(registryBytes));
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
});
