/**
 * Breed-time statistics for the data-informed merges (RegMean, Fisher-weighted averaging):
 * computed on the host from each parent's calibration rows (calibration.ts) before the breed, and
 * handed to the operator tensor by tensor through its context, so the operator stays a pure
 * per-tensor function of (inputs, params, statistics) like every other one in the registry.
 *
 * - Grams (RegMean): for each linear weight, Gᵢ = XᵢᵀXᵢ of that layer's inputs under parent i
 *   (the raw features for fc1, relu(x·W1 + b1) of the same parent for fc2), summed over the rows.
 * - Diagonal Fisher: Fᵢ = mean over rows of (∂ log p(y|x) / ∂θ)², one example at a time through
 *   the training engine's tape (src/core/train), y the row's label ("empirical") or drawn from the
 *   parent's own softmax by the seed ("sampled": the true Fisher's one-sample estimate).
 *
 * Species: the garden's MLP (fc1/fc2, weights [in, out]: y = x·W). Other species are refused with
 * the reason; their layer inputs need their own forward pass.
 */
import type { TensorContext } from './types.ts';
import { mlpFromTensors, mlpForward } from '../models/mlp.ts';
import { addBias, matmul, mmTN, relu } from '../train/ops.ts';
import { crossEntropy } from '../train/loss.ts';
import { Tape } from '../train/tape.ts';
import { streamKey, unitAt } from './prng.ts';
import type { Tensor } from '../tensor.ts';

export const STATISTICS_KINDS = Object.freeze(['gram', 'fisher'] as const);
export type StatisticsKind = (typeof STATISTICS_KINDS)[number];
export const FISHER_LABELS = Object.freeze(['empirical', 'sampled'] as const);
export type FisherLabels = (typeof FISHER_LABELS)[number];

/** The statistics of one tensor: one array per parent, in input order. */
export interface TensorStatistics {
  kind: StatisticsKind;
  /** gram: how the weight is applied ('in-out': y = x·W, W [in, out]; 'out-in': y = x·Wᵀ). */
  layout?: 'in-out' | 'out-in';
  /** gram: [in, in] row-major per parent; fisher: one value per element per parent. */
  perParent: readonly Float64Array[];
}

/** A model's statistics by tensor name; a tensor absent from it has none (RegMean averages it). */
export interface BreedStatistics {
  kind: StatisticsKind;
  tensors: Readonly<Record<string, TensorStatistics>>;
  /** Calibration rows per parent. */
  rows: readonly number[];
  /** fisher: how the labels were chosen. */
  labels?: FisherLabels;
}

/** A tensor context that carries statistics: undefined when none were given, null when this tensor has none. */
export interface StatisticsContext extends TensorContext {
  statistics?: TensorStatistics | null;
}

/** One parent's calibration rows as model inputs [count, features] with their class labels. */
export interface CalibrationRows {
  inputs: Float32Array;
  labels: Uint8Array;
  count: number;
  featureSize: number;
}

/** The statistics an operator was handed for this tensor; throws with the way to give them when none were. */
export function statisticsOf(ctx: TensorContext, op: string): TensorStatistics | null {
  const st = (ctx as StatisticsContext).statistics;
  if (st === undefined)
    throw new Error(`${op} needs statistics from a declared calibration split (garden breed --calibration FILE; docs/OPERATORS.md)`);
  return st;
}

function mlpOf(tensors: readonly Tensor[], what: string) {
  const names = tensors.map((t) => t.name).sort();
  const mlp = ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight'];
  if (names.length !== mlp.length || names.some((n, i) => n !== mlp[i]))
    throw new Error(`${what}: data-informed statistics support the MLP species (${mlp.join(', ')}); this model has ${names.join(', ')}`);
  return mlpFromTensors(tensors);
}

function checkRows(rows: CalibrationRows, inputs: number, what: string): void {
  if (rows.featureSize !== inputs)
    throw new Error(`${what}: calibration rows have ${rows.featureSize} features, the model takes ${inputs}`);
  if (rows.count === 0) throw new Error(`${what}: no calibration rows`);
}

/** One calibration set for every parent, or one per parent. */
function rowsFor(calibration: readonly CalibrationRows[], parents: number): readonly CalibrationRows[] {
  if (calibration.length === 1) return Array.from({ length: parents }, () => calibration[0]);
  if (calibration.length !== parents)
    throw new Error(`${calibration.length} calibration sets for ${parents} parents; give one, or one per parent`);
  return calibration;
}

