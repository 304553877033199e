/**
 * The WebGPU kernel backend: the same interface as the CPU reference backend
 * (src/core/operators/backend.ts), so breed never knows which one it drives.
 *
 * It never runs the CPU behind the caller's back: an operator without a GPU kernel throws
 * NoGpuKernelError (ask hasKernel first), and a device lost mid-run throws DeviceLostError, so
 * the caller can switch to cpuBackend and carry on.
 */
import type { KernelBackend } from '../core/operators/backend.ts';
import type { OperatorDef, ParamValues, TensorContext } from '../core/operators/types.ts';
import { DeviceLostError, getGpu, isDeviceLostError, type Gpu } from './device.ts';
import { KernelContext, type KernelOptions } from './context.ts';
import type { ChunkEvent, DeviceCounters, JobStats } from './tensor-job.ts';
import { OPERATORS } from '../core/operators/registry.ts';
import { GPU_OPERATOR_IDS, hasGpuKernel, kernelFor } from './ops/index.ts';
import { arraySource, readWhole, type ChunkSink, type TensorSource } from './source.ts';

export { DeviceLostError, isDeviceLostError };
export type { ChunkEvent, ChunkSink, JobStats, TensorSource };

/** Elements per chunk (per parent) of a streamed run unless KernelOptions caps it: 4 MiB per input. */
export const STREAM_CHUNK_ELEMENTS = 1 << 20;

export interface StreamOptions extends KernelOptions {
  /** Elements per chunk of runStream (default STREAM_CHUNK_ELEMENTS); maxChunkElements, when set, caps both kinds of run. */
  streamChunkElements?: number;
}

/** One tensor's run on the device: its jobs' counters, summed (peaks: the largest). */
export interface GpuRunStats extends DeviceCounters {
  op: string;
  tensor: string;
  /** 'arrays' for run(), 'stream' for runStream(). */
  mode: 'arrays' | 'stream';
  elements: number;
  ms: number;
}

export class NoGpuKernelError extends Error {
  override readonly name = 'NoGpuKernelError';
  constructor(readonly operator: string) {
    super(`operator "${operator}" has no WebGPU kernel; GPU kernels exist for: ${GPU_OPERATOR_IDS.join(', ')}`);
  }
}

export interface WebGpuBackend extends KernelBackend {
  readonly kind: 'webgpu';
  /** Whether the registry's operator `opId` declares a GPU kernel (otherwise run() throws NoGpuKernelError). */
  hasKernel(opId: string): boolean;
  /** The operator ids with GPU kernels (derived from the registry's `kernel` fields). */
  readonly kernels: readonly string[];
  /** Whether the device behind this backend was lost (create a new backend, or use the CPU). */
  readonly lost: boolean;
  readonly gpu: Gpu;
  /**
   * Run one operator on inputs streamed from `source` (the tensor store, a file, a reader
   * function), chunk by chunk through the double-buffered pipeline: with `sink` the output goes
   * out chunk by chunk in order (and the promise gives null), without it comes back whole.
   * The bytes equal run()'s on the same values.
   */
  runStream(op: OperatorDef, source: TensorSource, params: ParamValues, ctx: TensorContext, sink?: ChunkSink): Promise<Float32Array | null>;
  /** The last run's statistics (chunks, passes, bytes moved, peak GPU bytes), or null before any run. */
  readonly lastRun: GpuRunStats | null;
  /** The most bytes of GPU buffers any run held at once since the backend was made or resetPeak(). */
  readonly peakGpuBytes: number;
  resetPeak(): void;
}

/** The WebGPU backend on the cached device, or null where WebGPU is missing. */
export async function createWebGpuBackend(options: StreamOptions = {}): Promise<WebGpuBackend | null> {
  const gpu = await getGpu();
  if (!gpu) return null;
  return webGpuBackendOn(gpu, options);
}

