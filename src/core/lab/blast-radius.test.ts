import { describe, expect, it } from 'vitest';
import { GuardedRelease, REQUIRED_STAGES, approve, checkStages } from './blast-radius.ts';
import type { RiskClass } from './contract.ts';
import { promotionCheck, type ModelStats } from './fitness.ts';
import { ReleaseController } from './release.ts';
import { CONTRACT, memoryLedger } from './test-helpers.ts';
import { resilienceEvidence } from './temporal-fitness.ts';
import { AlleleLifecycle } from './alleles.ts';

const stats = (n: number, s: number): ModelStats => ({ invocations: n, successes: s, failures: n - s, consecutiveFailures: 0 });
const lead = promotionCheck(stats(100, 100), stats(100, 80));
const HOUR = 3_600_000;

async function setup(cls: RiskClass) {
  const { ledger } = await memoryLedger();
  const release = ReleaseController.open(ledger);
  await release.createSlot('s', CONTRACT, 'A', []);
  return { ledger, release, guarded: new GuardedRelease(ledger, release, { classOf: () => cls, resilienceWindowMs: HOUR }) };
}

describe('blast radius', () => {
  it('each class names its stages', () => {
    expect(REQUIRED_STAGES).toEqual({
      none: [],
      low: ['canary'],
      medium: ['shadow', 'canary'],
      high: ['shadow', 'canary', 'approval'],
      critical: ['shadow', 'canary', 'approval', 'resilience'],
    });
  });

  it('none: straight to champion; low: straight to canary, but not to champion', async () => {
    const none = await setup('none');
    await expect(none.guarded.toChampion('s', lead, 'direct', 'B')).resolves.toMatchObject({ champion: 'B' });
    const low = await setup('low');
    await expect(low.guarded.toChampion('s', lead, 'direct', 'B')).rejects.toThrow(
      'slot "s" is low blast radius (needs canary before champion): "B" cannot go to champion: "B" has not been in canary',
    );
    await low.guarded.toCanary('s', 0.1, 'canary', 'B');
    await expect(low.guarded.toChampion('s', lead, 'after canary')).resolves.toMatchObject({ champion: 'B' });
  });

  it('medium refuses a canary that skipped shadow; a refused step writes nothing', async () => {
    const { ledger, guarded } = await setup('medium');
    const n = ledger.length;
    await expect(guarded.toCanary('s', 0.1, 'skip', 'B')).rejects.toThrow('"B" has not been in shadow');
    expect(ledger.length).toBe(n);
    await guarded.toShadow('s', 'B', 'shadow');
    await guarded.toCanary('s', 0.1, 'canary');
    await expect(guarded.toChampion('s', lead, 'ok')).resolves.toMatchObject({ champion: 'B' });
  });

  it('high needs an explicit approval after shadow and canary', async () => {
    const { ledger, guarded } = await setup('high');
    await guarded.toShadow('s', 'B', 'shadow');
    await guarded.toCanary('s', 0.1, 'canary');
    await expect(guarded.toChampion('s', lead, 'no approval')).rejects.toThrow('no approval entry for "B" as champion');
    await approve(ledger, { slot: 's', model: 'B', for: 'champion', by: 'policy zone: the user', reason: 'read the canary numbers' });
    await expect(guarded.toChampion('s', lead, 'approved')).resolves.toMatchObject({ champion: 'B' });
  });

  it('critical adds the resilience window: a passed resilience check at least the window after the canary started', async () => {
    let t = Date.UTC(2025, 0, 1);
    const { Ledger, MemoryLedgerStore } = await import('./ledger.ts');
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: () => new Date((t += 1000)).toISOString() });
    const release = ReleaseController.open(ledger);
    await release.createSlot('s', CONTRACT, 'A', []);
    const guarded = new GuardedRelease(ledger, release, { classOf: () => 'critical', resilienceWindowMs: HOUR });
    const life = new AlleleLifecycle({ ledger, release });
    await guarded.toShadow('s', 'B', 'shadow');
    await guarded.toCanary('s', 0.1, 'canary');
    await approve(ledger, { slot: 's', model: 'B', for: 'champion', by: 'policy zone', reason: 'ok' });
    await expect(guarded.toChampion('s', lead, 'early')).rejects.toThrow('no passed resilience check for "B"');
    await life.recordEvidence(resilienceEvidence('s', 'B', { correct: 9, total: 10, drift: 0, minAccuracy: 0.8, maxDrift: 0.5 }));
    await expect(guarded.toChampion('s', lead, 'too soon')).rejects.toThrow(
      /the resilience check came \d+ s after the canary started; the window is 3600 s/,
    );
    t += HOUR;
    await life.recordEvidence(resilienceEvidence('s', 'B', { correct: 9, total: 10, drift: 0, minAccuracy: 0.8, maxDrift: 0.5 }));
    await expect(guarded.toChampion('s', lead, 'after the window')).resolves.toMatchObject({ champion: 'B' });
    expect(ledger.verify().ok).toBe(true);
  });

  it('a model demoted out of the slot walks its stages again', async () => {
    const { ledger, release } = await setup('medium');
    await release.toShadow('s', 'B', 'shadow');
    await release.demote('s', 'B', 'bad shadow');
    expect(checkStages(ledger.entries(), 's', 'B', 'medium', 'canary', 0)).toMatchObject({ allowed: false, missing: ['shadow'] });
  });
});
