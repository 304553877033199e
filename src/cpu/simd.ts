/**
 * WebAssembly SIMD for the range kernels (JavaScript alone is compute-bound at a fifth of copy
 * bandwidth). 128-bit loops, hand-assembled below so no toolchain is needed:
 *
 *   first(o, x, w, nBytes):  o[i] = 0 + w·x[i]       (f32x4.mul, f32x4.add)
 *   acc(o, x, w, nBytes):    o[i] = o[i] + w·x[i]
 *   blendK(o, x₀…x_{K−1}, w₀…w_{K−1}, div, nBytes), K = 2, 3, 4:
 *                            o[i] = (((0 + w₀x₀[i]) + w₁x₁[i]) + …) / div   (one fused pass)
 *   taK(o, b, x₁…x_K, w₁…w_K, λ, div, nBytes), K = 1…4 (task delta, federated):
 *                            o[i] = b[i] + λ·((((0 + w₁(x₁[i] − b[i])) + …) / div)
 *
 * WebAssembly f32 arithmetic is IEEE single precision with round-to-nearest-even, exactly what
 * Math.fround gives for one + or × of two float32 values, so the results are bit-identical to the
 * reference (src/core/operators/blend.cpu.ts); fast.test.ts checks it. Only NaN payload bits may
 * differ (a NaN stays a NaN).
 *
 * In place: when every array lives in the pool's arena (arena.ts, a shared WebAssembly.Memory
 * that each thread's module imports), blendK reads the inputs and writes the output where they
 * are, one pass. Otherwise each block of every input goes through a private 2-block scratch
 * memory (first/acc): still one read from RAM per input byte, plus L1 copies.
 */
import { blendWeights } from '../core/operators/blend.cpu.ts';
import { getOperator, isOperatorId } from '../core/operators/registry.ts';
import { getFastKernel, soupAsBlend } from '../core/operators/fast/kernels.ts';
import { num, weightsOf } from '../core/operators/params.ts';
import { normalizeDivisor } from '../core/operators/task-arithmetic.cpu.ts';
import { elementwiseSimdRange } from './simd-elementwise.ts';
import {
  F32,
  I32,
  V128,
  f32x4add,
  f32x4div,
  f32x4mul,
  f32x4splat,
  f32x4sub,
  get,
  leb,
  name,
  section,
  set,
  v128load,
  v128store,
} from './wasm-asm.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

/** Params: 0 o, 1 x, 2 w, 3 nBytes; locals: 4 i (i32), 5 ws (v128), 6 zero (v128, stays 0). */
function body(accumulate: boolean): number[] {
  const code = [
    ...get(2),
    ...f32x4splat,
    ...set(5),
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...get(4),
    ...get(3),
    0x4f,
    0x0d,
    1, // if i >= n break
    ...get(0),
    ...get(4),
    0x6a, // store address o + i
    ...(accumulate ? [...get(0), ...get(4), 0x6a, ...v128load] : get(6)),
    ...get(5),
    ...get(1),
    ...get(4),
    0x6a,
    ...v128load,
    ...f32x4mul,
    ...f32x4add,
    ...v128store,
    ...get(4),
    0x41,
    16,
    0x6a,
    ...set(4),
    0x0c,
    0, // continue
    0x0b,
    0x0b,
    0x0b,
  ];
  const fn = [2, 1, I32, 2, V128, ...code];
  return [...leb(fn.length), ...fn];
}

/**
 * The fused k-input blend, one pass: o[i] = (((0 + w₀x₀[i]) + w₁x₁[i]) + …) / div in that order.
 * Params: 0 o, 1…k x_p, k+1…2k w_p (f32), 2k+1 div (f32), 2k+2 nBytes; locals: i (i32), k
 * splats, the divisor's splat, zero (v128).
 */
