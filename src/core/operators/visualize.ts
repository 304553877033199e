/**
 * What an operator did to one tensor, as numbers a chart can draw: recomputed from the parents'
 * and the candidate's stored tensors (never from a mock-up), with the same definitions as the
 * breed receipt (breed.ts TensorStat), so the visual's numbers can be checked against it.
 *
 * - weights and deltas before and after: histograms over one shared range per pair;
 * - sparsity: exact zeros in the first parent and in the candidate;
 * - crossover: which parent each element came from (crossoverSource, the operator's own draw);
 * - DARE (random sparsification): the drop mask of each parent's delta;
 * - TIES (sign consensus): trim → elect → disjoint mean, with the kept mask and the sign-conflict map;
 * - SLERP: the angle between the two parents and the coefficients it gives;
 * - quantize: the error of the stored (dequantized) weights against the parent.
 * The masks are recomputed with the operator's own functions; `recomputed` says how far the
 * recomputed output is from the stored one (0: bit for bit).
 */
import { getOperator } from './registry.ts';
import { layerPositions, paramsAt, resolveParams, num, weightsOf } from './params.ts';

/** A resolved parameter that may hold one number per parent. */
const perParentOrOne = (params: ParamValues, name: string): number | number[] => {
  const v = params[name];
  return Array.isArray(v) ? v : num(params, name);
};
import { crossoverSource } from './crossover.cpu.ts';
import { slerpCoefficients } from './slerp.cpu.ts';
import { parentDelta, sparsifyDelta, tiesCombine } from './task-arithmetic.cpu.ts';
import { dequantize, quantScheme, QUANT_SUFFIX } from './quantize.cpu.ts';
import { StatsAccumulator } from './stream.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { sha256Stream } from '../hash.ts';
import type { ModelView, ParamValues, RecipeParams, TaskArithmeticConfig } from './types.ts';

export interface Histogram {
  /** bins + 1 edges, ascending. */
  edges: number[];
  counts: number[];
}

/** A mask or map, averaged over blocks so it fits `maxCells` per side: cell = mean of its block. */
export interface Heatmap {
  rows: number;
  cols: number;
  /** rows × cols values, row-major. */
  cells: number[];
  /** The tensor's own rows and columns (a 1-D tensor is one row). */
  sourceRows: number;
  sourceCols: number;
  /** Mean over all elements (the fraction, for a 0/1 mask). */
  mean: number;
}

export interface TiesStep {
  step: 'trim' | 'elect' | 'disjoint mean';
  /** One plain sentence of the numbers at this step. */
  text: string;
}

export interface LayerVisual {
  tensor: string;
  shape: number[];
  operator: string;
  /** The receipt's own statistics, recomputed: candidate against the first parent. */
  stats: { changedFraction: number; sparsity: number; deltaNorm: number };
  /** SHA-256 of the candidate's stored bytes of this tensor (the receipt's outputHash). */
  outputHash: string;
  sparsityBefore: number;
  weights: { edges: number[]; before: number[]; after: number[] };
  /** Deltas against the first parent (the base): each other parent's, pooled, and the candidate's. */
  deltas: { edges: number[]; before: number[] | null; after: number[] };
  crossover?: { map: Heatmap; share: number[] };
  /** p: the drop probability, or one per parent. */
  drop?: { p: number | number[]; masks: Heatmap[]; dropped: number[] };
  ties?: {
    /** One density, one per parent, or null where the trim is not by density. */
    density: number | number[] | null;
    kept: Heatmap[];
    keptFraction: number[];
    elected: Heatmap;
    agreeing: Heatmap;
    conflicts: Heatmap;
    signConflicts: number;
    steps: TiesStep[];
  };
  slerp?: { t: number; dot: number; thetaDeg: number; linear: boolean; s0: number; s1: number };
  quant?: { scheme: string; blockSize: number; error: Histogram; maxAbsError: number; meanAbsError: number };
  /** Largest |recomputed − stored| over the tensor, where the visual recomputed the output (0: bit for bit). */
  recomputed: number | null;
}

