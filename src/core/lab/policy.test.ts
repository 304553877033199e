import { describe, expect, it } from 'vitest';
import { Ledger, MemoryLedgerStore, openLedgerFile, serializeLedger } from './ledger.ts';
import { PolicyZone, checkPolicy } from './policy.ts';
import { H, fakeClock, testPolicy } from './test-helpers.ts';

describe('policy zone', () => {
  it('records the initial policy and every change in the ledger; the ledger is its only store', async () => {
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const zone = await PolicyZone.open(ledger, testPolicy());
    expect(ledger.entries().map((e) => e.type)).toEqual(['policy-change']);
    const next = { ...testPolicy(), primary: { ...testPolicy().primary, margin: 0.05 } };
    await zone.change(next, 'stricter margin');
    expect(zone.current().primary.margin).toBe(0.05);
    const e = ledger.entries()[1];
    expect(e).toMatchObject({ type: 'policy-change', payload: { reason: 'stricter margin' } });
    // A reload replays the policy from the ledger.
    const again = await openLedgerFile(serializeLedger(ledger));
    expect((await PolicyZone.open(again)).current()).toEqual(zone.current());
  });

  it('refuses unknown operators in the allowlist, listing the registry', () => {
    expect(() => checkPolicy(testPolicy({ allowlist: ['blend', 'warp'] }))).toThrow(/unknown operator "warp"; valid: blend, /);
  });

  it('refuses thresholds on unpinned suites and unknown keys', () => {
    expect(() => checkPolicy(testPolicy({ suites: { test: H('e') } }))).toThrow(/names suite "robust", which is not pinned; pinned: test/);
    expect(() => checkPolicy({ ...testPolicy(), extra: 1 })).toThrow(/unknown key "extra"/);
  });

  it('suite pins change only through a ledgered re-baseline', async () => {
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const zone = await PolicyZone.open(ledger, testPolicy());
    await expect(zone.change(testPolicy({ suites: { test: H('1'), robust: H('f') } }), 'sneaky')).rejects.toThrow(/suite pins change only through rebaseline/);
    await zone.rebaseline('test', H('1'), 'new held-out set');
    expect(zone.current().suites.test).toBe(H('1'));
    expect(ledger.entries()[1]).toMatchObject({ type: 're-baseline', payload: { suite: 'test', from: H('e'), to: H('1') } });
    await expect(zone.change(testPolicy(), '')).rejects.toThrow(/needs a reason/);
  });
});
