/**
 * The task-arithmetic family on the GPU, configured by the operator's TaskArithmeticConfig like
 * taskArithmeticCpu: per-tensor clip norms and L1 masses by GPU reductions, magnitude trimming by
 * exact radix select on the clipped deltas (or the model pre-pass's cutoffs), then one pass.
 * DELLA: each row's magnitude ranks need a sort, which the host does with the CPU's own
 * dellaKeepProbabilities (so the probabilities are the CPU's bit for bit); they travel as P extra
 * input slabs after the parents, and the GPU draws against them (the counter-based generator),
 * rescales by its L1 reductions, weighs, elects signs and counts.
 */
import code from './task-arithmetic.wgsl?raw';
import {
  dellaKeepProbabilities,
  keepCount,
  keptKey,
  normalizeDivisor,
  outlierCounts,
  parentDelta,
} from '../../core/operators/task-arithmetic.cpu.ts';
import { num, numAt, weightsOf } from '../../core/operators/params.ts';
import { tensorKey } from '../../core/operators/prng.ts';
import type { ParamValues, TaskArithmeticConfig, TensorContext } from '../../core/operators/types.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { radixSelect, type Cutoff } from '../radix-select.ts';
import { arraySource, readWhole, type ChunkSink, type TensorSource } from '../source.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct, type StructValues } from '../wgsl-struct.ts';
import type { GpuKernel } from './types.ts';

export class TaskArithmeticStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'task arithmetic', code);
  }
}

/** The final pass with the receipt's kept counts and sign conflicts fused in (entry `counted`). */
export class TaskArithmeticCountedStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'task arithmetic counted', code, 'counted');
  }
}

export class TaskArithmeticNormsStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'task arithmetic reductions', code, 'reduce', true);
  }
}

/** mergekit's eps in rescaled_masked_tensor, as in taskArithmeticCpu. */
const L1_EPS = 1e-7;

const SPARSIFY_CODE = Object.freeze({ none: 0, magnitude: 1, random: 2, outliers: 3, della: 4 } as const);
/** TALLY_SLOTS in task-arithmetic.wgsl: the counted pass serves up to this many parents + 1. */
const TALLY_SLOTS = 256;

export const ParentParams = wgslStruct('ParentParams', {
  clip: 'f32',
  cutoffBits: 'u32',
  cutoffIndex: 'u32',
  rescale: 'f32',
  weight: 'f32',
  loBits: 'u32',
  loIndex: 'u32',
  drop: 'f32',
});
export const TaskArithmeticParams = wgslStruct('TaskArithmeticParams', {
  sparsify: 'u32',
  consensus: 'u32',
  normalize: 'u32',
  lambda: 'f32',
  divisor: 'f32',
  models: 'u32',
  parents: arrayOf(ParentParams),
});
type Parent = { -readonly [K in keyof StructValues<typeof ParentParams.fields>]: number };

