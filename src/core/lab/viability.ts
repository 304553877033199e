/**
 * The viability controller: a candidate must beat each baseline (the champion, and no-op: the best
 * parent unchanged) on the primary objective by the policy margin, regress no guardrail beyond its
 * tolerance, and stay under every resource ceiling. Every check keeps the numbers that decided it,
 * so a no-op decision can always say why.
 */
import type { Direction, Metrics, Policy } from '../manifest/kinds.ts';

/** A scored model: metrics per policy suite name, plus resource figures. */
export interface Scored {
  id: string;
  /** suite name (as pinned in policy) → metric name → value */
  metrics: Record<string, Metrics>;
  bytes?: number;
  breedMs?: number;
}

export const BASELINES = Object.freeze(['champion', 'no-op'] as const);
export type Baseline = (typeof BASELINES)[number];

export interface Check {
  kind: 'primary' | 'guardrail' | 'ceiling';
  baseline: Baseline | null;
  baselineId: string | null;
  suite: string | null;
  metric: string;
  candidate: number | null;
  reference: number | null;
  /** Signed improvement in the objective's direction (candidate − reference for max, reference − candidate for min). */
  delta: number | null;
  /** Margin (primary), −tolerance (guardrail) or the ceiling. */
  threshold: number;
  passed: boolean;
  text: string;
}

export interface ViabilityVerdict {
  candidate: string;
  viable: boolean;
  checks: Check[];
  /** The failed checks' texts; empty when viable. */
  reasons: string[];
}

/** Float slack so that a gain of exactly the margin passes (0.95 − 0.9 < 0.05 in floats). */
export const VIABILITY_EPSILON = 1e-9;

const f = (x: number) => (Number.isInteger(x) && Math.abs(x) >= 10 ? String(x) : x.toFixed(4));
const sgn = (x: number) => (x >= 0 ? '+' : '−') + f(Math.abs(x));

function improvement(dir: Direction, cand: number, ref: number): number {
  return dir === 'max' ? cand - ref : ref - cand;
}