export interface VisualizeInput {
  operator: string;
  /** The parameters as requested (resolved here as breed resolves them). */
  params: RecipeParams;
  seed: number;
  /** The parents' whole models, base first where the operator takes one (as breed got them). */
  parents: readonly (readonly Tensor[])[];
  /** The candidate's stored tensors. */
  candidate: readonly Tensor[];
  tensor: string;
  bins?: number;
}

const BINS = 40;
const MAX_CELLS = 64;

export function histogram(values: readonly Float32Array[], bins: number, range?: [number, number]): Histogram {
  let lo = Infinity;
  let hi = -Infinity;
  if (range) [lo, hi] = range;
  else
    for (const v of values)
      for (let i = 0; i < v.length; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) hi = v[i];
      }
  if (!Number.isFinite(lo)) [lo, hi] = [0, 0];
  if (hi === lo) [lo, hi] = [lo - 0.5, hi + 0.5];
  const w = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * w);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) for (let i = 0; i < v.length; i++) counts[Math.min(bins - 1, Math.max(0, Math.floor((v[i] - lo) / w)))]++;
  return { edges, counts };
}

function extent(values: readonly Float32Array[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values)
    for (let i = 0; i < v.length; i++) {
      if (v[i] < lo) lo = v[i];
      if (v[i] > hi) hi = v[i];
    }
  return [lo, hi];
}

