// Types of matvec-jobs.mjs (the threaded matvec's job protocol).
export type MatvecFn = (...args: number[]) => void;
export const SEQ: number;
export const NEXT: number;
export const COMPLETED: number;
export const TOTAL: number;
export const NOPS: number;
export const CHUNKS: number;
export const OPS: number;
export const OP_INTS: number;
export const MAX_OPS: number;
export const CTRL_BYTES: number;
export const STOP: number;
export const CLOSED: number;
export const FN_NAMES: readonly ['f32mv', 'i8mv', 'i4mv'];
export function runRows(
  fns: readonly MatvecFn[],
  fn: number,
  w: number,
  ws: number,
  s: number,
  ss: number,
  x: number,
  y: number,
  r0: number,
  r1: number,
  a: number,
  b: number,
): void;
export function work(ctrl: Int32Array, fns: readonly MatvecFn[], seq: number): number;
export function serve(ctrl: Int32Array, fns: readonly MatvecFn[], spin?: number): void;
