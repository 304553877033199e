/**
 * Temporal fitness with retroactive decay. A release is judged three times, and each judgement is a
 * `fitness-evidence` ledger entry:
 *   immediate   — the runtime smoke when it is released (loads, finite outputs of the contract's shape);
 *   convergence — after N routed requests: the suites and the shadow's agreement with the answer;
 *   resilience  — later: a re-check on fresh user-labelled examples, and the drift of the input
 *                 distribution since release.
 * Fitness = Σ weight(kind) · credit(kind) over the three kinds (default weights 0.3 / 0.5 / 0.2, per
 * slot); a kind with no evidence yet credits 0, so fitness is earned as evidence arrives. The latest
 * evidence of a kind sets its credit. A failed check is retroactive: before it is credited, every
 * credit already earned is multiplied by the decay (default 0.5), so a model that degrades later
 * loses fitness it was already given. A dominant allele whose fitness falls below `demoteBelow`
 * (default 0.5) is displaced (alleles.ts).
 */
import type { LedgerEntry } from '../manifest/kinds.ts';

export const EVIDENCE_KINDS = Object.freeze(['immediate', 'convergence', 'resilience'] as const);
export type EvidenceKind = (typeof EVIDENCE_KINDS)[number];

export type EvidenceWeights = Readonly<Record<EvidenceKind, number>>;

export interface TemporalRules {
  weights: EvidenceWeights;
  /** Factor applied to every credit already earned when a later check fails (0 ≤ decay ≤ 1). */
  decay: number;
  /** A dominant allele whose temporal fitness falls below this is displaced. */
  demoteBelow: number;
}

export const DEFAULT_TEMPORAL_RULES: TemporalRules = Object.freeze({
  weights: Object.freeze({ immediate: 0.3, convergence: 0.5, resilience: 0.2 }),
  decay: 0.5,
  demoteBelow: 0.5,
});

/** One judgement of a model in a slot (the payload of a `fitness-evidence` entry, less the fitness it led to). */
export interface FitnessEvidence {
  slot: string;
  model: string;
  kind: EvidenceKind;
  /** 0..1: how well it did. */
  score: number;
  passed: boolean;
  detail: string;
}

export class TemporalFitnessError extends Error {
  override name = 'TemporalFitnessError';
}

/** Check a slot's rules: weights ≥ 0 summing to 1, decay and threshold in [0, 1]. */
export function checkTemporalRules(r: TemporalRules): TemporalRules {
  const keys = Object.keys(r.weights);
  const extra = keys.filter((k) => !(EVIDENCE_KINDS as readonly string[]).includes(k));
  if (extra.length) throw new TemporalFitnessError(`unknown evidence kind "${extra[0]}" in weights; valid: ${EVIDENCE_KINDS.join(', ')}`);
  let sum = 0;
  for (const k of EVIDENCE_KINDS) {
    const w = r.weights[k];
    if (typeof w !== 'number' || !(w >= 0 && w <= 1))
      throw new TemporalFitnessError(`weight of ${k} must be a number in [0, 1], got ${JSON.stringify(w ?? null)}`);
    sum += w;
  }
  if (Math.abs(sum - 1) > 1e-9) throw new TemporalFitnessError(`evidence weights must sum to 1, got ${sum}`);
  if (!(r.decay >= 0 && r.decay <= 1)) throw new TemporalFitnessError(`decay must be in [0, 1], got ${r.decay}`);
  if (!(r.demoteBelow >= 0 && r.demoteBelow <= 1)) throw new TemporalFitnessError(`demoteBelow must be in [0, 1], got ${r.demoteBelow}`);
  return r;
}

export function checkEvidence(e: FitnessEvidence): FitnessEvidence {
  if (!(EVIDENCE_KINDS as readonly string[]).includes(e.kind))
    throw new TemporalFitnessError(`evidence kind "${e.kind}" is unknown; valid: ${EVIDENCE_KINDS.join(', ')}`);
  if (typeof e.score !== 'number' || !(e.score >= 0 && e.score <= 1))
    throw new TemporalFitnessError(`evidence score must be in [0, 1], got ${e.score}`);
  if (typeof e.passed !== 'boolean') throw new TemporalFitnessError('evidence must say whether it passed');
  return e;
}

export interface TemporalFitness {
  fitness: number;
  /** The credit of each kind after decay; null: no evidence of that kind yet. */
  credits: Record<EvidenceKind, number | null>;
  /** How many failed checks decayed earlier credit. */
  decays: number;
  /** Fitness after each piece of evidence, in order. */
  trail: { kind: EvidenceKind; score: number; passed: boolean; fitness: number }[];
}

function weighted(credits: Record<EvidenceKind, number | null>, w: EvidenceWeights): number {
  return EVIDENCE_KINDS.reduce((s, k) => s + w[k] * (credits[k] ?? 0), 0);
}

/** Temporal fitness of one model from its evidence, oldest first. */
export function temporalFitness(evidence: readonly FitnessEvidence[], rules: TemporalRules = DEFAULT_TEMPORAL_RULES): TemporalFitness {
  checkTemporalRules(rules);
  const credits: Record<EvidenceKind, number | null> = { immediate: null, convergence: null, resilience: null };
  const trail: TemporalFitness['trail'] = [];
  let decays = 0;
  for (const e of evidence) {
    checkEvidence(e);
    if (!e.passed) {
      const earned = EVIDENCE_KINDS.filter((k) => credits[k] !== null);
      for (const k of earned) credits[k] = credits[k]! * rules.decay;
      if (earned.length) decays++;
    }
    credits[e.kind] = e.score;
    trail.push({ kind: e.kind, score: e.score, passed: e.passed, fitness: weighted(credits, rules.weights) });
  }
  return { fitness: weighted(credits, rules.weights), credits, decays, trail };
}

