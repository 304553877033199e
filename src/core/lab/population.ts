/**
 * Population review: non-dominated sorting over the objective vector (NSGA-II fronts), crowding
 * distance within each front, and novelty (mean disagreement with the rest of the pool on a probe
 * set). The parent-pool recipe for the next cycle is chosen from the review.
 */
import type { Sha256Hex } from '../hash.ts';
import type { Direction, ParentPoolRecipe, Params, PlanStep, PopulationMember, PopulationReview, Policy } from '../manifest/kinds.ts';
import { makeManifest, manifestHash } from '../manifest/index.ts';
import { getOperator, OPERATORS } from '../operators/registry.ts';

export interface Objective {
  metric: string;
  direction: Direction;
}

/** True when a is at least as good as b everywhere and better somewhere. */
export function dominates(a: readonly number[], b: readonly number[], dirs: readonly Direction[]): boolean {
  let better = false;
  for (let i = 0; i < dirs.length; i++) {
    const d = dirs[i] === 'max' ? a[i] - b[i] : b[i] - a[i];
    if (d < 0) return false;
    if (d > 0) better = true;
  }
  return better;
}

/** Fronts of point indices: front 0 is non-dominated, front k is dominated only by earlier fronts. */
export function nonDominatedFronts(points: readonly (readonly number[])[], dirs: readonly Direction[]): number[][] {
  const n = points.length;
  const dominatedBy = new Array<number>(n).fill(0);
  const dominatesList: number[][] = points.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (dominates(points[i], points[j], dirs)) {
        dominatesList[i].push(j);
        dominatedBy[j]++;
      } else if (dominates(points[j], points[i], dirs)) {
        dominatesList[j].push(i);
        dominatedBy[i]++;
      }
    }
  }
  const fronts: number[][] = [];
  let current = points.map((_, i) => i).filter((i) => dominatedBy[i] === 0);
  while (current.length) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) for (const j of dominatesList[i]) if (--dominatedBy[j] === 0) next.push(j);
    current = next.sort((a, b) => a - b);
  }
  return fronts;
}

/** Crowding distance of each member of one front (Infinity at the boundaries of any objective). */
export function crowdingDistances(points: readonly (readonly number[])[], front: readonly number[]): Map<number, number> {
  const dist = new Map<number, number>(front.map((i) => [i, 0]));
  if (front.length <= 2) {
    for (const i of front) dist.set(i, Infinity);
    return dist;
  }
  const m = points[front[0]].length;
  for (let k = 0; k < m; k++) {
    const sorted = [...front].sort((a, b) => points[a][k] - points[b][k] || a - b);
    const lo = points[sorted[0]][k];
    const hi = points[sorted[sorted.length - 1]][k];
    dist.set(sorted[0], Infinity);
    dist.set(sorted[sorted.length - 1], Infinity);
    if (hi === lo) continue;
    for (let r = 1; r < sorted.length - 1; r++) {
      const i = sorted[r];
      dist.set(i, dist.get(i)! + (points[sorted[r + 1]][k] - points[sorted[r - 1]][k]) / (hi - lo));
    }
  }
  return dist;
}

/** Novelty of each model: the mean, over the other models, of the fraction of probe inputs on which their predicted labels differ. */
export function novelty(predictions: readonly ArrayLike<number>[]): number[] {
  const n = predictions.length;
  if (n < 2) return predictions.map(() => 0);
  const len = predictions[0].length;
  for (const p of predictions)
    if (p.length !== len) throw new Error(`novelty: every model needs predictions on the same ${len} probe inputs, got ${p.length}`);
  if (len === 0) return predictions.map(() => 0);
  const dis = new Array<number>(n).fill(0);
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      let d = 0;
      for (let i = 0; i < len; i++) if (predictions[a][i] !== predictions[b][i]) d++;
      dis[a] += d / len;
      dis[b] += d / len;
    }
  }
  return dis.map((x) => x / (n - 1));
}

export interface ReviewInput {
  candidate: string;
  /** One value per objective, in the order of `objectives`. */
  objectives: number[];
  /** Predicted label per probe input (for novelty); all members or none. */
  predictions?: ArrayLike<number>;
}