function fused(k: number): number[] {
  const x = (p: number) => 1 + p;
  const w = (p: number) => 1 + k + p;
  const div = 1 + 2 * k;
  const n = 2 + 2 * k;
  const i = 3 + 2 * k;
  const ws = (p: number) => 4 + 2 * k + p;
  const dv = 4 + 3 * k;
  const zero = 5 + 3 * k;
  const code: number[] = [];
  for (let p = 0; p < k; p++) code.push(...get(w(p)), ...f32x4splat, ...set(ws(p)));
  code.push(...get(div), ...f32x4splat, ...set(dv));
  code.push(0x02, 0x40, 0x03, 0x40, ...get(i), ...get(n), 0x4f, 0x0d, 1, ...get(0), ...get(i), 0x6a, ...get(zero));
  for (let p = 0; p < k; p++) code.push(...get(ws(p)), ...get(x(p)), ...get(i), 0x6a, ...v128load, ...f32x4mul, ...f32x4add);
  code.push(...get(dv), ...f32x4div);
  code.push(...v128store, ...get(i), 0x41, 16, 0x6a, ...set(i), 0x0c, 0, 0x0b, 0x0b, 0x0b);
  const fn = [2, 1, I32, k + 2, V128, ...code];
  return [...leb(fn.length), ...fn];
}

/**
 * The fused task delta over k parents, one pass: o[i] = b[i] + λ·((((0 + w₁(x₁[i] − b[i])) + …) / div).
 * Params: 0 o, 1 b, 2…k+1 x_p, k+2…2k+1 w_p (f32), 2k+2 λ, 2k+3 div (f32), 2k+4 nBytes;
 * locals: i (i32); k weight splats, λ, div, b[i], zero (v128).
 */
function taskDelta(k: number): number[] {
  const x = (p: number) => 2 + p;
  const w = (p: number) => 2 + k + p;
  const lambda = 2 + 2 * k;
  const div = 3 + 2 * k;
  const n = 4 + 2 * k;
  const i = 5 + 2 * k;
  const ws = (p: number) => 6 + 2 * k + p;
  const lam = 6 + 3 * k;
  const dv = 7 + 3 * k;
  const bv = 8 + 3 * k;
  const zero = 9 + 3 * k;
  const code: number[] = [];
  for (let p = 0; p < k; p++) code.push(...get(w(p)), ...f32x4splat, ...set(ws(p)));
  code.push(...get(lambda), ...f32x4splat, ...set(lam), ...get(div), ...f32x4splat, ...set(dv));
  code.push(0x02, 0x40, 0x03, 0x40, ...get(i), ...get(n), 0x4f, 0x0d, 1);
  code.push(...get(0), ...get(i), 0x6a); // store address
  code.push(...get(1), ...get(i), 0x6a, ...v128load, ...set(bv));
  code.push(...get(zero));
  for (let p = 0; p < k; p++)
    code.push(...get(ws(p)), ...get(x(p)), ...get(i), 0x6a, ...v128load, ...get(bv), ...f32x4sub, ...f32x4mul, ...f32x4add);
  code.push(...get(dv), ...f32x4div, ...get(lam), ...f32x4mul, ...get(bv), ...f32x4add);
  code.push(...v128store, ...get(i), 0x41, 16, 0x6a, ...set(i), 0x0c, 0, 0x0b, 0x0b, 0x0b);
  const fn = [2, 1, I32, k + 4, V128, ...code];
  return [...leb(fn.length), ...fn];
}

const FUSED = [2, 3, 4] as const;
const TASK_DELTA = [1, 2, 3, 4] as const;

/**
 * The module: first, acc, blend2, blend3, blend4. With `sharedMemory` it imports env.mem (a
 * shared memory of up to 4 GiB: a CpuPool's arena) instead of owning one.
 */
