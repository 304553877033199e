import { describe, expect, it } from 'vitest';
import { Ledger, MemoryLedgerStore, openLedgerFile, serializeLedger } from './ledger.ts';
import { PolicyZone, checkPolicy, policyHash } from './policy.ts';
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

  it('adds lora-merge to an initial policy written before training existed, once, ledgered; a chosen allowlist stays', async () => {
    const old = testPolicy({ allowlist: ['blend', 'ties'] });
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const zone = await PolicyZone.open(ledger, old);
    expect(await zone.allowTrainedCandidates()).toBe(true);
    expect(zone.current().allowlist).toEqual(['blend', 'ties', 'lora-merge']);
    expect(ledger.entries()[1]).toMatchObject({ type: 'policy-change', payload: { reason: expect.stringMatching(/^allow lora-merge: /) } });
    expect(await zone.allowTrainedCandidates()).toBe(false);
    expect(ledger.entries()).toHaveLength(2);

    const chosen = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const z2 = await PolicyZone.open(chosen, old);
    await z2.change({ ...old, allowlist: ['blend'] }, 'only blends here');
    expect(await z2.allowTrainedCandidates()).toBe(false);
    expect(z2.current().allowlist).toEqual(['blend']);
    expect(chosen.entries()).toHaveLength(2);
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
    await expect(zone.change(testPolicy({ suites: { test: H('1'), robust: H('f') } }), 'sneaky')).rejects.toThrow(
      /suite pins change only through rebaseline/,
    );
    await zone.rebaseline('test', H('1'), 'new held-out set');
    expect(zone.current().suites.test).toBe(H('1'));
    expect(ledger.entries()[1]).toMatchObject({ type: 're-baseline', payload: { suite: 'test', from: H('e'), to: H('1') } });
    await expect(zone.change(testPolicy(), '')).rejects.toThrow(/needs a reason/);
  });

  it('refuses a policy entry whose policy does not hash to its recorded policyHash, or that skips a version', async () => {
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const zone = await PolicyZone.open(ledger, testPolicy());
    const looser = { ...testPolicy(), primary: { ...testPolicy().primary, margin: 0 } };
    // An entry written past the zone: the chain is intact, the payload is not.
    await ledger.append('policy-change', { policy: looser, policyHash: zone.hash, previous: zone.hash, reason: 'sneaky' });
    expect(ledger.verify().ok).toBe(true);
    expect(() => PolicyZone.fromLedger(ledger)).toThrow(
      /^ledger entry 1 \(policy-change\): its policy hashes to [0-9a-f]{16}… but the entry records policyHash [0-9a-f]{16}…$/,
    );
    await expect(PolicyZone.open(ledger)).rejects.toThrow(/ledger entry 1/);

    const l2 = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    await PolicyZone.open(l2, testPolicy());
    await l2.append('policy-change', { policy: looser, policyHash: policyHash(checkPolicy(looser)), previous: H('0'), reason: 'forked' });
    expect(() => PolicyZone.fromLedger(l2)).toThrow(
      /ledger entry 1 \(policy-change\): it records the previous policy 0000000000000000… but the policy before it is [0-9a-f]{16}…/,
    );
  });
});
