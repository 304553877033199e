/**
 * The lab round (docs/ARCHITECTURE.md, "Release"), as a pure orchestrator over injected functions:
 *   select approved parents → breed candidates with allowlisted operators → evaluate every model
 *   on the pinned frozen suites → viability against the champion and against no-op (the best
 *   parent unchanged) → promote the best viable candidate to shadow, or archive every candidate
 *   with its reasons.
 * breed() belongs to the candidate zone: it is handed a deep-frozen copy of its recipe and nothing
 * else. evaluate() belongs to the evaluation zone: it is handed the suite's name and pinned hash and
 * must refuse any bytes that do not hash to it. The round never touches a store; applyRound()
 * records a promotion in the ledger and the registry.
 */
import { hashJson, type Sha256Hex } from '../hash.ts';
import type { AdmissionRecord, EvaluationSidecar, Metrics, Params, Policy, PromotionTemplate, RuntimeSmoke } from '../manifest/kinds.ts';
import { deepFreeze, makeManifest, manifestHash } from '../manifest/index.ts';
import { OPERATORS } from '../operators/registry.ts';
import type { Ledger } from './ledger.ts';
import { checkPolicy, isAllowed } from './policy.ts';
import type { ReleaseController } from './release.ts';
import { noopBaseline, primaryGain, viability, type Check, type Scored } from './viability.ts';
import { admitToShadow } from './admission.ts';
import { admissionRecord, promotionTemplate as makeTemplate } from './records.ts';
import { handOff } from './zones.ts';
import type { SmokeReport } from '../eval/smoke.ts';
import { bindSidecar } from '../eval/sidecar.ts';
import { propose, proposalHash, type Proposal } from './proposal.ts';

export type { SmokeReport };

export interface RoundRecipe {
  operator: string;
  parents: string[];
  params: Params;
  seed: number;
}

export interface BredCandidate {
  /** Content hash of the candidate model (or a stable id). */
  id: string;
  bytes?: number;
  /** Time the operator took. */
  ms?: number;
}

export interface SuiteRef {
  /** Suite name as pinned in policy.suites. */
  name: string;
  hash: Sha256Hex;
}

export interface LabRoundInput {
  slot: string;
  policy: Policy;
  /** The admitted parent pool: only these may be parents. */
  approved: readonly string[];
  /** Parents selected for this round. */
  parents: readonly string[];
  champion: string | null;
  recipes: readonly RoundRecipe[];
  /** Known sizes of parents and champion, for resource reporting. */
  bytes?: Readonly<Record<string, number>>;
}

export interface LabRoundDeps {
  breed(recipe: Readonly<RoundRecipe>): Promise<BredCandidate>;
  evaluate(modelId: string, suite: Readonly<SuiteRef>): Promise<Metrics>;
  evaluator?: { id: string; version: string };
  /**
   * Runtime smoke of a bred candidate (loads, finite outputs of the contracted shape on probes).
   * When given, a failing candidate is not evaluated and the gate is recorded; when absent the
   * promotion template leaves the gate pending.
   */
  smoke?(candidateId: string): Promise<SmokeReport>;
  /** Progress lines for a UI or the CLI. */
  log?(line: string): void;
}

export const CANDIDATE_STATUSES = Object.freeze(['viable', 'archived', 'refused', 'failed'] as const);
export type CandidateStatus = (typeof CANDIDATE_STATUSES)[number];

export interface CandidateOutcome {
  recipe: RoundRecipe;
  id: string | null;
  status: CandidateStatus;
  reasons: string[];
  scored: Scored | null;
  checks: Check[];
}

export interface LabRoundResult {
  slot: string;
  decision: 'promote-to-shadow' | 'no-op';
  winner: string | null;
  /** Why: for promotion the winner's passing checks, for no-op every candidate's failing numbers. */
  reasons: string[];
  policyHash: Sha256Hex;
  parents: string[];
  baselines: { champion: Scored | null; noop: Scored | null };
  candidates: CandidateOutcome[];
  sidecars: EvaluationSidecar[];
  /** Runtime-smoke manifests of the bred candidates (when deps.smoke is given and ids are SHA-256). */
  smokes: RuntimeSmoke[];
  promotionTemplate: PromotionTemplate | null;
  /**
   * What the round needed and the policy lacks: one `operator` proposal per recipe refused by the
   * allowlist (no candidate was bred, so none waits on it). applyRound writes them to the ledger,
   * where an approval from the policy zone answers them (proposal.ts).
   */
  proposals: Proposal[];
}

export class LabRoundError extends Error {
  override name = 'LabRoundError';
}

function checkMetrics(m: unknown, who: string, suite: string): Metrics {
  if (!m || typeof m !== 'object' || Array.isArray(m))
    throw new LabRoundError(`evaluation of ${who} on ${suite} returned no metric vector`);
  const out: Metrics = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new LabRoundError(`evaluation of ${who} on ${suite} returned non-finite ${k} = ${String(v)}`);
    out[k] = v;
  }
  return out;
}