function wasmModule(sharedMemory: boolean): Uint8Array<ArrayBuffer> {
  const fusedType = (k: number) => [0x60, 2 * k + 3, ...Array(k + 1).fill(I32), ...Array(k + 1).fill(F32), I32, 0];
  const taType = (k: number) => [0x60, 2 * k + 5, ...Array(k + 2).fill(I32), ...Array(k + 2).fill(F32), I32, 0];
  const types = [
    1 + FUSED.length + TASK_DELTA.length,
    0x60,
    4,
    I32,
    I32,
    F32,
    I32,
    0,
    ...FUSED.flatMap(fusedType),
    ...TASK_DELTA.flatMap(taType),
  ];
  const funcs = [
    2 + FUSED.length + TASK_DELTA.length,
    0,
    0,
    ...FUSED.map((_, t) => t + 1),
    ...TASK_DELTA.map((_, t) => 1 + FUSED.length + t),
  ];
  const exportsOf = (entries: [string, number, number][]) => [
    entries.length,
    ...entries.flatMap(([nm, kind, idx]) => [...name(nm), kind, idx]),
  ];
  const fnExports: [string, number, number][] = [
    ['first', 0, 0],
    ['acc', 0, 1],
    ...FUSED.map((k, t): [string, number, number] => [`blend${k}`, 0, 2 + t]),
    ...TASK_DELTA.map((k, t): [string, number, number] => [`ta${k}`, 0, 2 + FUSED.length + t]),
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, types),
    ...(sharedMemory ? section(2, [1, ...name('env'), ...name('mem'), 2, 3, 0, ...leb(65536)]) : []),
    ...section(3, funcs),
    ...(sharedMemory ? [] : section(5, [1, 0, 1])),
    ...section(7, exportsOf(sharedMemory ? fnExports : [['mem', 2, 0], ...fnExports])),
    ...section(10, [
      2 + FUSED.length + TASK_DELTA.length,
      ...body(false),
      ...body(true),
      ...FUSED.flatMap((k) => fused(k)),
      ...TASK_DELTA.flatMap((k) => taskDelta(k)),
    ]),
  ]);
}

export const SIMD_WASM = wasmModule(false);
export const SIMD_WASM_SHARED = wasmModule(true);

/** Elements per block: two blocks (output + one input) sit in L1. */
const BLOCK = 4096;

type Blend = (o: number, ...args: number[]) => void;

interface Simd {
  first(o: number, x: number, w: number, nBytes: number): void;
  acc(o: number, x: number, w: number, nBytes: number): void;
  blend2: Blend;
  blend3: Blend;
  blend4: Blend;
  ta1: Blend;
  ta2: Blend;
  ta3: Blend;
  ta4: Blend;
  mem: WebAssembly.Memory;
}

let cached: Simd | null | undefined;

/** The instantiated SIMD module of this thread (own memory, for arrays outside an arena), or null where WebAssembly SIMD is missing. */
export function simd(): Simd | null {
  if (cached !== undefined) return cached;
  try {
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(SIMD_WASM)) return (cached = null);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(SIMD_WASM));
    const e = inst.exports as unknown as Simd;
    e.mem.grow(Math.ceil((2 * BLOCK * 4) / 65536));
    cached = e;
  } catch {
    cached = null;
  }
  return cached;
}

/** This thread's SIMD module on an arena's memory (one per memory), or null where it cannot be made. */
const onArena = new WeakMap<WebAssembly.Memory, Simd | null>();
export function simdOn(memory: WebAssembly.Memory): Simd | null {
  if (onArena.has(memory)) return onArena.get(memory)!;
  let s: Simd | null = null;
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(SIMD_WASM_SHARED), { env: { mem: memory } });
    s = { ...(inst.exports as unknown as Omit<Simd, 'mem'>), mem: memory };
  } catch {
    s = null;
  }
  onArena.set(memory, s);
  return s;
}

/**
 * Run `kernel` over out[start, end) with SIMD when this thread has it and the kernel has a SIMD
 * form; returns false (having done nothing) otherwise, so the caller runs the JavaScript kernel.
 * With `arena` (every array lives in that memory) the loops work in place, one fused pass per
 * block; otherwise each block goes through this thread's private scratch memory.
 */
