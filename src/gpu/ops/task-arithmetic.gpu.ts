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
import { ElementwiseStage, f32Bits, type KernelContext, type Cutoff } from '../kernel-context.ts';
import { arraySource, readWhole, type ChunkSink, type TensorSource } from '../source.ts';
import type { GpuKernel } from './types.ts';

export class TaskArithmeticStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'task arithmetic', code);
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
  const words = new Uint32Array(8 + 8 * P);
  words.set([
    SPARSIFY_CODE[cfg.sparsify],
    cfg.consensus === 'ties' ? 1 : 0,
    normalize ? 1 : 0,
    0,
    f32Bits(num(params, 'lambda', 1)),
    f32Bits(sumW),
    P,
  ]);
  for (let p = 0; p < P; p++) words.set([f32Bits(1), 0, 0, f32Bits(1), f32Bits(w[p]), 0, 0, f32Bits(drop[p])], 8 + 8 * p);
  const job = k.job(
    `task arithmetic "${ctx.name}"`,
    src,
    tensorKey(ctx.seed, ctx.name),
    1,
    cfg.sparsify === 'random' ? (ctx.offset ?? 0) : 0,
  );
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
        const sums = await job.reduce(norms, job.params('clip params', words), P, 0);
        factors = Array.from({ length: P }, (_, p) => {
          const norm = Math.sqrt(sums[2 * p]);
          return norm > clipNorm ? clipNorm / norm : 1;
        });
      }
      for (let p = 0; p < P; p++) words[8 + 8 * p] = f32Bits(factors[p]);
    }
    // Step 3: magnitude cutoffs, from the pre-pass (model-wide trimming) or by exact selection.
    // A density of 1 or more keeps every delta untouched (mergekit): no cutoff, no rescale.
    // With one density per parent, a parent whose density is 1 or more keeps everything: its
    // cutoff keeps all n (top n; outliers: hi prunes nothing, lo prunes nothing).
    const trimmed = (p: number) => cfg.sparsify === 'random' || (ranked && density[p] < 1);
    const sparse = Array.from({ length: P }, (_, p) => trimmed(p)).some(Boolean);
    if (!sparse) words[0] = SPARSIFY_CODE.none;
    if (cfg.sparsify === 'outliers' && sparse) {
      // Two bottom-m cutoffs per parent (outlierCounts): `hi` prunes all but the nTop largest, `lo` the nBot smallest.
      const counts = (p: number) =>
        trimmed(p) ? outlierCounts(density[p], numAt(params, 'gamma', p, 0.01), n, ctx.name) : { nBot: 0, nTop: 0 };
      const scale = (p: number) => new Float32Array(new Uint32Array([words[8 + 8 * p]]).buffer)[0];
      const reqs = Array.from({ length: P }, (_, p) => [
        { parent: p + 1, base: 0, scale: scale(p), k: n - counts(p).nTop, order: 'bottom' as const },
        { parent: p + 1, base: 0, scale: scale(p), k: counts(p).nBot, order: 'bottom' as const },
      ]).flat();
      const cutoffs = await job.select(reqs);
      for (let p = 0; p < P; p++) {
        const hi = cutoffs[2 * p];
        const lo = cutoffs[2 * p + 1];
        words.set([hi.bits >>> 0, hi.index >>> 0], 8 + 8 * p + 1);
        words.set([lo.bits >>> 0, lo.index >>> 0], 8 + 8 * p + 5);
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
        const scale = (p: number) => new Float32Array(new Uint32Array([words[8 + 8 * p]]).buffer)[0];
        cutoffs = await job.select(
          Array.from({ length: P }, (_, p) => ({ parent: p + 1, base: 0, scale: scale(p), k: kk(p), order: 'top' as const })),
        );
      }
      for (let p = 0; p < P; p++) words.set([cutoffs[p].bits >>> 0, cutoffs[p].index >>> 0], 8 + 8 * p + 1);
    }
    // Step 4: rescale factors.
    if (sparse) {
      const keep = (p: number) => (cfg.sparsify === 'random' ? 1 - drop[p] : density[p]);
      if (rescale === 'inverse') for (let p = 0; p < P; p++) if (trimmed(p) && keep(p) > 0) words[8 + 8 * p + 3] = f32Bits(1 / keep(p));
      if (rescale === 'l1') {
        const sums = await job.reduce(norms, job.params('l1 params', words), P, 1);
        for (let p = 0; p < P; p++)
          if (trimmed(p) && sums[2 * p] >= L1_EPS && sums[2 * p + 1] >= L1_EPS)
            words[8 + 8 * p + 3] = f32Bits(sums[2 * p] / sums[2 * p + 1]);
      }
    }
    const final = job.params('task arithmetic params', words);
    if (cfg.sparsify !== 'none' && ctx.stats) {
      // The receipt's kept counts per parent: exact (whole-number float32 partials, float64 across).
      const kept = sparse ? await job.reduce(norms, final, P, 3) : null;
      for (let p = 0; p < P; p++) ctx.stats[keptKey(p)] = kept ? kept[2 * p] : n;
    }
    if (cfg.consensus === 'ties' && ctx.stats) {
      const [conflicts] = await job.reduce(norms, final, 1, 2);
      ctx.stats.signConflicts = conflicts;
    }
    return await job.elementwise(k.stage(TaskArithmeticStage), final, 0, 0, undefined, sink);
  } finally {
    job.dispose();
  }
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