/** Gᵢ of fc1 (raw inputs) and fc2 (the parent's hidden activations), float64 sums over the rows. */
export function gramStatistics(parents: readonly (readonly Tensor[])[], calibration: readonly CalibrationRows[]): BreedStatistics {
  const sets = rowsFor(calibration, parents.length);
  const fc1: Float64Array[] = [];
  const fc2: Float64Array[] = [];
  parents.forEach((tensors, p) => {
    const mlp = mlpOf(tensors, `parent ${p}`);
    const { inputs: I, hidden: H } = mlp.shape;
    const rows = sets[p];
    checkRows(rows, I, `parent ${p}`);
    const h = new Float32Array(rows.count * H);
    mlpForward(mlp, rows.inputs, rows.count, h);
    const g1 = new Float64Array(I * I);
    const g2 = new Float64Array(H * H);
    mmTN(rows.inputs, rows.inputs, rows.count, I, I, g1);
    mmTN(h, h, rows.count, H, H, g2);
    fc1.push(g1);
    fc2.push(g2);
  });
  return {
    kind: 'gram',
    rows: sets.map((r) => r.count),
    tensors: {
      'fc1.weight': { kind: 'gram', layout: 'in-out', perParent: fc1 },
      'fc2.weight': { kind: 'gram', layout: 'in-out', perParent: fc2 },
    },
  };
}

/** A class drawn from softmax(logits) with the uniform u. */
function drawClass(logits: ArrayLike<number>, u: number): number {
  let max = -Infinity;
  for (let c = 0; c < logits.length; c++) max = Math.max(max, logits[c]);
  const e = Array.from(logits, (z) => Math.exp(z - max));
  const total = e.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let c = 0; c < e.length; c++) {
    acc += e[c] / total;
    if (u < acc) return c;
  }
  return e.length - 1;
}

/** The diagonal Fisher of every tensor of each parent: mean squared per-example gradient of log p(y|x). */
export function fisherStatistics(
  parents: readonly (readonly Tensor[])[],
  calibration: readonly CalibrationRows[],
  labels: FisherLabels,
  seed: number,
): BreedStatistics {
  if (!FISHER_LABELS.includes(labels)) throw new Error(`unknown Fisher labels "${labels}"; valid: ${FISHER_LABELS.join(', ')}`);
  const sets = rowsFor(calibration, parents.length);
  const names = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'] as const;
  const per: Record<string, Float64Array[]> = Object.fromEntries(names.map((n) => [n, []]));
  parents.forEach((tensors, p) => {
    const mlp = mlpOf(tensors, `parent ${p}`);
    const { inputs: I, hidden: H, classes: C } = mlp.shape;
    const rows = sets[p];
    checkRows(rows, I, `parent ${p}`);
    const sums = [mlp.w1, mlp.b1, mlp.w2, mlp.b2].map((w) => new Float64Array(w.length));
    const sk = streamKey(seed >>> 0, p);
    for (let r = 0; r < rows.count; r++) {
      const tape = new Tape('f32');
      const w1 = tape.param(mlp.w1, I, H, 'fc1.weight');
      const b1 = tape.param(mlp.b1, 1, H, 'fc1.bias');
      const w2 = tape.param(mlp.w2, H, C, 'fc2.weight');
      const b2 = tape.param(mlp.b2, 1, C, 'fc2.bias');
      const x = tape.leaf(rows.inputs.subarray(r * I, (r + 1) * I), 1, I, false, 'x');
      const logits = addBias(matmul(relu(addBias(matmul(x, w1), b1)), w2), b2);
      const y = labels === 'empirical' ? rows.labels[r] : drawClass(logits.data, unitAt(sk, r));
      // −log p(y|x) of one example: its square gradient is that of log p(y|x).
      tape.backward(crossEntropy(logits, [y]));
      [w1, b1, w2, b2].forEach((v, k) => {
        const g = v.grad;
        if (!g) return;
        const s = sums[k];
        for (let e = 0; e < g.length; e++) s[e] += g[e] * g[e];
      });
    }
    sums.forEach((s, k) => {
      for (let e = 0; e < s.length; e++) s[e] /= rows.count;
      per[names[k]].push(s);
    });
  });
  return {
    kind: 'fisher',
    rows: sets.map((r) => r.count),
    labels,
    tensors: Object.fromEntries(names.map((n) => [n, { kind: 'fisher' as const, perParent: per[n] }])),
  };
}

/** The statistics a data-informed operator needs (STATISTICS_FOR in the registry), computed from the calibration rows. */
export function computeStatistics(
  kind: StatisticsKind,
  parents: readonly (readonly Tensor[])[],
  calibration: readonly CalibrationRows[],
  opts: { labels?: FisherLabels; seed: number },
): BreedStatistics {
  return kind === 'gram'
    ? gramStatistics(parents, calibration)
    : fisherStatistics(parents, calibration, opts.labels ?? 'empirical', opts.seed);
}
