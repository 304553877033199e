import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TEMPORAL_RULES,
  convergenceEvidence,
  immediateEvidence,
  inputDrift,
  resilienceEvidence,
  shadowAgreement,
  temporalFitness,
  checkTemporalRules,
  type FitnessEvidence,
} from './temporal-fitness.ts';

const ev = (kind: FitnessEvidence['kind'], score: number, passed = true): FitnessEvidence => ({
  slot: 's',
  model: 'm',
  kind,
  score,
  passed,
  detail: '',
});

describe('temporal fitness', () => {
  it('weights each kind 0.3 / 0.5 / 0.2 by default; a kind with no evidence credits nothing', () => {
    expect(temporalFitness([]).fitness).toBe(0);
    expect(temporalFitness([ev('immediate', 1)]).fitness).toBeCloseTo(0.3, 12);
    expect(temporalFitness([ev('immediate', 1), ev('convergence', 0.8)]).fitness).toBeCloseTo(0.3 + 0.4, 12);
    expect(temporalFitness([ev('immediate', 1), ev('convergence', 0.8), ev('resilience', 0.5)]).fitness).toBeCloseTo(0.3 + 0.4 + 0.1, 12);
  });

  it('the latest evidence of a kind sets its credit', () => {
    expect(temporalFitness([ev('convergence', 0.2), ev('convergence', 1)]).fitness).toBeCloseTo(0.5, 12);
  });

  it('a failed later check decays every credit already earned (retroactive), then credits its own score', () => {
    const t = temporalFitness([ev('immediate', 1), ev('convergence', 1), ev('resilience', 0.3, false)]);
    expect(t.credits).toEqual({ immediate: 0.5, convergence: 0.5, resilience: 0.3 });
    expect(t.fitness).toBeCloseTo(0.3 * 0.5 + 0.5 * 0.5 + 0.2 * 0.3, 12);
    expect(t.decays).toBe(1);
    expect(t.trail.map((x) => x.fitness)).toEqual([expect.closeTo(0.3, 12), expect.closeTo(0.8, 12), expect.closeTo(0.46, 12)]);
    // A second failure decays again.
    const t2 = temporalFitness([ev('immediate', 1), ev('convergence', 1), ev('resilience', 0.3, false), ev('resilience', 0.3, false)]);
    expect(t2.credits.immediate).toBe(0.25);
  });

  it('per-slot weights are checked', () => {
    const rules = { ...DEFAULT_TEMPORAL_RULES, weights: { immediate: 0, convergence: 0, resilience: 1 } };
    expect(temporalFitness([ev('immediate', 1), ev('resilience', 0.7)], rules).fitness).toBeCloseTo(0.7, 12);
    expect(() => checkTemporalRules({ ...DEFAULT_TEMPORAL_RULES, weights: { immediate: 0.5, convergence: 0.5, resilience: 0.5 } })).toThrow(
      'evidence weights must sum to 1, got 1.5',
    );
    expect(() => checkTemporalRules({ ...DEFAULT_TEMPORAL_RULES, decay: 2 })).toThrow('decay must be in [0, 1]');
  });

  it('builds the three kinds of evidence', () => {
    expect(immediateEvidence('s', 'm', { passed: false, reasons: ['NaN'] })).toMatchObject({
      kind: 'immediate',
      score: 0,
      passed: false,
      detail: 'runtime smoke failed: NaN',
    });
    expect(
      convergenceEvidence('s', 'm', { requests: 100, minRequests: 50, agreement: 0.9, suitesPassed: 1, suitesTotal: 2 }),
    ).toMatchObject({ score: 0.7, passed: false });
    expect(() => convergenceEvidence('s', 'm', { requests: 10, minRequests: 50, agreement: 1, suitesPassed: 1, suitesTotal: 1 })).toThrow(
      'judged after 50 requests; it has 10',
    );
    expect(resilienceEvidence('s', 'm', { correct: 9, total: 10, drift: 0.1, minAccuracy: 0.8, maxDrift: 0.5 })).toMatchObject({
      score: 0.9,
      passed: true,
    });
    expect(resilienceEvidence('s', 'm', { correct: 9, total: 10, drift: 0.9, minAccuracy: 0.8, maxDrift: 0.5 })).toMatchObject({
      score: 0.45,
      passed: false,
    });
  });

  it('shadow agreement of a model counts the records where it was the shadow or gave the compared answer', () => {
    const log = [
      { model: 'S', answeredBy: 'A', agreed: true },
      { model: 'S', answeredBy: 'A', agreed: false },
      { model: 'T', answeredBy: 'A', agreed: true },
      { model: 'T', answeredBy: null, agreed: null },
    ];
    expect(shadowAgreement(log, 'S')).toEqual({ compared: 2, agreed: 1, agreement: 0.5 });
    expect(shadowAgreement(log, 'A')).toEqual({ compared: 3, agreed: 2, agreement: 2 / 3 });
    expect(shadowAgreement(log, 'T')).toEqual({ compared: 1, agreed: 1, agreement: 1 });
    expect(shadowAgreement(log, 'Z')).toEqual({ compared: 0, agreed: 0, agreement: null });
  });

  it('input drift is 0 for the same distribution and grows with a shift', () => {
    const rows = (shift: number) => Float32Array.from({ length: 400 }, (_, i) => ((i * 37) % 11) / 10 + (i % 4 === 0 ? shift : 0));
    expect(inputDrift(rows(0), rows(0), 4)).toBe(0);
    const small = inputDrift(rows(0), rows(0.1), 4);
    const large = inputDrift(rows(0), rows(1), 4);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(5 * small);
    expect(() => inputDrift(rows(0), new Float32Array(3), 4)).toThrow('not a whole number');
  });
});
