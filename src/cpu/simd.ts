/**
 * WebAssembly SIMD for the range kernels (JavaScript alone is compute-bound at a fifth of copy
 * bandwidth). Two 128-bit loops, hand-assembled below so no toolchain is needed:
 *
 *   first(o, x, w, nBytes):  o[i] = 0 + w·x[i]       (f32x4.mul, f32x4.add)
 *   acc(o, x, w, nBytes):    o[i] = o[i] + w·x[i]
 *
 * WebAssembly f32 arithmetic is IEEE single precision with round-to-nearest-even, exactly what
 * Math.fround gives for one + or × of two float32 values, so the results are bit-identical to the
 * reference (src/core/operators/blend.cpu.ts); fast.test.ts checks it. Only NaN payload bits may
 * differ (a NaN stays a NaN).
 *
 * Each worker streams a block of every input through a private 2-block scratch memory: every
 * input byte is still read from RAM once and every output byte written once; the extra copies
 * hit L1 only.
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

export const SIMD_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 4, I32, I32, F32, I32, 0]),
  ...section(3, [2, 0, 0]),
  ...section(5, [1, 0, 1]),
  ...section(7, [3, ...name('mem'), 2, 0, ...name('first'), 0, 0, ...name('acc'), 0, 1]),
  ...section(10, [2, ...body(false), ...body(true)]),
]);

/** Elements per block: two blocks (output + one input) sit in L1. */
const BLOCK = 4096;

interface Simd {
  first(o: number, x: number, w: number, nBytes: number): void;
  acc(o: number, x: number, w: number, nBytes: number): void;
  mem: WebAssembly.Memory;
}

let cached: Simd | null | undefined;

/** The instantiated SIMD module of this thread, or null where WebAssembly SIMD is missing. */
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

/**
 * Run `kernel` over out[start, end) with SIMD when this thread has it and the kernel has a SIMD
 * form; returns false (having done nothing) otherwise, so the caller runs the JavaScript kernel.
 */
export function simdRange(kernel: string, inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, _ctx: TensorContext, start: number, end: number): boolean {
  if (kernel !== 'blend') return false;
  const s = simd();
  if (!s) return false;
  const w = blendWeights(params, inputs.length);
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
    out.set(heap.subarray(O, O + len), b);
  }
  return true;
}
