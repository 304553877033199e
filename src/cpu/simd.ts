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
  Func,
  I32,
  addr,
  f32x4add,
  f32x4div,
  f32x4mul,
  f32x4splat,
  f32x4sub,
  get,
  loadAt,
  loop16,
  moduleOf,
  perMemory,
  set,
  storeAt,
  unrolledLoop16,
  v128load,
  v128store,
} from './wasm-asm.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

/** The vector of pointer parameter `ptr` at the loop's byte i (+ 16u in an unrolled loop). */
const at = (fn: Func, ptr: number, u = 0) => [...addr(ptr, fn.s('i')), ...(u ? loadAt(16 * u) : v128load)];
/**
 * A loop function of `params` (0 the output, the last nBytes): `setup`, then o[i] = step's value
 * for i = 0, 16, … < nBytes. With `unroll`, step(fn, u) gives the vector at byte i + 16u and the
 * loop does `unroll` of them an iteration (unrolledLoop16).
 */
function loopFn(params: number[], setup: (fn: Func) => number[], step: (fn: Func, u: number) => number[], unroll = 1): [Func, number[]] {
  const fn = new Func(params, [], { i: I32 });
  const i = fn.s('i');
  const pre = setup(fn);
  if (unroll > 1)
    return [fn, [...pre, ...unrolledLoop16(i, params.length - 1, (u) => [...addr(0, i), ...step(fn, u), ...storeAt(16 * u)], unroll)]];
  return [fn, [...pre, ...loop16(i, params.length - 1, [...addr(0, i), ...step(fn, 0), ...v128store])]];
}
const splat = (param: number, local: number) => [...get(param), ...f32x4splat, ...set(local)];

/** first / acc. Params: 0 o, 1 x, 2 w, 3 nBytes: o[i] = 0 + w·x[i] (or o[i] + w·x[i]); `zero` stays 0. */
const body = (accumulate: boolean) =>
  loopFn(
    [I32, I32, F32, I32],
    (fn) => splat(2, fn.v('w')),
    (fn) => [...(accumulate ? at(fn, 0) : get(fn.v('zero'))), ...get(fn.v('w')), ...at(fn, 1), ...f32x4mul, ...f32x4add],
  );

/**
 * The fused k-input blend, one pass: o[i] = (((0 + w₀x₀[i]) + w₁x₁[i]) + …) / div in that order.
 * Params: 0 o, 1…k x_p, k+1…2k w_p (f32), 2k+1 div (f32), 2k+2 nBytes.
 */
const fused = (k: number) =>
  loopFn(
    [...Array(k + 1).fill(I32), ...Array(k + 1).fill(F32), I32],
    (fn) => [...Array.from({ length: k }, (_, p) => splat(1 + k + p, fn.v(`w${p}`))).flat(), ...splat(1 + 2 * k, fn.v('div'))],
    (fn) => [
      ...get(fn.v('zero')),
      ...Array.from({ length: k }, (_, p) => [...get(fn.v(`w${p}`)), ...at(fn, 1 + p), ...f32x4mul, ...f32x4add]).flat(),
      ...get(fn.v('div')),
      ...f32x4div,
    ],
  );

/**
 * The fused task delta over k parents, one pass: o[i] = b[i] + λ·((((0 + w₁(x₁[i] − b[i])) + …) / div).
 * Params: 0 o, 1 b, 2…k+1 x_p, k+2…2k+1 w_p (f32), 2k+2 λ, 2k+3 div (f32), 2k+4 nBytes. Unrolled
 * 4 vectors an iteration: with 5 streams at 64 M elements the one-vector loop ran at 0.66–0.70 of
 * copy, this at 0.78–0.82 (federated, task delta; the same run, load ~2).
 */
const taskDelta = (k: number) =>
  loopFn(
    [...Array(k + 2).fill(I32), ...Array(k + 2).fill(F32), I32],
    (fn) => [
      ...Array.from({ length: k }, (_, p) => splat(2 + k + p, fn.v(`w${p}`))).flat(),
      ...splat(2 + 2 * k, fn.v('lambda')),
      ...splat(3 + 2 * k, fn.v('div')),
    ],
    (fn, u) => {
      const bv = fn.v('b');
      const terms = Array.from({ length: k }, (_, p) => [
        ...get(fn.v(`w${p}`)),
        ...at(fn, 2 + p, u),
        ...get(bv),
        ...f32x4sub,
        ...f32x4mul,
        ...f32x4add,
      ]);
      return [
        ...at(fn, 1, u),
        ...set(bv),
        ...get(fn.v('zero')),
        ...terms.flat(),
        ...get(fn.v('div')),
        ...f32x4div,
        ...get(fn.v('lambda')),
        ...f32x4mul,
        ...get(bv),
        ...f32x4add,
      ];
    },
    4,
  );

