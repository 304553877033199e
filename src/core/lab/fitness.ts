/**
 * Selector fitness (DESIGN.md §8): fitness = successes / max(invocations, 10); promotion needs a
 * fitness lead of 0.1 over ≥ 50 invocations; three consecutive failures demote. The comparison is
 * done in exact integer arithmetic, so a lead of exactly 0.1 counts (0.9 − 0.8 ≠ 0.1 in floats).
 */
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

export interface PromotionCheck {
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
    return { eligible: false, challengerFitness: cf, championFitness: hf, lead, reason: `challenger has ${challenger.invocations} invocations; promotion needs at least ${need}` };
  }
  if (champion === null) return { eligible: true, challengerFitness: cf, championFitness: null, lead, reason: `slot has no champion; challenger fitness ${fmt(cf)} over ${challenger.invocations} invocations` };
  // lead ≥ a/b  ⇔  b·(sc·dh − sh·dc) ≥ a·dc·dh, all integers.
  const dc = Math.max(challenger.invocations, FITNESS_RULES.minDenominator);
  const dh = Math.max(champion.invocations, FITNESS_RULES.minDenominator);
  const lhs = FITNESS_RULES.leadDenominator * (challenger.successes * dh - champion.successes * dc);
  const rhs = FITNESS_RULES.leadNumerator * dc * dh;
  const eligible = lhs >= rhs;
  const needLead = FITNESS_RULES.leadNumerator / FITNESS_RULES.leadDenominator;
  return {
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
  return s.consecutiveFailures === FITNESS_RULES.demoteAfterConsecutiveFailures;
}
