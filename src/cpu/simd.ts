/**
 * WebAssembly SIMD for the range kernels (JavaScript alone is compute-bound at a fifth of copy
 * bandwidth). 128-bit loops, hand-assembled below so no toolchain is needed:
 *
 *   first(o, x, w, nBytes):  o[i] = 0 + w·x[i]       (f32x4.mul, f32x4.add)
 *   acc(o, x, w, nBytes):    o[i] = o[i] + w·x[i]
 *   blendK(o, x₀…x_{K−1}, w₀…w_{K−1}, nBytes), K = 2, 3, 4:
 *                            o[i] = ((0 + w₀x₀[i]) + w₁x₁[i]) + …   (one fused pass)
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
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const name = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const SIMD = (op: number) => [0xfd, ...leb(op)];
const v128load = [...SIMD(0x00), 4, 0];
const v128store = [...SIMD(0x0b), 4, 0];
const f32x4splat = SIMD(0x13);
const f32x4add = SIMD(0xe4);
const f32x4mul = SIMD(0xe6);

/** Params: 0 o, 1 x, 2 w, 3 nBytes; locals: 4 i (i32), 5 ws (v128), 6 zero (v128, stays 0). */
function body(accumulate: boolean): number[] {
  const code = [
    ...get(2), ...f32x4splat, ...set(5),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(4), ...get(3), 0x4f, 0x0d, 1, // if i >= n break
    ...get(0), ...get(4), 0x6a, // store address o + i
    ...(accumulate ? [...get(0), ...get(4), 0x6a, ...v128load] : get(6)),
    ...get(5), ...get(1), ...get(4), 0x6a, ...v128load, ...f32x4mul,
    ...f32x4add,
    ...v128store,
    ...get(4), 0x41, 16, 0x6a, ...set(4),
    0x0c, 0, // continue
    0x0b, 0x0b, 0x0b,
  ];
  const fn = [2, 1, I32, 2, V128, ...code];
  return [...leb(fn.length), ...fn];
}

/**
 * The fused k-input blend, one pass: o[i] = ((0 + w₀x₀[i]) + w₁x₁[i]) + … in that order.
 * Params: 0 o, 1…k x_p, k+1…2k w_p (f32), 2k+1 nBytes; locals: i (i32), k splats, zero (v128).
 */
function fused(k: number): number[] {
  const x = (p: number) => 1 + p;
  const w = (p: number) => 1 + k + p;
  const n = 1 + 2 * k;
  const i = 2 + 2 * k;
  const ws = (p: number) => 3 + 2 * k + p;
  const zero = 3 + 3 * k;
  const code: number[] = [];
  for (let p = 0; p < k; p++) code.push(...get(w(p)), ...f32x4splat, ...set(ws(p)));
  code.push(0x02, 0x40, 0x03, 0x40, ...get(i), ...get(n), 0x4f, 0x0d, 1, ...get(0), ...get(i), 0x6a, ...get(zero));
  for (let p = 0; p < k; p++) code.push(...get(ws(p)), ...get(x(p)), ...get(i), 0x6a, ...v128load, ...f32x4mul, ...f32x4add);
  code.push(...v128store, ...get(i), 0x41, 16, 0x6a, ...set(i), 0x0c, 0, 0x0b, 0x0b, 0x0b);
  const fn = [2, 1, I32, k + 1, V128, ...code];
  return [...leb(fn.length), ...fn];
}

const FUSED = [2, 3, 4] as const;

/**
 * The module: first, acc, blend2, blend3, blend4. With `sharedMemory` it imports env.mem (a
 * shared memory of up to 4 GiB: a CpuPool's arena) instead of owning one.
 */
function wasmModule(sharedMemory: boolean): Uint8Array<ArrayBuffer> {
  const fusedType = (k: number) => [0x60, 2 * k + 2, ...Array(k + 1).fill(I32), ...Array(k).fill(F32), I32, 0];
  const types = [1 + FUSED.length, 0x60, 4, I32, I32, F32, I32, 0, ...FUSED.flatMap(fusedType)];
  const funcs = [2 + FUSED.length, 0, 0, ...FUSED.map((_, t) => t + 1)];
  const exportsOf = (entries: [string, number, number][]) => [entries.length, ...entries.flatMap(([nm, kind, idx]) => [...name(nm), kind, idx])];
  const fnExports: [string, number, number][] = [['first', 0, 0], ['acc', 0, 1], ...FUSED.map((k, t): [string, number, number] => [`blend${k}`, 0, 2 + t])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...(sharedMemory ? section(2, [1, ...name('env'), ...name('mem'), 2, 3, 0, ...leb(65536)]) : []),
    ...section(3, funcs),
    ...(sharedMemory ? [] : section(5, [1, 0, 1])),
    ...section(7, exportsOf(sharedMemory ? fnExports : [['mem', 2, 0], ...fnExports])),
    ...section(10, [2 + FUSED.length, ...body(false), ...body(true), ...FUSED.flatMap((k) => fused(k))]),
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
export function simdRange(kernel: string, inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, _ctx: TensorContext, start: number, end: number, arena?: WebAssembly.Memory): boolean {
  if (kernel !== 'blend') return false;
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
        fn(out.byteOffset + 4 * start, ...ptrs, ...w, 4 * (vecEnd - start));
      }
      for (let i = vecEnd; i < end; i++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc = f(acc + f(w[p] * inputs[p][i]));
        out[i] = acc;
      }
      if (dv !== 1) for (let i = start; i < end; i++) out[i] = out[i] / dv;
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
