import { describe, expect, it } from 'vitest';
import { AlleleLifecycle, readAlleles } from './alleles.ts';
import { contractVerb, parseContract, registryContract, requestCheck } from './contract.ts';
import { promotionCheck, type ModelStats } from './fitness.ts';
import { ReleaseController } from './release.ts';
import { SelectorRouter } from './router.ts';
import { CONTRACT, memoryLedger } from './test-helpers.ts';
import { immediateEvidence, resilienceEvidence, convergenceEvidence } from './temporal-fitness.ts';

const stats = (invocations: number, successes: number): ModelStats => ({
  invocations,
  successes,
  failures: invocations - successes,
  consecutiveFailures: 0,
});
const lead = promotionCheck(stats(100, 100), stats(100, 80));

async function setup() {
  const { ledger } = await memoryLedger();
  const release = ReleaseController.open(ledger);
  await release.createSlot('s', CONTRACT, 'A', []);
  return { ledger, release, life: new AlleleLifecycle({ ledger, release }) };
}

describe('allele lifecycle', () => {
  it('a displaced champion becomes recessive, with its fitness and the reason it was displaced', async () => {
    const { ledger, release, life } = await setup();
    expect(life.dominant('s')?.model).toBe('A');
    await release.toCanary('s', 0.1, 'try B', 'B');
    await release.toChampion('s', lead, 'B leads by fitness');
    const a = life.allele('s', 'A')!;
    expect(a).toMatchObject({ state: 'recessive', displacedBy: 'B', reason: 'displaced by B: B leads by fitness' });
    expect(a.history).toEqual([expect.objectContaining({ source: 'release', fitness: 0.8 })]);
    expect(life.dominant('s')?.model).toBe('B');
    expect(ledger.verify().ok).toBe(true);
  });

  it('re-expresses a recessive without breeding (ledgered on the recessive basis); refuses anything else', async () => {
    const { ledger, release, life } = await setup();
    await release.toChampion('s', lead, 'B leads', 'B');
    const reg = await life.reexpress('s', 'A', 'the user asked for A back');
    expect(reg.champion).toBe('A');
    expect(reg.fallback).toEqual(['B']);
    const last = ledger.entries()[ledger.length - 1];
    expect(last.payload).toMatchObject({ action: 'champion', evidence: { basis: 'recessive' } });
    expect(life.allele('s', 'A')).toMatchObject({ state: 'dominant', reason: 're-expressed: the user asked for A back' });
    expect(life.allele('s', 'B')).toMatchObject({ state: 'recessive', displacedBy: 'A' });
    await expect(life.reexpress('s', 'A', 'x')).rejects.toThrow('"A" is dominant in slot "s"; only a recessive allele can be re-expressed');
    await expect(life.reexpress('s', 'Z', 'x')).rejects.toThrow('"Z" is no allele of slot "s"');
  });

  it('a passed canary is kept as recessive; idle recessives are deprecated and leave the fallback stack; a deprecated allele is purged except shared tensors', async () => {
    const { ledger, release, life } = await setup();
    await release.toCanary('s', 0.2, 'try C', 'C');
    await life.keepPassedCanary('s', 'C', 'no lead, but clean');
    expect(life.allele('s', 'C')).toMatchObject({ state: 'recessive', reason: 'passed canary: no lead, but clean' });
    expect(release.current('s')).toMatchObject({ canary: null, fallback: ['C'] });
    await release.toChampion('s', lead, 'B leads', 'B');
    expect(release.current('s').fallback).toEqual(['A', 'C']);
    const lastAt = ledger.entries()[ledger.length - 1].at;
    // Not yet idle for a day.
    expect(await life.deprecateIdle('s', lastAt, 86_400_000)).toEqual([]);
    const later = new Date(Date.parse(lastAt) + 86_400_000).toISOString();
    expect((await life.deprecateIdle('s', later, 86_400_000)).sort()).toEqual(['A', 'C']);
    expect(life.allele('s', 'A')?.state).toBe('deprecated');
    expect(release.current('s').fallback).toEqual([]);
    await expect(life.reexpress('s', 'A', 'x')).rejects.toThrow('is deprecated');
    await expect(life.purge('s', 'B', { B: ['t1'] })).rejects.toThrow(
      '"B" is dominant in slot "s"; only a deprecated allele can be purged',
    );
    const r = await life.purge('s', 'A', { A: ['t1', 't2', 't3'], B: ['t2'], C: ['t3'] });
    expect(r).toEqual({ deleted: ['t1'], kept: ['t2', 't3'] });
    // C's t3 was kept for C; once C is gone, nothing else holds it.
    expect(await life.purge('s', 'C', { A: ['t1', 't2', 't3'], B: ['t2'], C: ['t3'] })).toEqual({ deleted: ['t3'], kept: [] });
    expect(life.allele('s', 'A')?.state).toBe('purged');
    expect(
      ledger
        .entries()
        .filter((e) => e.type === 'allele')
        .map((e) => e.payload.to),
    ).toEqual(['recessive', 'deprecated', 'deprecated', 'purged', 'purged']);
    expect(ledger.verify().ok).toBe(true);
  });

  it('three consecutive contract failures demote the champion automatically (ledgered); it becomes recessive with the reason', async () => {
    const text = `slot: s\nverb v:\n  does: three scores\n  takes:\n    x: float[4]\n  gives:\n    y: float[3] in [-10, 10]\n  fails when:\n    - timeout: 200 ms\n  risk: low\n`;
    const verb = contractVerb(parseContract(text));
    const { ledger } = await memoryLedger();
    const release = ReleaseController.open(ledger);
    await release.createSlot('s', registryContract(verb), 'A', ['B']);
    const life = new AlleleLifecycle({ ledger, release });
    const router = new SelectorRouter({
      invoke: async (m) => (m === 'A' ? [1, 2, 30] : [1, 2, 3]),
      release,
      contracts: { s: requestCheck(verb) },
    });
    for (let i = 0; i < 3; i++) await router.route('s', `r${i}`, Float32Array.from([1, 2, 3, 4]));
    const a = life.allele('s', 'A')!;
    expect(a.state).toBe('recessive');
    expect(a.reason).toMatch(
      /^demoted: 3 consecutive failures \(last: contract: contract line 7 \(gives y: float\[3\] in \[-10, 10\]\): y\[2\] is 30, outside \[-10, 10\]\)$/,
    );
    expect(life.dominant('s')?.model).toBe('B');
    expect(ledger.verify().ok).toBe(true);
  });

  it('end to end: a champion is displaced, becomes recessive, a later resilience check fails the new champion, and the recessive is re-expressed; the ledger verifies throughout', async () => {
    const { ledger, release, life } = await setup();
    const ok = () => expect(ledger.verify().ok).toBe(true);
    // A earned its fitness as champion.
    await life.recordEvidence(immediateEvidence('s', 'A', { passed: true, reasons: [] }));
    await life.recordEvidence(
      convergenceEvidence('s', 'A', { requests: 60, minRequests: 50, agreement: 1, suitesPassed: 1, suitesTotal: 1 }),
    );
    expect(life.allele('s', 'A')!.fitness).toBeCloseTo(0.8, 12);
    ok();
    // B is released, passes its immediate and convergence checks, and displaces A.
    await release.toShadow('s', 'B', 'admitted');
    await life.recordEvidence(immediateEvidence('s', 'B', { passed: true, reasons: [] }));
    await release.toCanary('s', 0.5, 'canary');
    await life.recordEvidence(
      convergenceEvidence('s', 'B', { requests: 60, minRequests: 50, agreement: 0.9, suitesPassed: 1, suitesTotal: 1 }),
    );
    await release.toChampion('s', lead, 'B leads');
    ok();
    expect(life.allele('s', 'A')).toMatchObject({ state: 'recessive', displacedBy: 'B' });
    expect(life.allele('s', 'B')!.fitness).toBeCloseTo(0.3 + 0.5 * 0.95, 12);
    // Later, on fresh user-labelled examples, B fails: credited fitness decays and A is re-expressed.
    const out = await life.recordEvidence(
      resilienceEvidence('s', 'B', { correct: 3, total: 10, drift: 0.1, minAccuracy: 0.8, maxDrift: 0.5 }),
    );
    expect(out.action).toBe('reexpressed');
    expect(out.replacement).toBe('A');
    expect(out.fitness).toBeCloseTo((0.3 + 0.5 * 0.95) * 0.5 + 0.2 * 0.3, 12);
    expect(out.entry.payload).toMatchObject({
      kind: 'resilience',
      passed: false,
      fitnessBefore: expect.closeTo(0.775, 12),
      fitnessAfter: expect.closeTo(0.4475, 12),
    });
    expect(release.current('s').champion).toBe('A');
    const b = life.allele('s', 'B')!;
    expect(b.state).toBe('recessive');
    expect(b.reason).toContain('temporal fitness of "B" fell from 0.7750 to 0.4475, below 0.5, after resilience evidence');
    expect(b.history.map((h) => [h.source, h.fitness])).toEqual([
      ['temporal', expect.closeTo(0.3, 12)],
      ['temporal', expect.closeTo(0.775, 12)],
      ['release', 1],
      ['temporal', expect.closeTo(0.4475, 12)],
      ['release', expect.closeTo(0.4475, 12)],
    ]);
    ok();
    // The replay from the ledger alone gives the same states.
    const replay = readAlleles(ledger.entries()).get('s')!;
    expect(replay.map((x) => [x.model, x.state])).toEqual([
      ['A', 'dominant'],
      ['B', 'recessive'],
    ]);
  });

  it('a failing dominant with no fit recessive is demoted down the fallback stack', async () => {
    const { release, life } = await setup();
    await release.setFallback('s', ['F'], 'a fallback');
    await life.recordEvidence(immediateEvidence('s', 'A', { passed: true, reasons: [] }));
    const out = await life.recordEvidence(
      resilienceEvidence('s', 'A', { correct: 0, total: 10, drift: 0, minAccuracy: 0.8, maxDrift: 0.5 }),
    );
    expect(out).toMatchObject({ action: 'demoted', replacement: 'F' });
    expect(life.allele('s', 'A')).toMatchObject({ state: 'recessive' });
  });

  it('evidence that keeps fitness above the threshold does nothing', async () => {
    const { life } = await setup();
    await life.recordEvidence(immediateEvidence('s', 'A', { passed: true, reasons: [] }));
    await life.recordEvidence(
      convergenceEvidence('s', 'A', { requests: 60, minRequests: 50, agreement: 1, suitesPassed: 1, suitesTotal: 1 }),
    );
    expect(
      (await life.recordEvidence(resilienceEvidence('s', 'A', { correct: 9, total: 10, drift: 0, minAccuracy: 0.8, maxDrift: 0.5 })))
        .action,
    ).toBe('none');
  });
});