export async function taskArithmeticGpu(
  k: KernelContext,
  cfg: TaskArithmeticConfig,
  src: TensorSource,
  params: ParamValues,
  ctx: TensorContext,
  sink?: ChunkSink,
): Promise<Float32Array | null> {
  const P = src.parents - 1;
  if (P < 1) throw new Error('task arithmetic needs a base and at least one parent');
  const w = weightsOf(params, 'weights', P, 1);
  const normalize = params.normalize === true;
  const sumW = cfg.consensus === 'none' && normalize ? normalizeDivisor(w) : 0;
  const clipNorm = typeof params.clipNorm === 'number' ? params.clipNorm : 0;
  const rescale = (params.rescale as string | undefined) ?? 'none';
  // Density, drop and gamma may be one per parent (numAt).
  const drop = Array.from({ length: P }, (_, p) => (cfg.sparsify === 'random' ? numAt(params, 'drop', p) : 0));
  const ranked = cfg.sparsify === 'magnitude' || cfg.sparsify === 'outliers' || cfg.sparsify === 'della';
  const density = Array.from({ length: P }, (_, p) => (ranked ? numAt(params, 'density', p) : 1));
  if (cfg.sparsify === 'della') src = await withDellaProbabilities(src, P, density, params, ctx);
  const parents: Parent[] = Array.from({ length: P }, (_, p) => ({
    clip: 1,
    cutoffBits: 0,
    cutoffIndex: 0,
    rescale: 1,
    weight: w[p],
    loBits: 0,
    loIndex: 0,
    drop: drop[p],
  }));
  let sparsify: number = SPARSIFY_CODE[cfg.sparsify];
  const values = () => ({
    sparsify,
    consensus: cfg.consensus === 'ties' ? 1 : 0,
    normalize: normalize ? 1 : 0,
    lambda: num(params, 'lambda', 1),
    divisor: sumW,
    models: P,
    parents,
  });
  const job = new TensorJob(k, `task arithmetic "${ctx.name}"`, src, {
    key: tensorKey(ctx.seed, ctx.name),
    indexBase: cfg.sparsify === 'random' ? (ctx.offset ?? 0) : 0,
  });
  try {
    const n = job.plan.total;
    const norms = k.stage(TaskArithmeticNormsStage);
    // Step 2: clip factors, from the pre-pass or from this tensor's delta norms.
    if (clipNorm > 0) {
      let factors: number[];
      if (Array.isArray(params.clipFactors)) factors = params.clipFactors;
      else if (params.clipScope === 'update')
        throw new Error('update-wide clipping needs the model pre-pass (clipFactors); run it through breed');
      else {
        const sums = await job.reduce(norms, job.params(TaskArithmeticParams, values()), { slabs: P, mode: 0 });
        factors = Array.from({ length: P }, (_, p) => {
          const norm = Math.sqrt(sums[2 * p]);
          return norm > clipNorm ? clipNorm / norm : 1;
        });
      }
      // As f32: the kernels and the selection scale by the rounded factor.
      for (const [p, parent] of parents.entries()) parent.clip = Math.fround(factors[p]);
    }
    // Step 3: magnitude cutoffs, from the pre-pass (model-wide trimming) or by exact selection.
    // A density of 1 or more keeps every delta untouched (mergekit): no cutoff, no rescale.
    // With one density per parent, a parent whose density is 1 or more keeps everything: its
    // cutoff keeps all n (top n; outliers: hi prunes nothing, lo prunes nothing).
    const trimmed = (p: number) => cfg.sparsify === 'random' || (ranked && density[p] < 1);
    const sparse = Array.from({ length: P }, (_, p) => trimmed(p)).some(Boolean);
    if (!sparse) sparsify = SPARSIFY_CODE.none;
    if (cfg.sparsify === 'outliers' && sparse) {
      // Two bottom-m cutoffs per parent (outlierCounts): `hi` prunes all but the nTop largest, `lo` the nBot smallest.
      const counts = (p: number) =>
        trimmed(p) ? outlierCounts(density[p], numAt(params, 'gamma', p, 0.01), n, ctx.name) : { nBot: 0, nTop: 0 };
      const reqs = parents
        .map((parent, p) => [
          { parent: p + 1, base: 0, scale: parent.clip, k: n - counts(p).nTop, order: 'bottom' as const },
          { parent: p + 1, base: 0, scale: parent.clip, k: counts(p).nBot, order: 'bottom' as const },
        ])
        .flat();
      const cutoffs = await radixSelect(job, reqs);
      for (const [p, parent] of parents.entries()) {
        setCutoff(parent, cutoffs[2 * p]);
        parent.loBits = cutoffs[2 * p + 1].bits >>> 0;
        parent.loIndex = cutoffs[2 * p + 1].index >>> 0;
      }
    }
    if (cfg.sparsify === 'magnitude' && sparse) {
      let cutoffs: Cutoff[];
      if (Array.isArray(params.trimBits) && Array.isArray(params.trimIndex)) {
        const bits = params.trimBits;
        const index = params.trimIndex;
        cutoffs = Array.from({ length: P }, (_, p) => ({ bits: bits[p], index: index[p] }));
      } else {
        const kk = (p: number) => (trimmed(p) ? keepCount(density[p], n, ctx.name) : n);
        cutoffs = await radixSelect(
          job,
          parents.map((parent, p) => ({ parent: p + 1, base: 0, scale: parent.clip, k: kk(p), order: 'top' as const })),
        );
      }
      for (const [p, parent] of parents.entries()) setCutoff(parent, cutoffs[p]);
    }
    // Step 4: rescale factors.
    if (sparse) {
      const keep = (p: number) => (cfg.sparsify === 'random' ? 1 - drop[p] : density[p]);
      if (rescale === 'inverse') for (const [p, parent] of parents.entries()) if (trimmed(p) && keep(p) > 0) parent.rescale = 1 / keep(p);
      if (rescale === 'l1') {
        const sums = await job.reduce(norms, job.params(TaskArithmeticParams, values()), { slabs: P, mode: 1 });
        for (const [p, parent] of parents.entries())
          if (trimmed(p) && sums[2 * p] >= L1_EPS && sums[2 * p + 1] >= L1_EPS) parent.rescale = sums[2 * p] / sums[2 * p + 1];
      }
    }
    const final = job.params(TaskArithmeticParams, values());
    const wantKept = cfg.sparsify !== 'none' && ctx.stats !== undefined;
    const wantConflicts = cfg.consensus === 'ties' && ctx.stats !== undefined;
    if (!wantKept && !wantConflicts) return await job.elementwise(k.stage(TaskArithmeticStage), final, { sink });
    // The receipt's counts: exact (whole-number float32 partials, float64 across). Fused into
    // the final pass; with more parents than the pass has counters, by reductions first.
    let out: Float32Array | null;
    let kept: ArrayLike<number>;
    let conflicts: number;
    if (P + 1 <= TALLY_SLOTS) {
      const r = await job.elementwiseTally(k.stage(TaskArithmeticCountedStage), final, { sink, slots: P + 1 });
      out = r.out;
      kept = r.sums.subarray(0, P);
      conflicts = r.sums[P];
    } else {
      const keptSums = sparse && wantKept ? await job.reduce(norms, final, { slabs: P, mode: 3 }) : null;
      kept = Array.from({ length: P }, (_, p) => (keptSums ? keptSums[2 * p] : n));
      conflicts = wantConflicts ? (await job.reduce(norms, final, { slabs: 1, mode: 2 }))[0] : 0;
      out = await job.elementwise(k.stage(TaskArithmeticStage), final, { sink });
    }
    if (wantKept) for (let p = 0; p < P; p++) ctx.stats![keptKey(p)] = sparse ? kept[p] : n;
    if (wantConflicts) ctx.stats!.signConflicts = conflicts;
    return out;
  } finally {
    job.dispose();
  }
}

