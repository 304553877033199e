/**
 * A kernel backend runs one operator on one tensor. The CPU reference backend lives here; the
 * WebGPU backend (src/gpu/backend.ts) implements the same interface, so `breed` never knows which
 * one it drives, and a lost GPU device can fall back to this one mid-run.
 */
import type { OperatorDef, ParamValues, TensorContext } from './types.ts';
import type { ChunkStats } from './stream.ts';

export const BACKEND_KINDS = Object.freeze(['cpu', 'webgpu'] as const);
export type BackendKind = (typeof BACKEND_KINDS)[number];

/**
 * Where a streamed run's inputs come from: element ranges of each input on demand, so a tensor
 * never has to be in memory (or on the device) as a whole. Implementations: src/gpu/source.ts
 * (arrays, reader functions, iterables, the tensor store, byte ranges) and stream.ts (a model's
 * stored tensors, for breed). A source must give the same values every time it is asked for the
 * same range (multi-pass kernels read ranges again).
 */
export interface TensorSource {
  /** Number of input tensors (the base included when the operator has one). */
  readonly parents: number;
  /** Elements in each input tensor. */
  readonly length: number;
  /**
   * A range of one input; the same range always gives the same values. The pipeline holds two
   * answers at once (it reads one chunk ahead), so a reader must not reuse an array it returned.
   */
  read(parent: number, offset: number, length: number): Promise<Float32Array>;
  /** The whole inputs, when they are in memory (lets the pipeline skip the reader). */
  readonly arrays?: readonly Float32Array[];
}

/** Called with each output chunk in order (offset ascending); awaited before more results are read back. */
export type ChunkSink = (offset: number, values: Float32Array) => void | Promise<void>;

export interface KernelBackend {
  readonly kind: BackendKind;
  /** Human-readable adapter: "CPU reference (JavaScript)", or the WebGPU adapter's vendor/architecture/description. */
  readonly adapter: string;
  /** True for software adapters (SwiftShader): never a performance figure. */
  readonly software: boolean;
  run(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Promise<Float32Array>;
  /**
   * Optional: run() with the output left in the backend's own memory (the CPU pool's arena) and
   * lent to the caller until it calls give(), instead of copied out; the caller must not touch
   * it after. Same values as run(). breedStream uses it when its outputs are done with the bytes
   * once their write resolves (StreamBreedOptions.writeCopies).
   */
  runLent?(
    op: OperatorDef,
    inputs: readonly Float32Array[],
    params: ParamValues,
    ctx: TensorContext,
  ): Promise<{ out: Float32Array; give(): void }>;
  /**
   * Optional: stream.ts's chunkStats(before, after, sq) off the calling thread (a CPU pool
   * worker), the same numbers; null where it cannot (the arrays are not in shared memory). The
   * arrays must stay unchanged until the promise settles.
   */
  chunkStats?(before: Float32Array, after: Float32Array, sq: number): Promise<ChunkStats> | null;
  /**
   * Optional: run one operator on inputs read range by range from `source`; with `sink` the
   * output leaves chunk by chunk in order (and the promise gives null), without it comes back
   * whole. The bytes equal run()'s on the same values. breed() uses it for tensors above its
   * streaming threshold when the backend has it (the WebGPU backend and its CPU fallback do).
   */
  runStream?(
    op: OperatorDef,
    source: TensorSource,
    params: ParamValues,
    ctx: TensorContext,
    sink?: ChunkSink,
  ): Promise<Float32Array | null>;
}

export const cpuBackend: KernelBackend = Object.freeze({
  kind: 'cpu',
  adapter: 'CPU reference (JavaScript)',
  software: false,
  run: async (op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext) => op.cpu(inputs, params, ctx),
});
