import { describe, expect, it } from 'vitest';
import { noopBaseline, viability, type Scored } from './viability.ts';
import { rng, testPolicy } from './test-helpers.ts';

const model = (id: string, acc: number, ece: number, robust: number, bytes = 1000): Scored => ({
  id,
  metrics: { test: { accuracy: acc, ece }, robust: { accuracy: robust } },
  bytes,
});

describe('viability', () => {
  const policy = testPolicy();
  const champion = model('champ', 0.9, 0.05, 0.8);

  it('rejects a guardrail regression beyond tolerance, with the numbers', () => {
    const v = viability(model('cand', 0.95, 0.05, 0.74), { champion, noop: null }, policy);
    expect(v.viable).toBe(false);
    expect(v.reasons).toHaveLength(1);
    expect(v.reasons[0]).toBe(
      'guardrail accuracy on robust regressed: 0.7400 vs champion champ 0.8000, a regression of 0.0600 beyond the tolerance 0.0300',
    );
    const g = v.checks.find((c) => c.kind === 'guardrail' && c.suite === 'robust')!;
    expect(g).toMatchObject({ candidate: 0.74, reference: 0.8, threshold: -0.03, passed: false });
    expect(g.delta).toBeCloseTo(-0.06, 12);
    // A min-direction guardrail (ece) regresses when it goes up.
    const v2 = viability(model('cand', 0.95, 0.08, 0.8), { champion, noop: null }, policy);
    expect(v2.reasons[0]).toMatch(
      /^guardrail ece on test regressed: 0\.0800 vs champion champ 0\.0500, a regression of 0\.0300 beyond the tolerance 0\.0200$/,
    );
  });

  it('a regression within tolerance passes', () => {
    const v = viability(model('cand', 0.95, 0.06, 0.78), { champion, noop: null }, policy);
    expect(v.viable).toBe(true);
  });

  it('a gain below the margin is a no-op that names the numbers', () => {
    const v = viability(model('cand', 0.905, 0.05, 0.8), { champion, noop: null }, policy);
    expect(v.viable).toBe(false);
    expect(v.reasons).toEqual(['accuracy on test: 0.9050 vs champion champ 0.9000, gain +0.0050 is below the margin 0.0100']);
  });

  it('a gain of exactly the margin passes (float slack)', () => {
    expect(viability(model('cand', 0.91, 0.05, 0.8), { champion, noop: null }, policy).viable).toBe(true);
    expect(viability(model('cand', 0.9099, 0.05, 0.8), { champion, noop: null }, policy).viable).toBe(false);
  });

  it('must beat no-op (the best parent unchanged) as well as the champion', () => {
    const noop = model('parent', 0.93, 0.05, 0.8);
    const v = viability(model('cand', 0.935, 0.05, 0.8), { champion, noop }, policy);
    expect(v.viable).toBe(false);
    expect(v.reasons).toEqual(['accuracy on test: 0.9350 vs no-op parent 0.9300, gain +0.0050 is below the margin 0.0100']);
  });

  it('enforces resource ceilings', () => {
    const v = viability(model('cand', 0.95, 0.05, 0.8, 2_000_000), { champion, noop: null }, policy);
    expect(v.reasons).toEqual(['resource ceiling bytes: 2000000 bytes exceeds the ceiling 1000000 bytes']);
  });

  it('missing metrics fail with a reason rather than pass', () => {
    const v = viability({ id: 'cand', metrics: { test: { accuracy: 0.99 } }, bytes: 1 }, { champion, noop: null }, policy);
    expect(v.viable).toBe(false);
    expect(v.reasons.join('\n')).toMatch(/guardrail ece on test: no value for the candidate/);
  });

  it('property: viable exactly when every gain meets the margin and no guardrail regresses beyond tolerance', () => {
    const r = rng(9);
    for (let t = 0; t < 500; t++) {
      const c = model('c', r(), r() * 0.1, r());
      const h = model('h', r(), r() * 0.1, r());
      const v = viability(c, { champion: h, noop: null }, policy);
      const expected =
        c.metrics.test.accuracy - h.metrics.test.accuracy >= 0.01 - 1e-9 &&
        h.metrics.test.ece - c.metrics.test.ece >= -0.02 - 1e-9 &&
        c.metrics.robust.accuracy - h.metrics.robust.accuracy >= -0.03 - 1e-9;
      expect(v.viable).toBe(expected);
      expect(v.reasons.length === 0).toBe(expected);
    }
  });

  it('noopBaseline picks the best parent by the primary metric in the primary direction', () => {
    const r = rng(4);
    for (let t = 0; t < 40; t++) {
      const n = 1 + Math.floor(r() * 6);
      const parents: Scored[] = Array.from({ length: n }, (_, i) => ({
        id: `P${i}`,
        metrics: { test: { accuracy: Math.round(r() * 100) / 100, ece: r() } },
      }));
      for (const direction of ['max', 'min'] as const) {
        const policy = testPolicy({ primary: { suite: 'test', metric: 'accuracy', direction, margin: 0.01 } });
        const best = noopBaseline(parents, policy)!;
        const values = parents.map((p) => p.metrics.test.accuracy);
        const want = direction === 'max' ? Math.max(...values) : Math.min(...values);
        expect(best.metrics.test.accuracy).toBe(want);
        expect(best).toBe(parents[values.indexOf(want)]);
      }
    }
    expect(noopBaseline([], testPolicy())).toBeNull();
    // A parent without the metric ranks last, whatever the direction.
    const missing: Scored = { id: 'M', metrics: {} };
    const low: Scored = { id: 'L', metrics: { test: { accuracy: 0.1 } } };
    expect(
      noopBaseline([missing, low], testPolicy({ primary: { suite: 'test', metric: 'accuracy', direction: 'min', margin: 0 } }))!.id,
    ).toBe('L');
  });
});