function setCutoff(parent: Parent, c: Cutoff): void {
  parent.cutoffBits = c.bits >>> 0;
  parent.cutoffIndex = c.index >>> 0;
}

/**
 * DELLA's inputs: the parents followed by one slab per parent of keep probabilities (1 for a
 * parent whose density is 1 or more: kept whole, as the CPU leaves it). Needs the whole tensor on
 * the host, as the row sort does.
 */
async function withDellaProbabilities(
  src: TensorSource,
  P: number,
  density: readonly number[],
  params: ParamValues,
  ctx: TensorContext,
): Promise<TensorSource> {
  const whole = await readWhole(src);
  const probs = Array.from({ length: P }, (_, p) =>
    density[p] >= 1
      ? new Float32Array(src.length).fill(1)
      : dellaKeepProbabilities(parentDelta(whole[0], whole[p + 1], params, p), density[p], numAt(params, 'epsilon', p, 0.15), ctx),
  );
  return arraySource([...whole, ...probs]);
}

/** The family's kernel: each member's configuration comes from the operator's declaration. */
export const taskArithmeticKernel: GpuKernel = {
  id: 'task-arithmetic',
  run: (k, src, params, ctx, op, sink) => {
    if (op.kernel?.id !== 'task-arithmetic') throw new Error(`${op.id}: the operator declares no task-arithmetic configuration`);
    return taskArithmeticGpu(k, op.kernel.cfg, src, params, ctx, sink);
  },
};
