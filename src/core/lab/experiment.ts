/**
 * Attributable experiments. A lab round in experiment mode either changes one thing at a time
 * against a baseline recipe, or runs a full factorial design over declared two-level factors
 * (operator × density × λ …) with every cell bred under each of several seeds. It reports each
 * main effect and each interaction with its spread over the seeds:
 *
 *   effect(T) = (1 / 2^(k−1)) · Σ_cells sign_T(cell) · y(cell),   sign_T = Π_{f ∈ T} (+1 high, −1 low)
 *
 * computed within each seed's replicate, then its mean and sample standard deviation over seeds.
 * For a main effect this is mean(high) − mean(low). A round whose recipes change several things
 * at once, and are not a full factorial over declared factors, is labelled not attributable.
 */
import type { Metrics } from '../manifest/kinds.ts';
import type { LabRoundDeps, RoundRecipe, SuiteRef } from './round.ts';

export type Level = string | number;

/** A declared factor: two levels, low first. */
export interface Factor {
  name: string;
  levels: readonly [Level, Level];
}

export type Cell = Record<string, Level>;

export interface ExperimentRun {
  cell: Cell;
  seed: number;
  /** The bred candidate's id. */
  candidate: string;
  response: number;
}

export interface Effect {
  /** "operator", "density", "operator×density", … */
  term: string;
  factors: string[];
  /** Mean over seeds. */
  estimate: number;
  /** Sample standard deviation over seeds (0 with one seed). */
  sd: number;
  perSeed: number[];
}

export class ExperimentError extends Error {
  override name = 'ExperimentError';
}

function checkFactors(factors: readonly Factor[]): void {
  if (!factors.length) throw new ExperimentError('an experiment declares at least one factor');
  const names = new Set<string>();
  for (const f of factors) {
    if (names.has(f.name)) throw new ExperimentError(`factor "${f.name}" is declared twice`);
    names.add(f.name);
    if (f.levels.length !== 2 || f.levels[0] === f.levels[1])
      throw new ExperimentError(`factor "${f.name}" needs two different levels, got ${JSON.stringify(f.levels)}`);
  }
}

/** Every cell of the full factorial, the first factor varying slowest. */
export function factorialDesign(factors: readonly Factor[]): Cell[] {
  checkFactors(factors);
  let cells: Cell[] = [{}];
  for (const f of factors) cells = cells.flatMap((c) => f.levels.map((l) => ({ ...c, [f.name]: l })));
  return cells;
}

/** Every non-empty subset of the factors, main effects first, then pairs, … */
function terms(factors: readonly Factor[]): string[][] {
  const out: string[][] = [];
  const n = factors.length;
  for (let mask = 1; mask < 1 << n; mask++) out.push(factors.filter((_, i) => mask & (1 << i)).map((f) => f.name));
  return out.sort((a, b) => a.length - b.length);
}

const cellKey = (factors: readonly Factor[], c: Cell) => factors.map((f) => `${f.name}=${String(c[f.name])}`).join(',');

/** Main effects and interactions of a replicated two-level factorial, each with its spread over seeds. */
export function factorialEffects(
  factors: readonly Factor[],
  runs: readonly ExperimentRun[],
): { seeds: number[]; grandMean: number; effects: Effect[] } {
  const cells = factorialDesign(factors);
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  const by = new Map<string, number>();
  for (const r of runs) {
    const key = `${r.seed}|${cellKey(factors, r.cell)}`;
    if (by.has(key)) throw new ExperimentError(`cell ${cellKey(factors, r.cell)} has two runs under seed ${r.seed}`);
    by.set(key, r.response);
  }
  for (const s of seeds)
    for (const c of cells)
      if (!by.has(`${s}|${cellKey(factors, c)}`))
        throw new ExperimentError(`seed ${s} has no run for cell ${cellKey(factors, c)}: the design is not full`);
  const k = factors.length;
  const y = (s: number, c: Cell) => by.get(`${s}|${cellKey(factors, c)}`)!;
  const effects = terms(factors).map((t): Effect => {
    const perSeed = seeds.map(
      (s) =>
        cells.reduce(
          (sum, c) =>
            sum + t.reduce((sg, name) => sg * (c[name] === factors.find((f) => f.name === name)!.levels[1] ? 1 : -1), 1) * y(s, c),
          0,
        ) /
        2 ** (k - 1),
    );
    const estimate = perSeed.reduce((a, b) => a + b, 0) / perSeed.length;
    const sd = perSeed.length > 1 ? Math.sqrt(perSeed.reduce((a, b) => a + (b - estimate) ** 2, 0) / (perSeed.length - 1)) : 0;
    return { term: t.join('×'), factors: t, estimate, sd, perSeed };
  });
  const grandMean = runs.reduce((a, r) => a + r.response, 0) / runs.length;
  return { seeds, grandMean, effects };
}