export function heatmap(values: ArrayLike<number>, shape: readonly number[], maxCells = MAX_CELLS): Heatmap {
  const n = values.length;
  const sourceRows = shape.length >= 2 ? shape[0] : 1;
  const sourceCols = sourceRows > 0 ? n / sourceRows : 0;
  const rows = Math.min(sourceRows, maxCells);
  const cols = Math.min(sourceCols, maxCells);
  const sum = new Array<number>(rows * cols).fill(0);
  const count = new Array<number>(rows * cols).fill(0);
  let total = 0;
  for (let r = 0; r < sourceRows; r++) {
    const cr = Math.floor((r * rows) / sourceRows);
    for (let c = 0; c < sourceCols; c++) {
      const v = values[r * sourceCols + c];
      const k = cr * cols + Math.floor((c * cols) / sourceCols);
      sum[k] += v;
      count[k]++;
      total += v;
    }
  }
  return { rows, cols, cells: sum.map((s, k) => (count[k] ? s / count[k] : 0)), sourceRows, sourceCols, mean: n ? total / n : 0 };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function diff(a: Float32Array, b: Float32Array): Float32Array {
  const d = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  return d;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

/** The candidate's values of one tensor: stored as is, or dequantized from "<name>.q" + "<name>.scales". */
function candidateValues(candidate: readonly Tensor[], name: string, blockSize: number): { values: Float32Array; stored: Tensor[] } {
  const plain = candidate.find((t) => t.name === name);
  if (plain) return { values: toFloat32(plain), stored: [plain] };
  const q = candidate.find((t) => t.name === name + QUANT_SUFFIX.q);
  const s = candidate.find((t) => t.name === name + QUANT_SUFFIX.scales);
  if (!q || !s) throw new Error(`the candidate has no tensor "${name}"`);
  const scheme = quantScheme(q.dtype === 'I4' ? 'int4' : 'int8');
  const values = dequantize({ scheme, blockSize, shape: q.shape, data: q.data, scales: new Float32Array(s.data.slice().buffer) });
  return { values, stored: [q, s] };
}

export function visualizeLayer(input: VisualizeInput): LayerVisual {
  const op = getOperator(input.operator);
  const bins = input.bins ?? BINS;
  const first = input.parents[0];
  const index = first.findIndex((t) => t.name === input.tensor);
  if (index < 0) throw new Error(`the parents have no tensor "${input.tensor}"`);
  const ref = first[index];
  const n = input.parents.length - (op.needsBase ? 1 : 0);
  const resolved = resolveParams(op, input.params, n);
  let derived: ParamValues = {};
  if (op.prepare) {
    const byName = input.parents.map((p) => new Map(p.map((t) => [t.name, t])));
    const run = first.filter((t) => ['F32', 'F16', 'BF16'].includes(t.dtype) && !op.skip?.(t, resolved));
    const model: ModelView = {
      names: run.map((t) => t.name),
      shapes: run.map((t) => t.shape),
      inputs: (name) => byName.map((m) => toFloat32(m.get(name)!)),
    };
    derived = op.prepare(model, resolved, input.seed)[ref.name] ?? {};
  }
  const params = { ...paramsAt(op, resolved, layerPositions(first.map((t) => t.name))[index], ref.name), ...derived };
  const inputs = input.parents.map((p) => toFloat32(p.find((t) => t.name === ref.name)!));
  const blockSize = Number(params.blockSize ?? 32);
  const { values: after, stored } = candidateValues(input.candidate, ref.name, blockSize);
  const before = inputs[0];
  const h = sha256Stream();
  for (const t of stored) h.update(t.data);
  const acc = new StatsAccumulator();
  acc.add(before, after);

  const wRange = extent([before, after]);
  const parentDeltas = inputs.slice(1).map((x) => diff(x, before));
  const candDelta = diff(after, before);
  const dRange = extent([...parentDeltas, candDelta]);
  const zeros = (v: Float32Array) => v.reduce((z, x) => z + (x === 0 ? 1 : 0), 0) / Math.max(1, v.length);

  const visual: LayerVisual = {
    tensor: ref.name,
    shape: [...ref.shape],
    operator: op.id,
    stats: acc.result(),
    outputHash: h.digestHex(),
    sparsityBefore: zeros(before),
    weights: {
      edges: histogram([before], bins, wRange).edges,
      before: histogram([before], bins, wRange).counts,
      after: histogram([after], bins, wRange).counts,
    },
    deltas: {
      edges: histogram([candDelta], bins, dRange).edges,
      before: parentDeltas.length ? histogram(parentDeltas, bins, dRange).counts : null,
      after: histogram([candDelta], bins, dRange).counts,
    },
    recomputed: null,
  };
  const ctx = { name: ref.name, shape: ref.shape, seed: input.seed };

  if (op.id === 'crossover') {
    const src = crossoverSource(params, ctx, inputs.length, before.length);
    const rebuilt = new Float32Array(before.length);
    for (let i = 0; i < rebuilt.length; i++) rebuilt[i] = inputs[src[i]][i];
    visual.recomputed = maxAbsDiff(rebuilt, after);
    visual.crossover = {
      map: heatmap(src, ref.shape),
      share: inputs.map((_, p) => src.reduce((c, x) => c + (x === p ? 1 : 0), 0) / Math.max(1, src.length)),
    };
  }
  if (op.id === 'slerp') {
    const t = num(params, 't');
    const c = slerpCoefficients(inputs[0], inputs[1], t);
    let d = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < before.length; i++) {
      d += inputs[0][i] * inputs[1][i];
      a += inputs[0][i] * inputs[0][i];
      b += inputs[1][i] * inputs[1][i];
    }
    const dot = a > 0 && b > 0 ? d / (Math.sqrt(a) * Math.sqrt(b)) : 1;
    visual.slerp = { t, dot, thetaDeg: (Math.acos(Math.max(-1, Math.min(1, dot))) * 180) / Math.PI, linear: c.linear, s0: c.s0, s1: c.s1 };
    visual.recomputed = maxAbsDiff(op.cpu(inputs, params, ctx), after);
  }
  if (op.id === 'quantize') {
    const err = diff(after, before);
    let m = 0;
    let s = 0;
    for (let i = 0; i < err.length; i++) {
      m = Math.max(m, Math.abs(err[i]));
      s += Math.abs(err[i]);
    }
    visual.quant = {
      scheme: String(params.scheme),
      blockSize,
      error: histogram([err], bins),
      maxAbsError: m,
      meanAbsError: s / Math.max(1, err.length),
    };
    visual.recomputed = maxAbsDiff(op.cpu(inputs, params, ctx), after);
  }
  const cfg: TaskArithmeticConfig | undefined = op.kernel?.id === 'task-arithmetic' ? op.kernel.cfg : undefined;
  if (cfg && op.needsBase) {
    const w = weightsOf(params, 'weights', inputs.length - 1, 1);
    const deltas = inputs.slice(1).map((x, i) => parentDelta(before, x, params, i));
    const sparse = deltas.map((d, i) => {
      const s = d.slice();
      sparsifyDelta(s, cfg, params, ctx, i);
      return s;
    });
    if (cfg.sparsify === 'random') {
      const masks = deltas.map((_, i) => {
        // The drop draw alone, on an all-ones delta: 1 where the element is dropped.
        const ones = new Float32Array(before.length).fill(1);
        sparsifyDelta(ones, { ...cfg }, { ...params, rescale: 'none' }, ctx, i);
        return ones.map((v) => (v === 0 ? 1 : 0));
      });
      visual.drop = {
        p: perParentOrOne(params, 'drop'),
        masks: masks.map((m) => heatmap(m, ref.shape)),
        dropped: masks.map((m) => m.reduce((a, b) => a + b, 0) / Math.max(1, m.length)),
      };
    }
    if (cfg.consensus === 'ties') {
      const weighted = sparse.map((d, i) => d.map((v) => Math.fround(w[i]) * v));
      const r = tiesCombine(weighted, w, params.normalize === true);
      const keptMasks = sparse.map((d) => d.map((v) => (v !== 0 ? 1 : 0)));
      const agreeing = new Float32Array(before.length);
      const conflicts = new Float32Array(before.length);
      for (let j = 0; j < before.length; j++) {
        let pos = false;
        let neg = false;
        for (const d of weighted) {
          if (d[j] > 0) pos = true;
          else if (d[j] < 0) neg = true;
          if ((r.elected[j] > 0 && d[j] > 0) || (r.elected[j] < 0 && d[j] < 0)) agreeing[j] = 1;
        }
        conflicts[j] = pos && neg ? 1 : 0;
      }
      const keptFraction = keptMasks.map((m) => m.reduce((a, b) => a + b, 0) / Math.max(1, m.length));
      const positive = Array.from(r.elected).filter((s) => s > 0).length / Math.max(1, r.elected.length);
      const agree = heatmap(agreeing, ref.shape);
      const density =
        cfg.sparsify === 'magnitude' || cfg.sparsify === 'outliers' || cfg.sparsify === 'della' ? perParentOrOne(params, 'density') : null;
      visual.ties = {
        density,
        kept: keptMasks.map((m) => heatmap(m, ref.shape)),
        keptFraction,
        elected: heatmap(
          Array.from(r.elected, (s) => (s > 0 ? 1 : 0)),
          ref.shape,
        ),
        agreeing: agree,
        conflicts: heatmap(conflicts, ref.shape),
        signConflicts: r.signConflicts,
        steps: [
          {
            step: 'trim',
            text: `Each parent keeps ${keptFraction.map(pct).join(', ')} of its delta${density !== null ? ` (density ${density})` : ''}; the rest is set to zero.`,
          },
          {
            step: 'elect',
            text: `A sign is elected per weight by total mass: + for ${pct(positive)}, − for ${pct(1 - positive)} (where every delta was trimmed the sum is 0 and counts as +, as in mergekit); ${r.signConflicts} weights had parents pulling both ways.`,
          },
          {
            step: 'disjoint mean',
            text: `Only deltas that agree with the elected sign are averaged: ${pct(agree.mean)} of the weights move, the rest stay at the base.`,
          },
        ],
      };
      const lambda = Math.fround(num(params, 'lambda', 1));
      visual.recomputed = maxAbsDiff(
        before.map((b, j) => b + Math.fround(lambda * r.merged[j])),
        after,
      );
    } else visual.recomputed = maxAbsDiff(op.cpu(inputs, params, ctx), after);
  }
  return visual;
}