/** Rank a population: front ascending, crowding descending (boundaries first), novelty descending, id. */
export function reviewPopulation(
  members: readonly ReviewInput[],
  objectives: readonly Objective[],
  opts: { suites?: Sha256Hex[]; probe?: Sha256Hex | null } = {},
): PopulationReview {
  const dirs = objectives.map((o) => o.direction);
  for (const m of members) {
    if (m.objectives.length !== objectives.length)
      throw new Error(`population review: ${m.candidate} has ${m.objectives.length} objective values for ${objectives.length} objectives`);
    for (const v of m.objectives)
      if (!Number.isFinite(v)) throw new Error(`population review: ${m.candidate} has a non-finite objective value ${v}`);
  }
  const points = members.map((m) => m.objectives);
  const fronts = nonDominatedFronts(points, dirs);
  const withPred = members.filter((m) => m.predictions);
  if (withPred.length && withPred.length !== members.length)
    throw new Error('population review: give probe predictions for every member or none');
  const nov = withPred.length ? novelty(members.map((m) => m.predictions!)) : members.map(() => 0);
  const rows: Omit<PopulationMember, 'rank'>[] = new Array(members.length);
  fronts.forEach((front, fi) => {
    const crowd = crowdingDistances(points, front);
    for (const i of front) {
      const c = crowd.get(i)!;
      rows[i] = {
        candidate: members[i].candidate,
        objectives: [...members[i].objectives],
        front: fi,
        crowding: Number.isFinite(c) ? c : null,
        novelty: nov[i],
      };
    }
  });
  const order = rows
    .map((r, i) => ({ r, i }))
    .sort(
      (a, b) =>
        a.r.front - b.r.front ||
        (b.r.crowding ?? Infinity) - (a.r.crowding ?? Infinity) ||
        b.r.novelty - a.r.novelty ||
        (a.r.candidate < b.r.candidate ? -1 : a.r.candidate > b.r.candidate ? 1 : 0),
    );
  const ranked: PopulationMember[] = order.map(({ r }, rank) => ({ ...r, rank }));
  return makeManifest('population-review', {
    ...(opts.suites ? { suites: opts.suites } : {}),
    ...(opts.probe !== undefined ? { probe: opts.probe } : {}),
    objectives: objectives.map((o) => ({ metric: o.metric, direction: o.direction })),
    members: ranked,
  });
}

/** Default parameters for a plan step: each parameter's default; per-model weights uniform. */
export function defaultParams(operatorId: string, parents: number): Params {
  const op = getOperator(operatorId);
  const params: Params = {};
  for (const p of op.params) {
    if (p.type === 'weights') params[p.name] = new Array(parents).fill(1 / parents);
    else if (p.default !== undefined) params[p.name] = p.default;
  }
  return params;
}

/**
 * Choose the next cycle's parents from a review (the best `size` by rank) and plan one step per
 * adjacent pair with the first allowlisted operator that takes two parents (or `operator`).
 */
export function chooseParentPool(
  review: PopulationReview,
  policy: Policy,
  opts: { size: number; seed: number; operator?: string },
): ParentPoolRecipe {
  if (!(opts.size >= 1)) throw new Error(`parent pool size ${opts.size} must be at least 1`);
  const picked = [...review.members].sort((a, b) => a.rank - b.rank).slice(0, opts.size);
  const reasons = picked.map(
    (m) =>
      `${m.candidate.slice(0, 12)}: rank ${m.rank}, front ${m.front}, crowding ${m.crowding === null ? '∞ (boundary)' : m.crowding.toFixed(4)}, novelty ${m.novelty.toFixed(4)}`,
  );
  const opId =
    opts.operator ??
    policy.allowlist.find((id) => {
      // Only the registry's operators breed; an allowlisted "lora-merge" (trained candidates) does not.
      if (!Object.prototype.hasOwnProperty.call(OPERATORS, id)) return false;
      const op = getOperator(id);
      return op.parents.min <= 2 && op.parents.max >= 2 && !op.needsBase;
    });
  const plan: PlanStep[] = [];
  if (!opId)
    reasons.push(`no allowlisted operator takes two parents (allowlist: ${policy.allowlist.join(', ') || 'empty'}); the plan is empty`);
  else if (!policy.allowlist.includes(opId))
    throw new Error(`operator "${opId}" is not in the policy allowlist; allowed: ${policy.allowlist.join(', ')}`);
  else {
    const op = getOperator(opId);
    for (let i = 0; i + 1 < picked.length; i++) {
      const parents = [picked[i].candidate, picked[i + 1].candidate];
      plan.push({ operator: { id: op.id, version: op.version }, parents, params: defaultParams(op.id, 2), seed: (opts.seed + i) >>> 0 });
    }
  }
  return makeManifest('parent-pool-recipe', { review: manifestHash(review), parents: picked.map((m) => m.candidate), plan, reasons });
}
