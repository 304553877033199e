/**
 * The data-informed breed: a backend wrapper that hands each tensor its statistics
 * (statistics.ts) and keeps what the operator reported, and breed() run through it.
 */
import type { KernelBackend } from './backend.ts';
import { breed, type BreedProgress, type BreedRequest, type BreedResult, type TensorStat } from './breed.ts';
import type { BreedStatistics, FisherLabels, StatisticsContext, StatisticsKind } from './statistics.ts';

/** What the data-informed operators report per tensor (read from the operator's ctx.stats). */
export interface DataInformedStat {
  /** regmean: estimate of the condition number of Σ G̃ on the inputs the calibration rows reached. */
  conditionNumber?: number;
  /** regmean: inputs no calibration row activated (their weight rows are averaged). */
  unseenInputs?: number;
  /** fisher: per parent, the mean of its diagonal Fisher over the tensor's elements. */
  fisherMean?: number[];
}

/**
 * A backend that hands each tensor its statistics (ctx.statistics) and keeps what the operator
 * reported about them. It has no runStream: a data-informed operator needs the whole tensor.
 */
export function withStatistics(
  inner: KernelBackend,
  statistics: BreedStatistics,
): { backend: KernelBackend; reported: Map<string, DataInformedStat> } {
  const reported = new Map<string, DataInformedStat>();
  // Getters, not copies: a fallback backend says which one ran only after the run (src/gpu/backend.ts withCpuFallback).
  const backend: KernelBackend = {
    get kind() {
      return inner.kind;
    },
    get adapter() {
      return inner.adapter;
    },
    get software() {
      return inner.software;
    },
    async run(op, inputs, params, ctx) {
      const extra: Record<string, number> = ctx.stats ?? {};
      const sctx: StatisticsContext = { ...ctx, stats: extra, statistics: statistics.tensors[ctx.name] ?? null };
      const out = await inner.run(op, inputs, params, sctx);
      const r: DataInformedStat = {};
      if (typeof extra.conditionNumber === 'number') r.conditionNumber = extra.conditionNumber;
      if (typeof extra.unseenInputs === 'number') r.unseenInputs = extra.unseenInputs;
      const means: number[] = [];
      for (let p = 0; typeof extra[`fisherMean:${p}`] === 'number'; p++) means.push(extra[`fisherMean:${p}`]);
      if (means.length) r.fisherMean = means;
      reported.set(ctx.name, r);
      return out;
    },
  };
  return { backend, reported };
}

/** A breed's result with what the method reported per tensor and which statistics it was given. */
export interface DataInformedResult extends Omit<BreedResult, 'stats'> {
  stats: (TensorStat & DataInformedStat)[];
  statistics: { kind: StatisticsKind; rows: readonly number[]; labels?: FisherLabels };
}

/** Breed with statistics: the result's per-tensor stats carry what the method reported (the receipt's conditioning and Fisher means). */
export async function breedWithStatistics(
  req: BreedRequest,
  statistics: BreedStatistics,
  backend: KernelBackend,
  onProgress?: (p: BreedProgress) => void,
  signal?: { readonly aborted: boolean },
): Promise<DataInformedResult> {
  const { backend: b, reported } = withStatistics(backend, statistics);
  const result = await breed(req, b, onProgress, signal);
  return {
    ...result,
    stats: result.stats.map((s) => ({ ...s, ...reported.get(s.name) })),
    statistics: { kind: statistics.kind, rows: statistics.rows, ...(statistics.labels ? { labels: statistics.labels } : {}) },
  };
}