const FUSED = [2, 3, 4] as const;
const TASK_DELTA = [1, 2, 3, 4] as const;

/**
 * The module: first, acc, blend2, blend3, blend4, ta1…ta4. With `sharedMemory` it imports env.mem
 * (a shared memory of up to 4 GiB: a CpuPool's arena) instead of owning one.
 */
const wasmModule = (sharedMemory: boolean): Uint8Array<ArrayBuffer> =>
  moduleOf(
    [
      ['first', ...body(false)],
      ['acc', ...body(true)],
      ...FUSED.map((k) => [`blend${k}`, ...fused(k)] as const),
      ...TASK_DELTA.map((k) => [`ta${k}`, ...taskDelta(k)] as const),
    ],
    !sharedMemory,
  );

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
export const simdOn: (memory: WebAssembly.Memory) => Simd | null = perMemory(
  () => SIMD_WASM_SHARED,
  (e, mem) => ({ ...(e as unknown as Omit<Simd, 'mem'>), mem }),
);

/** The fused blendK loop in place on an arena: o = (((0 + w₀x₀) + w₁x₁) + …) / dv, the last few elements in JavaScript; false where it has none. */
function blendOnArena(
  inputs: readonly Float32Array[],
  out: Float32Array,
  w: ArrayLike<number>,
  dv: number,
  start: number,
  end: number,
  arena: WebAssembly.Memory,
): boolean {
  const k = inputs.length;
  const s = k >= 2 && k <= 4 ? simdOn(arena) : null;
  if (!s) return false;
  const f = Math.fround;
  const vecEnd = start + ((end - start) & ~3);
  if (vecEnd > start) {
    const fn = k === 2 ? s.blend2 : k === 3 ? s.blend3 : s.blend4;
    fn(out.byteOffset + 4 * start, ...inputs.map((x) => x.byteOffset + 4 * start), ...Array.from(w), dv, 4 * (vecEnd - start));
  }
  for (let i = vecEnd; i < end; i++) {
    let acc = 0;
    for (let p = 0; p < k; p++) acc = f(acc + f(w[p] * inputs[p][i]));
    out[i] = acc / dv;
  }
  return true;
}

/**
 * The combine pass of Karcher and Multi-SLERP (gram.ts's combine: Σ fround(fround(βₖ)·xₖ) from +0
 * in order, + base for multislerp-base) on an arena: the blendK loop with weights fround(βₖ) and
 * divisor 1 (x / 1 is x), or with a base the taK loop with λ = 1 and divisor 1 (b + 1·y is b + y).
 * False where the coefficients are missing or the parents are not 2–4 (1–4 with a base).
 */
function combineRange(
  kernel: string,
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
  arena: WebAssembly.Memory,
): boolean {
  const beta =
    kernel === 'karcher' ? params.karcherBeta : kernel === 'multislerp' || kernel === 'multislerp-base' ? params.multislerpBeta : undefined;
  if (!Array.isArray(beta)) return false;
  const b = Float32Array.from(beta);
  if (kernel !== 'multislerp-base') return b.length === inputs.length && blendOnArena(inputs, out, b, 1, start, end, arena);
  const P = inputs.length - 1;
  const s = simdOn(arena);
  if (!s || P < 1 || P > 4 || b.length !== P) return false;
  const vecEnd = start + ((end - start) & ~3);
  if (vecEnd > start)
    [s.ta1, s.ta2, s.ta3, s.ta4][P - 1](
      out.byteOffset + 4 * start,
      ...inputs.map((x) => x.byteOffset + 4 * start),
      ...beta,
      1,
      1,
      4 * (vecEnd - start),
    );
  if (vecEnd < end) getFastKernel(kernel).run(inputs, out, params, ctx, vecEnd, end);
  return true;
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
  const combined = arena && combineRange(kernel, inputs, out, params, ctx, start, end, arena);
  if (combined) return true;
  if (kernel !== 'blend')
    return arena
      ? elementwiseSimdRange(kernel, inputs, out, params, ctx, start, end, arena) ||
          taskDeltaRange(kernel, inputs, out, params, ctx, start, end, arena)
      : false;
  const { weights: w, divisor: dv } = blendWeights(params, inputs.length);
  if (arena && blendOnArena(inputs, out, w, dv, start, end, arena)) return true;
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