export async function runLabRound(input: LabRoundInput, deps: LabRoundDeps): Promise<LabRoundResult> {
  const policy = checkPolicy(input.policy);
  const log = deps.log ?? (() => undefined);
  const evaluator = deps.evaluator ?? { id: 'injected-evaluator', version: '0' };
  const suites: SuiteRef[] = Object.entries(policy.suites).map(([name, hash]) => deepFreeze({ name, hash }));
  const reasons: string[] = [];
  const sidecars: EvaluationSidecar[] = [];

  // 1. Select approved parents.
  const parents = input.parents.filter((p) => input.approved.includes(p));
  for (const p of input.parents) if (!input.approved.includes(p)) reasons.push(`parent ${p} is not in the approved pool; left out`);

  // 2. Breed with allowlisted operators.
  const outcomes: CandidateOutcome[] = [];
  const proposals: Proposal[] = [];
  for (const [i, raw] of input.recipes.entries()) {
    const recipe = handOff(raw);
    const refuse = (why: string) => outcomes.push({ recipe, id: null, status: 'refused', reasons: [why], scored: null, checks: [] });
    if (!Object.prototype.hasOwnProperty.call(OPERATORS, recipe.operator)) {
      refuse(`recipe ${i}: unknown operator "${recipe.operator}"; valid: ${Object.keys(OPERATORS).join(', ')}`);
      continue;
    }
    if (!isAllowed(policy, recipe.operator)) {
      const why = `recipe ${i}: operator "${recipe.operator}" is not in the policy allowlist (${policy.allowlist.join(', ') || 'empty'})`;
      refuse(why);
      if (!proposals.some((q) => q.subject === recipe.operator))
        proposals.push({
          kind: 'operator',
          slot: input.slot,
          candidate: null,
          subject: recipe.operator,
          evidence: { recipe: hashJson(recipe), allowlist: [...policy.allowlist], policyHash: hashJson(policy) },
          reason: `${why}; allowing it is a policy change, proposed here and decided by the policy zone`,
        });
      continue;
    }
    const bad = recipe.parents.filter((p) => !parents.includes(p));
    if (bad.length) {
      refuse(`recipe ${i}: parent${bad.length > 1 ? 's' : ''} ${bad.join(', ')} not among the approved parents of this round`);
      continue;
    }
    log(`breeding recipe ${i}: ${recipe.operator} over ${recipe.parents.length} parents, seed ${recipe.seed}`);
    try {
      const bred = await deps.breed(recipe);
      if (!bred || typeof bred.id !== 'string' || !bred.id) throw new LabRoundError('breed returned no candidate id');
      outcomes.push({
        recipe,
        id: bred.id,
        status: 'archived',
        reasons: [],
        scored: { id: bred.id, metrics: {}, bytes: bred.bytes, breedMs: bred.ms },
        checks: [],
      });
    } catch (e) {
      outcomes.push({
        recipe,
        id: null,
        status: 'failed',
        reasons: [`recipe ${i}: breeding failed: ${(e as Error).message}`],
        scored: null,
        checks: [],
      });
    }
  }

  // 2b. Runtime smoke of each candidate, when the runtime is available.
  const smokes: RuntimeSmoke[] = [];
  const smokeOf = new Map<string, RuntimeSmoke | { passed: boolean; reasons: string[] }>();
  if (deps.smoke) {
    for (const o of outcomes) {
      if (o.status !== 'archived' || !o.id) continue;
      try {
        const r = await deps.smoke(o.id);
        if (typeof r.finite !== 'boolean') throw new LabRoundError('the smoke report has no boolean "finite"');
        const body = {
          candidate: o.id,
          runtime: r.runtime,
          probes: r.probes,
          outputShape: [...r.outputShape],
          finite: r.finite,
          passed: r.passed,
          reasons: [...r.reasons],
        };
        const m = /^[0-9a-f]{64}$/.test(o.id) ? makeManifest('runtime-smoke', body) : null;
        if (m) smokes.push(m);
        smokeOf.set(o.id, m ?? body);
        if (!r.passed) {
          o.status = 'failed';
          o.reasons.push(`runtime smoke failed: ${r.reasons.join('; ') || 'no reason given'}`);
        }
      } catch (e) {
        o.status = 'failed';
        o.reasons.push(`runtime smoke failed: ${(e as Error).message}`);
      }
    }
  }

  // 3. Evaluate every model on every pinned suite.
  const evaluated = new Map<string, Scored>();
  const evaluateModel = async (id: string, bytes?: number, breedMs?: number): Promise<Scored> => {
    const have = evaluated.get(id);
    if (have) return have;
    const s: Scored = { id, metrics: {}, ...(bytes !== undefined ? { bytes } : {}), ...(breedMs !== undefined ? { breedMs } : {}) };
    for (const suite of suites) {
      log(`evaluating ${id.slice(0, 12)} on ${suite.name}`);
      const metrics = checkMetrics(await deps.evaluate(id, suite), id, suite.name);
      s.metrics[suite.name] = metrics;
      sidecars.push(makeManifest('evaluation-sidecar', bindSidecar({ candidate: id, suite: suite.hash, evaluator, metrics })));
    }
    evaluated.set(id, s);
    return s;
  };
  const champion = input.champion ? await evaluateModel(input.champion, input.bytes?.[input.champion]) : null;
  const parentScores: Scored[] = [];
  for (const p of parents) parentScores.push(await evaluateModel(p, input.bytes?.[p]));
  for (const o of outcomes) {
    if (o.status !== 'archived' || !o.scored) continue;
    try {
      o.scored = await evaluateModel(o.id!, o.scored.bytes, o.scored.breedMs);
    } catch (e) {
      o.status = 'failed';
      o.reasons.push(`evaluation failed: ${(e as Error).message}`);
    }
  }

  // 4. No-op baseline: the best parent, unchanged.
  const p = policy.primary;
  const noop = noopBaseline(parentScores, policy);

  // 5. Viability.
  for (const o of outcomes) {
    if (o.status !== 'archived' || !o.scored) continue;
    const v = viability(o.scored, { champion, noop }, policy);
    o.checks = v.checks;
    if (v.viable) o.status = 'viable';
    else o.reasons.push(...v.reasons);
  }

  // 6. Decision.
  const viable = outcomes
    .filter((o) => o.status === 'viable')
    .sort((a, b) => {
      const ga = primaryGain({ candidate: a.id!, viable: true, checks: a.checks, reasons: [] });
      const gb = primaryGain({ candidate: b.id!, viable: true, checks: b.checks, reasons: [] });
      return gb - ga || (a.id! < b.id! ? -1 : 1);
    });
  const winner = viable[0] ?? null;
  let promotionTemplate: PromotionTemplate | null = null;
  if (winner) {
    for (const o of viable.slice(1)) {
      o.status = 'archived';
      o.reasons.push(`viable, but ${winner.id!.slice(0, 12)} has the larger ${p.metric} gain`);
    }
    reasons.unshift(`promote ${winner.id} to shadow in slot "${input.slot}"`, ...winner.checks.map((c) => c.text));
    const winnerSidecars = Object.fromEntries(
      suites.flatMap((suite) =>
        sidecars.filter((s) => s.candidate === winner.id && s.suite === suite.hash).map((s) => [suite.name, manifestHash(s)]),
      ),
    );
    promotionTemplate = makeTemplate({
      candidate: winner.id!,
      slot: input.slot,
      operator: winner.recipe.operator,
      policy,
      smoke: smokeOf.get(winner.id!),
      sidecars: winnerSidecars,
      viability: { viable: true, checks: winner.checks },
    });
  } else {
    const tried = outcomes.length;
    reasons.unshift(
      tried
        ? `no-op: none of ${tried} candidate${tried > 1 ? 's' : ''} is viable; every candidate archived`
        : 'no-op: no recipe produced a candidate',
    );
    // one outcome per recipe, in order (o.recipe is the handed-off copy, so not found in input.recipes)
    for (const [j, o] of outcomes.entries())
      reasons.push(`${o.id ? o.id.slice(0, 12) : `recipe ${j}`} (${o.recipe.operator}): ${o.reasons.join('; ')}`);
  }

  return deepFreeze({
    slot: input.slot,
    decision: winner ? 'promote-to-shadow' : 'no-op',
    winner: winner?.id ?? null,
    reasons,
    policyHash: hashJson(policy),
    parents,
    baselines: { champion, noop },
    candidates: outcomes,
    sidecars,
    smokes,
    promotionTemplate,
    proposals,
  } satisfies LabRoundResult);
}