function metric(s: Scored, suite: string, name: string): number | null {
  const v = s.metrics[suite]?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function viability(
  candidate: Scored,
  baselines: { champion: Scored | null; noop: Scored | null },
  policy: Policy,
): ViabilityVerdict {
  const checks: Check[] = [];
  const refs: [Baseline, Scored][] = [];
  if (baselines.champion) refs.push(['champion', baselines.champion]);
  if (baselines.noop && baselines.noop.id !== baselines.champion?.id) refs.push(['no-op', baselines.noop]);
  const p = policy.primary;
  const cp = metric(candidate, p.suite, p.metric);

  for (const [baseline, ref] of refs) {
    const rp = metric(ref, p.suite, p.metric);
    const label = `${baseline} ${ref.id.slice(0, 12)}`;
    if (cp === null || rp === null) {
      checks.push({
        kind: 'primary',
        baseline,
        baselineId: ref.id,
        suite: p.suite,
        metric: p.metric,
        candidate: cp,
        reference: rp,
        delta: null,
        threshold: p.margin,
        passed: false,
        text: `no ${p.metric} on suite ${p.suite} for ${cp === null ? 'the candidate' : label}`,
      });
    } else {
      const delta = improvement(p.direction, cp, rp);
      const passed = delta + VIABILITY_EPSILON >= p.margin;
      checks.push({
        kind: 'primary',
        baseline,
        baselineId: ref.id,
        suite: p.suite,
        metric: p.metric,
        candidate: cp,
        reference: rp,
        delta,
        threshold: p.margin,
        passed,
        text: `${p.metric} on ${p.suite}: ${f(cp)} vs ${label} ${f(rp)}, gain ${sgn(delta)} ${passed ? 'meets' : 'is below'} the margin ${f(p.margin)}`,
      });
    }
    for (const g of policy.guardrails) {
      const c = metric(candidate, g.suite, g.metric);
      const r = metric(ref, g.suite, g.metric);
      if (c === null || r === null) {
        checks.push({
          kind: 'guardrail',
          baseline,
          baselineId: ref.id,
          suite: g.suite,
          metric: g.metric,
          candidate: c,
          reference: r,
          delta: null,
          threshold: -g.tolerance,
          passed: false,
          text: `guardrail ${g.metric} on ${g.suite}: no value for ${c === null ? 'the candidate' : label}`,
        });
        continue;
      }
      const delta = improvement(g.direction, c, r);
      const passed = delta + VIABILITY_EPSILON >= -g.tolerance;
      checks.push({
        kind: 'guardrail',
        baseline,
        baselineId: ref.id,
        suite: g.suite,
        metric: g.metric,
        candidate: c,
        reference: r,
        delta,
        threshold: -g.tolerance,
        passed,
        text: passed
          ? `guardrail ${g.metric} on ${g.suite}: ${f(c)} vs ${label} ${f(r)} (${delta >= 0 ? `no regression, ${g.direction === 'max' ? 'up' : 'down'} ${f(Math.abs(c - r))}` : `a regression of ${f(-delta)} within the tolerance ${f(g.tolerance)}`})`
          : `guardrail ${g.metric} on ${g.suite} regressed: ${f(c)} vs ${label} ${f(r)}, a regression of ${f(-delta)} beyond the tolerance ${f(g.tolerance)}`,
      });
    }
  }
  for (const g of policy.guardrails) if (g.limit !== undefined) checks.push(guardrailLimit(candidate, g, g.limit));
  if (!refs.length) {
    checks.push({
      kind: 'primary',
      baseline: null,
      baselineId: null,
      suite: p.suite,
      metric: p.metric,
      candidate: cp,
      reference: null,
      delta: null,
      threshold: p.margin,
      passed: false,
      text: 'no champion and no no-op baseline to compare with',
    });
  }

  const c = policy.ceilings;
  const ceiling = (metricName: string, value: number | null | undefined, limit: number | undefined, unit: string) => {
    if (limit === undefined) return;
    const passed = typeof value === 'number' && value <= limit;
    checks.push({
      kind: 'ceiling',
      baseline: null,
      baselineId: null,
      suite: null,
      metric: metricName,
      candidate: value ?? null,
      reference: null,
      delta: null,
      threshold: limit,
      passed,
      text:
        typeof value !== 'number'
          ? `resource ceiling ${metricName}: the candidate reports no value (ceiling ${f(limit)} ${unit})`
          : `resource ceiling ${metricName}: ${f(value)} ${unit} ${passed ? 'within' : 'exceeds'} the ceiling ${f(limit)} ${unit}`,
    });
  };
  ceiling('bytes', candidate.bytes, c.maxBytes, 'bytes');
  ceiling('latencyMs', metric(candidate, p.suite, 'latencyMs'), c.maxLatencyMs, 'ms');
  ceiling('breedMs', candidate.breedMs, c.maxBreedMs, 'ms');

  const reasons = checks.filter((k) => !k.passed).map((k) => k.text);
  return { candidate: candidate.id, viable: reasons.length === 0, checks, reasons };
}

/** A guardrail's absolute bound on the candidate alone (policy `limit`): ≥ limit for "max", ≤ limit for "min". */
function guardrailLimit(candidate: Scored, g: Policy['guardrails'][number], limit: number): Check {
  const c = metric(candidate, g.suite, g.metric);
  const delta = c === null ? null : improvement(g.direction, c, limit);
  const passed = delta !== null && delta + VIABILITY_EPSILON >= 0;
  const bound = `${g.direction === 'max' ? '≥' : '≤'} ${f(limit)}`;
  return {
    kind: 'guardrail',
    baseline: null,
    baselineId: null,
    suite: g.suite,
    metric: g.metric,
    candidate: c,
    reference: limit,
    delta,
    threshold: 0,
    passed,
    text:
      c === null
        ? `guardrail ${g.metric} on ${g.suite}: no value for the candidate (limit ${bound})`
        : `guardrail ${g.metric} on ${g.suite}: ${f(c)} ${passed ? 'within' : 'breaks'} the limit ${bound}`,
  };
}

/** Order viable candidates: largest primary gain over the strongest baseline first, id as tie-break. */
export function primaryGain(v: ViabilityVerdict): number {
  const gains = v.checks.filter((k) => k.kind === 'primary' && k.delta !== null).map((k) => k.delta!);
  return gains.length ? Math.min(...gains) : -Infinity;
}

/**
 * The no-op baseline: the best of the scored parents, unchanged, by the policy's primary metric on
 * the primary suite in the primary direction (max or min). A parent without the metric ranks last;
 * ties keep the earlier parent. null when there is no parent.
 */
export function noopBaseline(scored: readonly Scored[], policy: Pick<Policy, 'primary'>): Scored | null {
  const p = policy.primary;
  let best: Scored | null = null;
  let bestValue: number | null = null;
  for (const s of scored) {
    const v = metric(s, p.suite, p.metric);
    const better = best === null || (v !== null && (bestValue === null || (p.direction === 'max' ? v > bestValue : v < bestValue)));
    if (better) {
      best = s;
      bestValue = v;
    }
  }
  return best;
}