/** The evidence of a slot's model (or of every model of the slot) recorded in ledger entries, oldest first. */
export function evidenceOf(entries: readonly LedgerEntry[], slot: string, model?: string): FitnessEvidence[] {
  return entries
    .filter((e) => e.type === 'fitness-evidence' && e.payload.slot === slot && (model === undefined || e.payload.model === model))
    .map((e) => {
      const p = e.payload as unknown as FitnessEvidence;
      return { slot: p.slot, model: p.model, kind: p.kind, score: p.score, passed: p.passed, detail: p.detail };
    });
}

/** Immediate evidence from a runtime smoke: 1 when it passed, 0 when not. */
export function immediateEvidence(slot: string, model: string, smoke: { passed: boolean; reasons: readonly string[] }): FitnessEvidence {
  return {
    slot,
    model,
    kind: 'immediate',
    score: smoke.passed ? 1 : 0,
    passed: smoke.passed,
    detail: smoke.passed ? 'runtime smoke passed' : `runtime smoke failed: ${smoke.reasons.join('; ')}`,
  };
}

export interface ConvergenceInput {
  /** Requests routed to the model (in shadow, canary or as champion). */
  requests: number;
  /** Requests needed before convergence is judged. */
  minRequests: number;
  /** Shadow agreement with the answer over those requests, 0..1. */
  agreement: number;
  /** Contract verify lines (suites with a window) met, of how many. */
  suitesPassed: number;
  suitesTotal: number;
}

/**
 * Shadow agreement of one model over a slot's shadow log: the records where it ran as the shadow or
 * gave the answer the shadow was compared with, and of those how many agreed. `agreement` is null
 * when nothing could be compared.
 */
export function shadowAgreement(
  log: readonly { model: string; answeredBy: string | null; agreed: boolean | null }[],
  model: string,
): { compared: number; agreed: number; agreement: number | null } {
  const mine = log.filter((r) => r.agreed !== null && (r.model === model || r.answeredBy === model));
  const agreed = mine.filter((r) => r.agreed).length;
  return { compared: mine.length, agreed, agreement: mine.length ? agreed / mine.length : null };
}

/** Convergence evidence: the mean of shadow agreement and the share of verify suites met; passes when both are whole and the window is full. */
export function convergenceEvidence(slot: string, model: string, c: ConvergenceInput): FitnessEvidence {
  if (c.requests < c.minRequests)
    throw new TemporalFitnessError(`convergence of "${model}" is judged after ${c.minRequests} requests; it has ${c.requests}`);
  const suites = c.suitesTotal ? c.suitesPassed / c.suitesTotal : 1;
  const score = (c.agreement + suites) / 2;
  const passed = c.suitesPassed === c.suitesTotal && c.agreement >= 0.5;
  return {
    slot,
    model,
    kind: 'convergence',
    score,
    passed,
    detail: `after ${c.requests} requests: shadow agreement ${c.agreement.toFixed(4)}, ${c.suitesPassed}/${c.suitesTotal} verify suites met`,
  };
}

/**
 * Drift of the input distribution: the mean over features of |mean now − mean at release| divided
 * by (the standard deviation at release + 0.01). 0 when nothing moved; about 1 when every feature
 * moved by a standard deviation. Rows are `featureSize` values each.
 */
export function inputDrift(reference: ArrayLike<number>, recent: ArrayLike<number>, featureSize: number): number {
  const stats = (x: ArrayLike<number>) => {
    const n = x.length / featureSize;
    if (!Number.isInteger(n) || n < 1)
      throw new TemporalFitnessError(`input rows hold ${x.length} values, not a whole number (≥ 1) of rows of ${featureSize}`);
    const mean = new Float64Array(featureSize);
    const sq = new Float64Array(featureSize);
    for (let i = 0; i < x.length; i++) mean[i % featureSize] += x[i] / n;
    for (let i = 0; i < x.length; i++) sq[i % featureSize] += (x[i] - mean[i % featureSize]) ** 2 / n;
    return { mean, sd: sq.map(Math.sqrt) };
  };
  const a = stats(reference);
  const b = stats(recent);
  let s = 0;
  for (let f = 0; f < featureSize; f++) s += Math.abs(b.mean[f] - a.mean[f]) / (a.sd[f] + 0.01);
  return s / featureSize;
}

export interface ResilienceInput {
  /** Fresh user-labelled examples the model answered right, of how many. */
  correct: number;
  total: number;
  /** inputDrift since release. */
  drift: number;
  /** Pass needs accuracy ≥ minAccuracy and drift ≤ maxDrift. */
  minAccuracy: number;
  maxDrift: number;
}

/** Resilience evidence: accuracy on fresh labelled examples, halved when the inputs drifted beyond the limit. */
export function resilienceEvidence(slot: string, model: string, r: ResilienceInput): FitnessEvidence {
  if (!(r.total >= 1 && r.correct >= 0 && r.correct <= r.total))
    throw new TemporalFitnessError(`resilience needs 0 ≤ correct ≤ total and total ≥ 1, got ${r.correct}/${r.total}`);
  const accuracy = r.correct / r.total;
  const drifted = r.drift > r.maxDrift;
  const passed = accuracy >= r.minAccuracy && !drifted;
  return {
    slot,
    model,
    kind: 'resilience',
    score: drifted ? accuracy / 2 : accuracy,
    passed,
    detail: `fresh labelled examples: ${r.correct}/${r.total} right (${accuracy.toFixed(4)}, needs ${r.minAccuracy}); input drift ${r.drift.toFixed(4)} (limit ${r.maxDrift})`,
  };
}
