import { describe, expect, it } from 'vitest';
import { applySuiteChange, pendingProposals, promotionPaused, propose, type Proposal } from './proposal.ts';
import { GuardedRelease, approve } from './blast-radius.ts';
import { PolicyZone } from './policy.ts';
import { ReleaseController } from './release.ts';
import { promotionCheck, type ModelStats } from './fitness.ts';
import { CONTRACT, H, memoryLedger, testPolicy } from './test-helpers.ts';

const stats = (n: number, s: number): ModelStats => ({ invocations: n, successes: s, failures: n - s, consecutiveFailures: 0 });
const lead = promotionCheck(stats(100, 100), stats(100, 80));
const op: Proposal = {
  kind: 'operator',
  slot: 's',
  candidate: 'B',
  subject: 'model-stock',
  evidence: { sidecar: H('a') },
  reason: 'B was bred with model-stock, which the allowlist lacks',
};

describe('code-change proposals', () => {
  it("a proposal pauses the candidate's promotion until an approval names it", async () => {
    const { ledger } = await memoryLedger();
    const release = ReleaseController.open(ledger);
    await release.createSlot('s', CONTRACT, 'A');
    const guarded = new GuardedRelease(ledger, release, { classOf: () => 'none', resilienceWindowMs: 0 });
    const hash = await propose(ledger, op);
    expect(promotionPaused(ledger.entries(), 'B')).toEqual({
      paused: true,
      reasons: [`proposal ${hash.slice(0, 16)}… (operator model-stock, entry 1) has no approval`],
    });
    await expect(guarded.toChampion('s', lead, 'x', 'B')).rejects.toThrow('"B" cannot go to champion in slot "s": its promotion is paused');
    await approve(ledger, {
      slot: 's',
      model: 'B',
      for: 'champion',
      proposal: hash,
      by: 'policy zone',
      reason: 'an approval of the step is not an approval of the proposal',
    });
    await expect(guarded.toChampion('s', lead, 'x', 'B')).rejects.toThrow('paused');
    await approve(ledger, {
      slot: 's',
      model: 'B',
      for: 'proposal',
      proposal: hash,
      by: 'policy zone: the user',
      reason: 'model-stock reviewed',
    });
    expect(pendingProposals(ledger.entries(), 'B')).toEqual([]);
    await expect(guarded.toChampion('s', lead, 'x', 'B')).resolves.toMatchObject({ champion: 'B' });
    await expect(propose(ledger, op)).rejects.toThrow('is already in the ledger');
  });

  it('a suite change is applied only after approval, by a re-baseline that names the scores to compute again', async () => {
    const { ledger } = await memoryLedger();
    const zone = await PolicyZone.open(ledger, testPolicy());
    await ledger.append('admission', { slot: 's', model: 'M1', candidate: H('1') });
    const p: Proposal = {
      kind: 'suite-change',
      slot: 's',
      candidate: null,
      subject: 'robust',
      evidence: { suiteHash: H('9') },
      reason: 'the robust suite gains rotated digits',
    };
    const hash = await propose(ledger, p);
    await expect(applySuiteChange(ledger, zone, hash)).rejects.toThrow('has no approval; a suite changes only after one');
    await approve(ledger, { slot: 's', model: '-', for: 'proposal', proposal: hash, by: 'policy zone', reason: 'ok' });
    const r = await applySuiteChange(ledger, zone, hash);
    expect(r).toEqual({ suite: 'robust', from: H('f'), to: H('9'), rescore: ['M1'] });
    expect(zone.current().suites.robust).toBe(H('9'));
    const last = ledger.entries()[ledger.length - 1];
    expect(last.type).toBe('re-baseline');
    expect(String(last.payload.reason)).toContain('scores to compute again on the new suite: M1');
  });
});
