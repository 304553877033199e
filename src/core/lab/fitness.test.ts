import { describe, expect, it } from 'vitest';
import { FITNESS_RULES, emptyStats, evidencePromotionCheck, fitness, promotionCheck, recordOutcome, type ModelStats } from './fitness.ts';
import { rng } from './test-helpers.ts';

const stats = (successes: number, invocations: number): ModelStats => ({
  invocations,
  successes,
  failures: invocations - successes,
  consecutiveFailures: 0,
});

describe('fitness', () => {
  it('divides by max(invocations, 10) at 9, 10 and 11 invocations', () => {
    expect(fitness(stats(9, 9))).toBe(0.9);
    expect(fitness(stats(10, 10))).toBe(1);
    expect(fitness(stats(11, 11))).toBe(1);
    expect(fitness(stats(0, 0))).toBe(0);
    expect(fitness(stats(1, 1))).toBe(0.1);
    expect(fitness(stats(10, 11))).toBeCloseTo(10 / 11, 15);
  });

  it('a lead of exactly 0.1 is enough; just under is not (exact arithmetic)', () => {
    // 0.9 − 0.8 is 0.09999999999999998 in floats; the rule must still see 0.1.
    expect(promotionCheck(stats(45, 50), stats(40, 50)).eligible).toBe(true);
    expect(promotionCheck(stats(90, 100), stats(80, 100)).eligible).toBe(true);
    expect(promotionCheck(stats(89, 100), stats(80, 100)).eligible).toBe(false);
    expect(promotionCheck(stats(54, 60), stats(40, 50)).eligible).toBe(true); // 0.9 vs 0.8
    expect(promotionCheck(stats(53, 60), stats(40, 50)).eligible).toBe(false);
  });

  it('needs at least 50 invocations: 49 is refused, 50 is enough', () => {
    const c49 = promotionCheck(stats(49, 49), stats(5, 10));
    expect(c49.eligible).toBe(false);
    expect(c49.reason).toMatch(/49 invocations; promotion needs at least 50/);
    expect(promotionCheck(stats(50, 50), stats(5, 10)).eligible).toBe(true);
  });

  it('an empty slot takes a challenger with 50 invocations', () => {
    expect(promotionCheck(stats(30, 50), null).eligible).toBe(true);
    expect(promotionCheck(stats(30, 49), null).eligible).toBe(false);
  });

  it('agrees with the rational rule on seeded random counts', () => {
    const r = rng(42);
    for (let t = 0; t < 2000; t++) {
      const nc = Math.floor(r() * 120);
      const nh = Math.floor(r() * 120);
      const c = stats(Math.floor(r() * (nc + 1)), nc);
      const h = stats(Math.floor(r() * (nh + 1)), nh);
      const dc = Math.max(nc, 10);
      const dh = Math.max(nh, 10);
      // lead ≥ 1/10 ⇔ 10·(sc·dh − sh·dc) ≥ dc·dh; compare with a float check away from the boundary.
      const lead = c.successes / dc - h.successes / dh;
      const got = promotionCheck(c, h).eligible;
      if (nc < 50) expect(got).toBe(false);
      else if (Math.abs(lead - 0.1) > 1e-9) expect(got).toBe(lead > 0.1);
    }
  });

  it('three consecutive failures signal demotion; a success resets the run', () => {
    const s = emptyStats();
    expect(recordOutcome(s, false)).toBe(false);
    expect(recordOutcome(s, false)).toBe(false);
    expect(recordOutcome(s, true)).toBe(false);
    expect(recordOutcome(s, false)).toBe(false);
    expect(recordOutcome(s, false)).toBe(false);
    expect(recordOutcome(s, false)).toBe(true);
    expect(s).toEqual({ invocations: 6, successes: 1, failures: 5, consecutiveFailures: FITNESS_RULES.demoteAfterConsecutiveFailures });
  });

  it('evidence promotion: viable verdict, routed at least once, zero failures; otherwise the reason', () => {
    const fit = promotionCheck(stats(3, 3), stats(3, 3));
    const check = {
      kind: 'primary' as const,
      baseline: 'no-op' as const,
      baselineId: 'P',
      suite: 'mixed',
      metric: 'accuracy',
      candidate: 0.9,
      reference: 0.8,
      delta: 0.1,
      threshold: 0.01,
      passed: true,
      text: 'accuracy on mixed: 0.9000 vs no-op P 0.8000, gain +0.1000',
    };
    const viable = { candidate: 'C', viable: true, checks: [check], reasons: [] };
    const r = rng(9);
    for (let i = 0; i < 50; i++) {
      const inv = 1 + Math.floor(r() * 40);
      const fails = r() < 0.5 ? 0 : 1 + Math.floor(r() * inv);
      const s: ModelStats = {
        invocations: inv,
        successes: inv - Math.min(fails, inv),
        failures: Math.min(fails, inv),
        consecutiveFailures: 0,
      };
      const c = evidencePromotionCheck(viable, s, fit);
      expect(c.basis).toBe('evidence');
      expect(c.eligible).toBe(s.failures === 0);
      expect(c.challengerFitness).toBe(fit.challengerFitness);
      if (!c.eligible) expect(c.reason).toMatch(new RegExp(`^C failed ${s.failures} of ${inv} routed requests`));
      else
        expect(c.reason).toMatch(
          /^evaluation evidence: accuracy on mixed: 0\.9000 vs no-op P 0\.8000, gain \+0\.1000; \d+ routed requests, no failure$/,
        );
    }
    expect(evidencePromotionCheck(viable, undefined, fit)).toMatchObject({
      eligible: false,
      reason: expect.stringMatching(/has not been routed in shadow or canary yet/),
    });
    expect(evidencePromotionCheck(viable, emptyStats(), fit).eligible).toBe(false);
    expect(evidencePromotionCheck({ ...viable, viable: false, reasons: ['guardrail x regressed'] }, stats(5, 5), fit)).toMatchObject({
      eligible: false,
      reason: 'the evaluation verdict for C is not viable: guardrail x regressed',
    });
  });

  it('recordOutcome reports a run of at least three failures (>=, so a missed reset still demotes)', () => {
    const s = emptyStats();
    expect([recordOutcome(s, false), recordOutcome(s, false), recordOutcome(s, false), recordOutcome(s, false)]).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });
});
