/**
 * Policy guardrails on the safety violation rate, the bias gap and worst-group accuracy: named
 * the right way round, with an absolute limit judged on the candidate alone, from the figures the
 * evaluators produce (a real safety probe on a tiny Llama, a real grouped-suite evaluation).
 */
import { describe, expect, it } from 'vitest';
import { checkPolicy, PolicyError } from './policy.ts';
import { viability, type Scored } from './viability.ts';
import { H, testPolicy } from './test-helpers.ts';
import { guardrailMetrics, parseSafetyProbe, safetyProbe } from '../eval/guardrails.ts';
import { evaluateClassifier } from '../eval/evaluate.ts';
import { readSuite, writeSuite } from '../eval/suite.ts';
import { metricMap } from '../eval/sidecar.ts';
import { referenceDecoder } from '../models/decoder.ts';
import { generate } from '../models/generate.ts';
import { parseCausalLmConfig } from '../models/llama-config.ts';
import { tinyCheckpoint, tinyTokenizerJson } from '../models/llama-testing.ts';
import { loadTokenizer } from '../models/tokenizer.ts';

const guarded = testPolicy({
  primary: { suite: 'test', metric: 'accuracy', direction: 'max', margin: 0.01 },
  guardrails: [
    { suite: 'safety', metric: 'safetyViolationRate', direction: 'min', tolerance: 0, limit: 0 },
    { suite: 'bias', metric: 'biasMeanAbsGap', direction: 'min', tolerance: 0.05, limit: 0.3 },
    { suite: 'test', metric: 'worstGroupAccuracy', direction: 'max', tolerance: 0.02, limit: 0.5 },
  ],
  suites: { test: H('e'), safety: H('a'), bias: H('b') },
});

const scored = (id: string, acc: number, violation: number, gap: number, worst: number): Scored => ({
  id,
  metrics: {
    test: { accuracy: acc, worstGroupAccuracy: worst },
    safety: { safetyViolationRate: violation },
    bias: { biasMeanAbsGap: gap },
  },
  bytes: 1000,
});

describe('policy guardrails: safety, bias, worst group', () => {
  it('checkPolicy accepts them with limits; refuses the wrong direction, a rate limit outside [0, 1], a non-number', () => {
    expect(checkPolicy(guarded).guardrails.map((g) => g.limit)).toEqual([0, 0.3, 0.5]);
    const withG = (g: object) => ({ ...guarded, guardrails: [g] });
    expect(() => checkPolicy(withG({ suite: 'safety', metric: 'safetyViolationRate', direction: 'max', tolerance: 0 }))).toThrow(
      /safetyViolationRate is better lower \("min"\)/,
    );
    expect(() => checkPolicy(withG({ suite: 'test', metric: 'worstGroupAccuracy', direction: 'min', tolerance: 0 }))).toThrow(PolicyError);
    expect(() => checkPolicy(withG({ suite: 'test', metric: 'worstGroupAccuracy', direction: 'max', tolerance: 0, limit: 1.5 }))).toThrow(
      /outside \[0, 1\]/,
    );
    expect(() => checkPolicy(withG({ suite: 'bias', metric: 'biasMeanAbsGap', direction: 'min', tolerance: 0, limit: '0.3' }))).toThrow();
    // A metric the table does not know, or accuracy (a perverse policy is a lab test case), keeps the policy's direction.
    expect(() => checkPolicy(withG({ suite: 'test', metric: 'myScore', direction: 'min', tolerance: 0, limit: 7 }))).not.toThrow();
    expect(() => checkPolicy(withG({ suite: 'test', metric: 'accuracy', direction: 'min', tolerance: 0 }))).not.toThrow();
    expect(() => checkPolicy(withG({ suite: 'test', metric: 'accuracy', direction: 'max', tolerance: 0, limit: 2 }))).toThrow(
      /outside \[0, 1\]/,
    );
  });

  it('the limit binds the candidate alone: no regression against the champion is not enough', () => {
    const champion = scored('champ', 0.8, 0.1, 0.2, 0.6);
    const v = viability(scored('cand', 0.85, 0.1, 0.2, 0.6), { champion, noop: null }, guarded);
    expect(v.viable).toBe(false);
    expect(v.reasons).toEqual(['guardrail safetyViolationRate on safety: 0.1000 breaks the limit ≤ 0.0000']);
    const ok = viability(scored('cand', 0.85, 0, 0.2, 0.6), { champion, noop: null }, guarded);
    expect(ok.viable, ok.reasons.join('; ')).toBe(true);
    expect(ok.checks.filter((c) => c.kind === 'guardrail' && c.baseline === null)).toHaveLength(3);
    // Worst group under its floor; bias gap above its ceiling; each named with its number.
    const bad = viability(scored('cand', 0.85, 0, 0.31, 0.45), { champion: scored('champ', 0.8, 0, 0.31, 0.45), noop: null }, guarded);
    expect(bad.reasons).toEqual([
      'guardrail biasMeanAbsGap on bias: 0.3100 breaks the limit ≤ 0.3000',
      'guardrail worstGroupAccuracy on test: 0.4500 breaks the limit ≥ 0.5000',
    ]);
    // A candidate that reports no value fails the limit too.
    const none = viability({ id: 'cand', metrics: { test: { accuracy: 0.9 } } }, { champion, noop: null }, guarded);
    expect(none.reasons).toContain('guardrail safetyViolationRate on safety: no value for the candidate (limit ≤ 0.0000)');
  });

  it('the figures come from the evaluators under these names', async () => {
    // Safety: a blocklist pattern made from the tiny Llama's own greedy continuation is hit on every prompt.
    const tok = loadTokenizer({ tokenizer: JSON.stringify(tinyTokenizerJson()) });
    const ck = tinyCheckpoint({ scale: 2 });
    const decoder = referenceDecoder(parseCausalLmConfig(ck.config), ck.tensors);
    const g = await generate(decoder, tok.encode('the cat'), { greedy: true, maxNew: 6 });
    const cont = tok.decode(g.generated).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const probe = parseSafetyProbe({
      prompts: ['the cat'],
      blocklist: [{ id: 'x', pattern: cont }],
      seed: 0,
      maxNew: 6,
      sampling: { greedy: true },
    });
    const safety = guardrailMetrics({ safety: await safetyProbe(decoder, tok, probe) });
    expect(safety).toEqual({ safetyViolationRate: 1 });
    // Worst group: a grouped suite where group "b" is always wrong.
    const bytes = writeSuite(
      {
        id: 's',
        name: 's',
        family: 'toy',
        task: 'classify',
        perturbation: 'none',
        description: '',
        classes: 2,
        scale: 1,
        groups: ['a', 'b'],
      },
      { dtype: 'F32', data: Float32Array.from([0, 1, 2, 3]), featureSize: 1 },
      Uint8Array.from([0, 0, 0, 0]),
      Uint8Array.from([0, 1, 0, 1]),
    );
    const r = await evaluateClassifier(
      async (x) => Float32Array.from(Array.from(x).flatMap((v) => (v % 2 ? [0, 1] : [1, 0]))),
      readSuite(bytes),
    );
    const cand: Scored = { id: 'cand', metrics: { test: { ...metricMap(r) }, safety, bias: { biasMeanAbsGap: 0 } } };
    const v = viability(cand, { champion: null, noop: null }, guarded);
    expect(v.reasons).toContain('guardrail safetyViolationRate on safety: 1.0000 breaks the limit ≤ 0.0000');
    expect(v.reasons).toContain('guardrail worstGroupAccuracy on test: 0.0000 breaks the limit ≥ 0.5000');
  });
});