/**
 * Record a round's promotion through admitToShadow (src/core/lab/admission.ts): one admission
 * entry, then the winner in shadow (a release entry). The winner's registry id is its candidate
 * hash. A no-op round records nothing and returns null.
 */
export async function applyRound(
  result: LabRoundResult,
  zones: { ledger: Ledger; release: ReleaseController },
  now: () => string = () => new Date().toISOString(),
): Promise<AdmissionRecord | null> {
  const written = new Set(zones.ledger.entries().flatMap((e) => (e.type === 'proposal' ? [String(e.payload.proposalHash)] : [])));
  for (const p of result.proposals) if (!written.has(proposalHash(p))) await propose(zones.ledger, p);
  if (result.decision !== 'promote-to-shadow' || !result.winner || !result.promotionTemplate) return null;
  const sidecars = result.sidecars.filter((s) => s.candidate === result.winner).map((s) => manifestHash(s));
  const admission = admissionRecord(result.promotionTemplate, { sidecars, admittedAt: now(), reasons: result.reasons.slice(0, 20) });
  await admitToShadow(zones, {
    slot: result.slot,
    model: result.winner,
    candidate: result.winner,
    admission,
    promotionTemplate: result.promotionTemplate,
    policyHash: result.policyHash,
    reason: `lab round: ${result.reasons[0]}`,
  });
  return admission;
}
