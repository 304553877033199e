/**
 * Shared by every bench path (Node, browser page, browser worker, Dawn): seeded data, timing,
 * default operator parameters and the result rows.
 */
import type { OperatorDef, ParamValues } from '../src/core/operators/types.ts';
import { resolveParams } from '../src/core/operators/params.ts';

export const PATHS = Object.freeze({
  'cpu-node': 'CPU path, Node worker_threads',
  'cpu-browser': 'CPU path, Chromium Web Workers',
  'webgpu-browser': 'WebGPU, Chromium',
  'webgpu-dawn': 'WebGPU, Dawn in Node (webgpu npm package)',
} as const);
export type BenchPath = keyof typeof PATHS;

/** One measured kernel at one size on one path. */
export interface KernelRow {
  path: BenchPath;
  adapter: string;
  software: boolean;
  operator: string;
  /** Which implementation: 'fast' (range kernel, workers), 'reference' (single-threaded loop), 'gpu'. */
  impl: string;
  elements: number;
  inputs: number;
  /** Best (minimum) wall time of the repetitions, ms. */
  ms: number;
  medianMs: number;
  reps: number;
  /** Bytes moved (each input read once, the output written once) per second, in GB/s (1e9). */
  gbps: number;
  /** The copy yardstick on the same device in the same run, GB/s. */
  copyGbps: number;
  /** gbps / copyGbps. */
  ofCopy: number;
  /** Reference time / this time, for the CPU fast path; undefined elsewhere. */
  speedup?: number;
  note?: string;
}

export interface CopyRow {
  path: BenchPath;
  adapter: string;
  software: boolean;
  impl: string;
  elements: number;
  ms: number;
  gbps: number;
}

export const SIZES_FULL = Object.freeze([1 << 20, 1 << 22, 1 << 24, 1 << 26]);
/** 256 K elements: above the pool's inline threshold (so the workers split it), small enough for `npm test`. */
export const SIZES_SMOKE = Object.freeze([1 << 18]);
/**
 * A full run times operators without a range kernel (single-threaded reference loops, up to
 * ~0.2 µs per element) at these sizes only, so the whole run stays within minutes on 2 cores.
 */
export const REFERENCE_SIZES_FULL = Object.freeze([1 << 20, 1 << 24]);
/** A software WebGPU adapter (SwiftShader) is timed up to this size only: it is no performance figure. */
export const SOFTWARE_GPU_MAX = 1 << 24;

/**
 * xorshift32 floats in [−1, 1), seeded, as a stream: fill() continues where the last call
 * stopped, so a tensor generated chunk by chunk equals the same tensor generated at once.
 */
export class SeededStream {
  private s: number;
  constructor(
    seed: number,
    private readonly scale = 1,
  ) {
    this.s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  }
  fill(a: Float32Array): Float32Array {
    let s = this.s;
    const scale = this.scale;
    for (let i = 0; i < a.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      a[i] = ((s >>> 0) / 2147483648 - 1) * scale;
    }
    this.s = s;
    return a;
  }
}

/** xorshift32 floats in [−1, 1), seeded; fast enough for 64 M elements. */
export function fillSeeded(a: Float32Array, seed: number, scale = 1): Float32Array {
  return new SeededStream(seed, scale).fill(a);
}

export interface Timing {
  ms: number;
  medianMs: number;
  reps: number;
}

/**
 * Time `fn`: one warm-up, then repetitions until `budgetMs` is spent (at least `minReps`, at most
 * `maxReps`; a run longer than the budget counts as a repetition, and then `atLeast` are taken).
 * Reports the best and the median; bandwidth figures use the best, the usual
 * convention for a shared machine where other work can only slow a run down.
 */
export async function timeIt(fn: () => unknown, budgetMs: number, minReps = 3, maxReps = 50, atLeast = 1): Promise<Timing> {
  const times: number[] = [];
  const t0 = performance.now();
  await fn();
  const first = performance.now() - t0;
  // A run longer than the budget is its own warm-up: JIT state no longer matters at that scale.
  if (first > budgetMs) times.push(first);
  while (
    (times.length < minReps && (first <= budgetMs || times.length < atLeast)) ||
    (times.length < maxReps && performance.now() - t0 < budgetMs)
  ) {
    const s = performance.now();
    await fn();
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return { ms: times[0], medianMs: times[Math.floor(times.length / 2)], reps: times.length };
}

export const gbps = (bytes: number, ms: number) => bytes / (ms * 1e6);

/**
 * Parameters for a timing run: the operator's declared defaults (resolveParams), plus the
 * per-tensor values of its model-level pre-pass computed on this one tensor (mutate's spread).
 */
export function benchParams(op: OperatorDef, parents: number, inputs: readonly Float32Array[], name: string): ParamValues {
  const params = resolveParams(op, {}, parents);
  if (!op.prepare) return params;
  const view = { names: [name], shapes: [[inputs[0].length]], inputs: () => inputs };
  return { ...params, ...(op.prepare(view, params, 7)[name] ?? {}) };
}

/** How many inputs a timing run of `op` gets: three parents (as in the breed), plus the base if it needs one. */
export function inputCount(op: OperatorDef): { parents: number; inputs: number } {
  const parents = Math.max(op.parents.min, Math.min(3, op.parents.max));
  return { parents, inputs: parents + (op.needsBase ? 1 : 0) };
}

export const fmtBytes = (b: number) =>
  b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`;
export const fmtElements = (n: number) => (n >= 1 << 20 ? `${n / (1 << 20)} M` : `${n / 1024} K`);