export interface Attribution {
  attributable: boolean;
  /** How the round varies: one change per recipe against the baseline, a full factorial, or several at once. */
  mode: 'one-at-a-time' | 'factorial' | 'confounded';
  /** Per recipe: what differs from the baseline (operator, parents, seed, params.<name>). */
  changes: string[][];
  reason: string;
}

function diff(a: RoundRecipe, b: RoundRecipe): string[] {
  const out: string[] = [];
  if (a.operator !== b.operator) out.push('operator');
  if (JSON.stringify(a.parents) !== JSON.stringify(b.parents)) out.push('parents');
  for (const k of [...new Set([...Object.keys(a.params), ...Object.keys(b.params)])].sort())
    if (JSON.stringify(a.params[k]) !== JSON.stringify(b.params[k])) out.push(`params.${k}`);
  return out;
}

/**
 * Label a round's recipes: attributable when each recipe changes at most one thing against the
 * baseline (seeds aside: replicates), or when the recipes are exactly a full factorial over the
 * declared factors (`cells[i]` is recipe i's cell). Anything else is confounded.
 */
export function attribution(
  baseline: RoundRecipe,
  recipes: readonly RoundRecipe[],
  design?: { factors: readonly Factor[]; cells: readonly Cell[] },
): Attribution {
  const changes = recipes.map((r) => diff(baseline, r));
  if (design) {
    const want = new Set(factorialDesign(design.factors).map((c) => cellKey(design.factors, c)));
    const have = new Set(design.cells.map((c) => cellKey(design.factors, c)));
    const full = [...want].every((c) => have.has(c)) && design.cells.length === recipes.length;
    if (full)
      return {
        attributable: true,
        mode: 'factorial',
        changes,
        reason: `a full factorial over ${design.factors.map((f) => f.name).join(' × ')}: each effect is estimated from every cell`,
      };
    return {
      attributable: false,
      mode: 'confounded',
      changes,
      reason: `the recipes do not cover the full factorial over ${design.factors.map((f) => f.name).join(' × ')} (${[...want].filter((c) => !have.has(c)).length} cells missing)`,
    };
  }
  const several = changes.map((c, i) => ({ c, i })).filter(({ c }) => c.length > 1);
  if (several.length)
    return {
      attributable: false,
      mode: 'confounded',
      changes,
      reason: `recipe ${several[0].i} changes ${several[0].c.join(', ')} at once: a gain cannot be attributed to one of them`,
    };
  return { attributable: true, mode: 'one-at-a-time', changes, reason: 'each recipe changes at most one thing against the baseline' };
}

export interface ExperimentSpec {
  factors: readonly Factor[];
  seeds: readonly number[];
  /** The recipe of one cell under one seed. */
  recipe(cell: Readonly<Cell>, seed: number): RoundRecipe;
  /** The suite and metric the response is read from. */
  suite: SuiteRef;
  metric: string;
}

/** Breed and evaluate every cell under every seed, then estimate the effects. */
export async function runExperiment(
  spec: ExperimentSpec,
  deps: Pick<LabRoundDeps, 'breed' | 'evaluate'>,
): Promise<{ runs: ExperimentRun[] } & ReturnType<typeof factorialEffects>> {
  const runs: ExperimentRun[] = [];
  for (const seed of spec.seeds) {
    for (const cell of factorialDesign(spec.factors)) {
      const bred = await deps.breed(spec.recipe(cell, seed));
      const m: Metrics = await deps.evaluate(bred.id, spec.suite);
      const v = m[spec.metric];
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new ExperimentError(`no ${spec.metric} for cell ${JSON.stringify(cell)} seed ${seed}`);
      runs.push({ cell, seed, candidate: bred.id, response: v });
    }
  }
  return { runs, ...factorialEffects(spec.factors, runs) };
}

/** The effects as a Markdown table (estimates and spreads to 4 decimals). */
export function effectsTable(e: ReturnType<typeof factorialEffects>, metric: string): string {
  const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(4)}`;
  const rows = e.effects.map((x) => `| ${x.term} | ${signed(x.estimate)} | ${x.sd.toFixed(4)} | ${x.perSeed.map(signed).join(', ')} |`);
  return [
    `| term | effect on ${metric} | sd over ${e.seeds.length} seeds | per seed (${e.seeds.join(', ')}) |`,
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}
