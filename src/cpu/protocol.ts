/**
 * Messages between a CpuPool and its workers. Arrays travel as (SharedArrayBuffer, offset,
 * length) so every worker works in place on the same memory; nothing is copied.
 */
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

export interface SharedF32 {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

export interface RangeJob {
  id: number;
  kernel: string;
  params: ParamValues;
  ctx: TensorContext;
  inputs: SharedF32[];
  out: SharedF32;
  start: number;
  end: number;
  /** Every array is in the pool's arena (sent once with ArenaInit): the SIMD loops work on it in place. */
  arena?: boolean;
  /** A pass of the kernel's reduce plan instead of its run: the reply carries the range's partial. */
  reduce?: { pass: number; carry: unknown; part: { index: number; count: number } };
}

/** Sent to each worker once, before any job: the pool's shared arena memory. */
export interface ArenaInit {
  arena: WebAssembly.Memory;
  /** Byte offset in the arena of this worker's own scratch block (simd-select.ts: SELECT_SCRATCH_BYTES). */
  scratch?: number;
}

/** stream.ts's chunkStats over two shared arrays, from the running sum of squares `sq` (one worker, element order). */
export interface StatsJob {
  id: number;
  stats: { before: SharedF32; after: SharedF32; sq: number };
  /** Both arrays are in the pool's arena: the SIMD loop (simd-stats.ts) reads them in place. */
  arena?: boolean;
}

export type WorkerMessage = RangeJob | ArenaInit | StatsJob;

export type RangeReply =
  { id: number; ok: true; ms: number; counts?: Record<string, number>; partial?: unknown } | { id: number; ok: false; error: string };