export function simdRange(
  kernel: string,
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
  arena?: WebAssembly.Memory,
): boolean {
  if (kernel === 'soup') return simdRange('blend', inputs, out, soupAsBlend(params, inputs.length, ctx.seed), ctx, start, end, arena);
  if (kernel !== 'blend')
    return arena
      ? elementwiseSimdRange(kernel, inputs, out, params, ctx, start, end, arena) ||
          taskDeltaRange(kernel, inputs, out, params, ctx, start, end, arena)
      : false;
  const { weights: w, divisor: dv } = blendWeights(params, inputs.length);
  const k = inputs.length;
  if (arena && k >= 2 && k <= 4) {
    const s = simdOn(arena);
    if (s) {
      const f = Math.fround;
      const vecEnd = start + ((end - start) & ~3);
      if (vecEnd > start) {
        const fn = k === 2 ? s.blend2 : k === 3 ? s.blend3 : s.blend4;
        const ptrs = inputs.map((x) => x.byteOffset + 4 * start);
        fn(out.byteOffset + 4 * start, ...ptrs, ...w, dv, 4 * (vecEnd - start));
      }
      for (let i = vecEnd; i < end; i++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc = f(acc + f(w[p] * inputs[p][i]));
        out[i] = acc / dv;
      }
      return true;
    }
  }
  const s = simd();
  if (!s) return false;
  const heap = new Float32Array(s.mem.buffer, 0, 2 * BLOCK);
  const O = 0;
  const X = BLOCK;
  const f = Math.fround;
  for (let b = start; b < end; b += BLOCK) {
    const len = Math.min(BLOCK, end - b);
    const vec = len & ~3;
    for (let p = 0; p < inputs.length; p++) {
      heap.set(inputs[p].subarray(b, b + len), X);
      if (p === 0) s.first(4 * O, 4 * X, w[0], 4 * vec);
      else s.acc(4 * O, 4 * X, w[p], 4 * vec);
      const wp = w[p];
      for (let i = vec; i < len; i++) heap[O + i] = f((p === 0 ? 0 : heap[O + i]) + f(wp * heap[X + i]));
    }
    if (dv !== 1) for (let i = 0; i < len; i++) heap[O + i] = heap[O + i] / dv;
    out.set(heap.subarray(O, O + len), b);
  }
  return true;
}

/**
 * Task delta and the federated update (no sparsification, no consensus, no clipping) in place
 * on an arena: the fused taK loop, the same float32 operations in the same order as the
 * reference (task-arithmetic.cpu.ts); the last few elements through the JavaScript range kernel.
 */
function taskDeltaRange(
  kernel: string,
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
  arena: WebAssembly.Memory,
): boolean {
  if (!isOperatorId(kernel)) return false;
  const op = getOperator(kernel);
  const P = inputs.length - 1;
  if (op.kernel?.id !== 'task-arithmetic' || op.kernel.cfg.sparsify !== 'none' || op.kernel.cfg.consensus !== 'none' || P < 1 || P > 4)
    return false;
  if (typeof params.clipNorm === 'number' && params.clipNorm > 0) return false;
  const s = simdOn(arena);
  if (!s) return false;
  const w = Float32Array.from(weightsOf(params, 'weights', P, 1));
  const lambda = Math.fround(num(params, 'lambda', 1));
  const div = params.normalize === true ? normalizeDivisor(Array.from(w)) : 1;
  const vecEnd = start + ((end - start) & ~3);
  if (vecEnd > start) {
    const fn = [s.ta1, s.ta2, s.ta3, s.ta4][P - 1];
    fn(out.byteOffset + 4 * start, ...inputs.map((x) => x.byteOffset + 4 * start), ...w, lambda, div, 4 * (vecEnd - start));
  }
  if (vecEnd < end) getFastKernel(kernel).run(inputs, out, params, ctx, vecEnd, end);
  return true;
}
