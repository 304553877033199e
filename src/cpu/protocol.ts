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
}

export type RangeReply = { id: number; ok: true; ms: number } | { id: number; ok: false; error: string };
