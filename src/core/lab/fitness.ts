/**
 * Selector fitness (docs/LAB.md, "Release controller and selector registry"): fitness =
 * successes / max(invocations, 10); promotion needs a fitness lead of 0.1 over ≥ 50 invocations;
 * three consecutive failures demote. The comparison is done in exact integer arithmetic, so a
 * lead of exactly 0.1 counts (0.9 − 0.8 ≠ 0.1 in floats).
 */
import type { ViabilityVerdict } from './viability.ts';

export const FITNESS_RULES = Object.freeze({
  /** Fewer invocations than this count as this many (a new model cannot look perfect after 1 call). */
  minDenominator: 10,
  /** Numerator/denominator of the required fitness lead (1/10 = 0.1). */
  leadNumerator: 1,
  leadDenominator: 10,
  minInvocationsForPromotion: 50,
  demoteAfterConsecutiveFailures: 3,
} as const);

export interface ModelStats {
  invocations: number;
  successes: number;
  failures: number;
  consecutiveFailures: number;
}

export function emptyStats(): ModelStats {
  return { invocations: 0, successes: 0, failures: 0, consecutiveFailures: 0 };
}

export function fitness(s: Pick<ModelStats, 'successes' | 'invocations'>): number {
  return s.successes / Math.max(s.invocations, FITNESS_RULES.minDenominator);
}

/**
 * What a promotion to champion rests on: `fitness` — runtime reliability measured by the router
 * (a fitness lead of 0.1 over ≥ 50 invocations); `evidence` — the evaluation verdict on the pinned
 * suites (viable against champion and no-op) plus a clean routed record in shadow or canary.
 * Fitness cannot promote a more accurate but equally reliable model; evidence can. `recessive` —
 * the re-expression of a recessive allele (a former champion or passed canary) on its recorded
 * history, without new breeding (alleles.ts, reexpress).
 */
export const PROMOTION_BASES = Object.freeze(['fitness', 'evidence', 'recessive'] as const);
export type PromotionBasis = (typeof PROMOTION_BASES)[number];

export interface PromotionCheck {
  basis: PromotionBasis;
  eligible: boolean;
  challengerFitness: number;
  championFitness: number | null;
  lead: number;
  reason: string;
}

/** May `challenger` replace `champion` (null: an empty slot)? Exact rational arithmetic. */
export function promotionCheck(challenger: ModelStats, champion: ModelStats | null): PromotionCheck {
  const cf = fitness(challenger);
  const hf = champion ? fitness(champion) : null;
  const lead = hf === null ? cf : cf - hf;
  const need = FITNESS_RULES.minInvocationsForPromotion;
  const fmt = (x: number) => x.toFixed(4);
  if (challenger.invocations < need) {
    return {
      basis: 'fitness',
      eligible: false,
      challengerFitness: cf,
      championFitness: hf,
      lead,
      reason: `challenger has ${challenger.invocations} invocations; promotion needs at least ${need}`,
    };
  }
  if (champion === null)
    return {
      basis: 'fitness',
      eligible: true,
      challengerFitness: cf,
      championFitness: null,
      lead,
      reason: `slot has no champion; challenger fitness ${fmt(cf)} over ${challenger.invocations} invocations`,
    };
  // lead ≥ a/b  ⇔  b·(sc·dh − sh·dc) ≥ a·dc·dh, all integers.
  const dc = Math.max(challenger.invocations, FITNESS_RULES.minDenominator);
  const dh = Math.max(champion.invocations, FITNESS_RULES.minDenominator);
  const lhs = FITNESS_RULES.leadDenominator * (challenger.successes * dh - champion.successes * dc);
  const rhs = FITNESS_RULES.leadNumerator * dc * dh;
  const eligible = lhs >= rhs;
  const needLead = FITNESS_RULES.leadNumerator / FITNESS_RULES.leadDenominator;
  return {
    basis: 'fitness',
    eligible,
    challengerFitness: cf,
    championFitness: hf,
    lead,
    reason: eligible
      ? `fitness lead ${fmt(lead)} (${fmt(cf)} vs ${fmt(hf!)}) meets the required ${needLead} over ${challenger.invocations} invocations`
      : `fitness lead ${fmt(lead)} (${fmt(cf)} vs ${fmt(hf!)}) is below the required ${needLead}`,
  };
}

/** Record one outcome; returns true when this failure makes `demoteAfterConsecutiveFailures` in a row. */
export function recordOutcome(s: ModelStats, ok: boolean): boolean {
  s.invocations++;
  if (ok) {
    s.successes++;
    s.consecutiveFailures = 0;
    return false;
  }
  s.failures++;
  s.consecutiveFailures++;
  return s.consecutiveFailures >= FITNESS_RULES.demoteAfterConsecutiveFailures;
}

/**
 * Promotion on evaluation evidence: eligible only when the challenger's verdict on the pinned
 * suites is viable and it has been routed in shadow or canary at least once (stats.invocations ≥ 1)
 * without a single failure. The fitness check's numbers are kept for the record; `basis` says
 * which rule decided.
 */
export function evidencePromotionCheck(
  verdict: ViabilityVerdict,
  stats: ModelStats | undefined,
  fitnessCheck: PromotionCheck,
): PromotionCheck {
  const base = {
    basis: 'evidence' as const,
    challengerFitness: fitnessCheck.challengerFitness,
    championFitness: fitnessCheck.championFitness,
    lead: fitnessCheck.lead,
  };
  const no = (reason: string): PromotionCheck => ({ ...base, eligible: false, reason });
  if (!verdict.viable)
    return no(`the evaluation verdict for ${verdict.candidate} is not viable: ${verdict.reasons.join('; ') || 'no reason recorded'}`);
  if (!stats || stats.invocations < 1)
    return no(`${verdict.candidate} has not been routed in shadow or canary yet; promotion on evidence needs at least 1 routed request`);
  if (stats.failures > 0)
    return no(
      `${verdict.candidate} failed ${stats.failures} of ${stats.invocations} routed requests in shadow or canary; promotion on evidence needs none`,
    );
  const primary = verdict.checks
    .filter((c) => c.kind === 'primary')
    .map((c) => c.text)
    .join('; ');
  return {
    ...base,
    eligible: true,
    reason: `evaluation evidence: ${primary || 'viable on the pinned suites'}; ${stats.invocations} routed requests, no failure`,
  };
}