/** The backend over a given device (tests force small chunks through `options`). */
export function webGpuBackendOn(gpu: Gpu, options: StreamOptions = {}): WebGpuBackend {
  const k = new KernelContext(gpu, options);
  const streamChunk = Math.min(options.maxChunkElements ?? Infinity, options.streamChunkElements ?? STREAM_CHUNK_ELEMENTS);
  const ks = new KernelContext(gpu, { ...options, maxChunkElements: streamChunk });
  // One tensor at a time: runs are queued so they never interleave on the device.
  let queue: Promise<unknown> = Promise.resolve();
  let lastRun: GpuRunStats | null = null;
  let peak = 0;
  const has = hasGpuKernel;
  const start = (
    mode: GpuRunStats['mode'],
    op: OperatorDef,
    source: TensorSource,
    params: ParamValues,
    ctx: TensorContext,
    sink?: ChunkSink,
  ) => {
    if (!has(op.id)) return Promise.reject(new NoGpuKernelError(op.id));
    if (gpu.lost.value) return Promise.reject(new DeviceLostError(gpu.lost.reason));
    // The kernel the registry declares for this id (the caller's `op` carries its configuration).
    const gop = kernelFor(OPERATORS[op.id as keyof typeof OPERATORS])!;
    const kc = mode === 'stream' ? ks : k;
    const next = queue.then(() =>
      kc.guard(`${op.id} on "${ctx.name}"`, async () => {
        const log: JobStats[] = [];
        kc.jobLog = log;
        const t0 = performance.now();
        try {
          return await gop.run(kc, source, params, ctx, op, sink);
        } finally {
          kc.jobLog = null;
          lastRun = runStats(mode, op.id, ctx.name, source.length, log, performance.now() - t0);
          peak = Math.max(peak, lastRun.peakGpuBytes);
        }
      }),
    );
    queue = next.catch(() => undefined);
    return next;
  };
  return Object.freeze({
    kind: 'webgpu' as const,
    adapter: gpu.adapterInfo,
    software: gpu.software,
    gpu,
    kernels: GPU_OPERATOR_IDS,
    get lost() {
      return gpu.lost.value;
    },
    hasKernel: has,
    get lastRun() {
      return lastRun;
    },
    get peakGpuBytes() {
      return peak;
    },
    resetPeak() {
      peak = 0;
    },
    async run(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Promise<Float32Array> {
      const out = await start('arrays', op, arraySource(inputs), params, ctx);
      if (!out) throw new Error(`${op.id} on "${ctx.name}": the kernel gave no output`);
      return out;
    },
    runStream(
      op: OperatorDef,
      source: TensorSource,
      params: ParamValues,
      ctx: TensorContext,
      sink?: ChunkSink,
    ): Promise<Float32Array | null> {
      return start('stream', op, source, params, ctx, sink);
    },
  });
}

/** Counters a run adds up over its jobs, and those where it takes the largest. */
const SUMMED = Object.freeze(['passes', 'chunkReads', 'uploadedBytes', 'readbackBytes', 'overlapped'] as const);
const PEAKS = Object.freeze(['chunks', 'chunkElements', 'peakGpuBytes', 'maxInFlight'] as const);

/** One run's statistics from its jobs (one per run today; several add up, peaks take the largest). */
function runStats(
  mode: GpuRunStats['mode'],
  op: string,
  tensor: string,
  elements: number,
  jobs: readonly JobStats[],
  ms: number,
): GpuRunStats {
  const counters = {} as Record<(typeof SUMMED)[number] | (typeof PEAKS)[number], number>;
  for (const key of SUMMED) counters[key] = jobs.reduce((a, j) => a + j[key], 0);
  for (const key of PEAKS) counters[key] = jobs.reduce((a, j) => Math.max(a, j[key]), 0);
  return {
    op,
    tensor,
    mode,
    elements,
    ...counters,
    ms,
    ...(jobs.some((j) => j.trace) ? { trace: jobs.flatMap((j) => j.trace ?? []) } : {}),
  };
}

export interface FallbackBackend extends KernelBackend {
  /** Why tensors ran on the CPU instead (device lost, or no kernel for the operator); empty when none did. */
  readonly fallbacks: readonly string[];
  /** The GPU backend's peak GPU buffer bytes over its runs (0 when every tensor ran on the CPU). */
  readonly peakGpuBytes: number;
  /**
   * runStream on the GPU; on the CPU (no kernel, or after a device loss) the source is read whole
   * (the CPU reference needs whole tensors) and the output goes to `sink` in one piece.
   */
  runStream(op: OperatorDef, source: TensorSource, params: ParamValues, ctx: TensorContext, sink?: ChunkSink): Promise<Float32Array | null>;
}

/**
 * The WebGPU backend with an explicit, recorded CPU fallback: a tensor whose operator has no GPU
 * kernel runs on `cpu`, and after the device is lost every remaining tensor does. `adapter` then
 * says so (a receipt built from it names both backends), and `kind` is the backend that ran the
 * last tensor. Other GPU errors are not hidden: they reject.
 */
export function withCpuFallback(gpu: WebGpuBackend, cpu: KernelBackend, onFallback?: (reason: string) => void): FallbackBackend {
  const fallbacks: string[] = [];
  let lastKind: KernelBackend['kind'] = gpu.kind;
  const note = (reason: string) => {
    if (!fallbacks.includes(reason)) {
      fallbacks.push(reason);
      onFallback?.(reason);
    }
  };
  return {
    get kind() {
      return lastKind;
    },
    get adapter() {
      return fallbacks.length ? `${gpu.adapter}; ${cpu.adapter} for some tensors (${fallbacks.join('; ')})` : gpu.adapter;
    },
    get software() {
      return gpu.software;
    },
    get fallbacks() {
      return fallbacks;
    },
    get peakGpuBytes() {
      return gpu.peakGpuBytes;
    },
    async run(op, inputs, params, ctx) {
      if (!gpu.lost && gpu.hasKernel(op.id)) {
        try {
          const out = await gpu.run(op, inputs, params, ctx);
          lastKind = gpu.kind;
          return out;
        } catch (e) {
          if (!isDeviceLostError(e)) throw e;
          note(e.message);
        }
      } else if (gpu.lost) note(`WebGPU device lost: ${gpu.gpu.lost.reason}`);
      else note(`no WebGPU kernel for ${op.id}`);
      lastKind = cpu.kind;
      return cpu.run(op, inputs, params, ctx);
    },
    async runStream(op, source, params, ctx, sink) {
      if (!gpu.lost && gpu.hasKernel(op.id)) {
        // A sink that already took chunks cannot be replayed from the CPU: only a loss before the first chunk falls back.
        let delivered = false;
        const counted: ChunkSink | undefined = sink && ((offset, values) => ((delivered = true), sink(offset, values)));
        try {
          const out = await gpu.runStream(op, source, params, ctx, counted);
          lastKind = gpu.kind;
          return out;
        } catch (e) {
          if (!isDeviceLostError(e) || delivered) throw e;
          note(e.message);
        }
      } else if (gpu.lost) note(`WebGPU device lost: ${gpu.gpu.lost.reason}`);
      else note(`no WebGPU kernel for ${op.id}`);
      lastKind = cpu.kind;
      const out = await cpu.run(op, await readWhole(source), params, ctx);
      if (!sink) return out;
      await sink(0, out);
      return null;
    },
  };
}
