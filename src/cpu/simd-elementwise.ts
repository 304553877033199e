/**
 * WebAssembly SIMD loops of the element-wise operators beyond blend and task delta (simd.ts):
 * crossover, bounded mutation, SLERP's combination and NearSwap, on a pool's arena, in place. Hand-assembled
 * like simd.ts (same helpers), 4 lanes per step:
 *
 *   crossK(o, x₀…x_{K−1}, c₀…c_{K−2}, sk, idx0, nBytes), K = 2, 3, 4:
 *       u = unit(sk, idx0 + i); o[i] = x_p[i] for the first p with u < c_p (else x_{K−1}[i])
 *   mutate / mutateRate(o, x, amp, eps, rate, noiseKey, rateKey, idx0, nBytes):
 *       noise = clamp(amp·(2·unit(noiseKey, idx0 + i) − 1), −eps, eps); o[i] = x[i] + noise;
 *       mutateRate keeps x[i] where unit(rateKey, idx0 + i) >= rate
 *   lin2(o, x₀, x₁, a, b, nBytes): o[i] = a·x₀[i] + b·x₁[i]
 *   nearswap(o, a, b, t, nBytes): w = clamp(fround(1 / max(|a − b|, 1e−6))·t, 0, 1); o = w·b + (1 − w)·a
 *
 * unit(k, j) is prng.ts's unitAt: lowbias32 on (k ^ j) in i32x4 (mul, xor, shift are exact
 * 32-bit ops), then (h >>> 8)·2⁻²⁴ (a 24-bit integer converts to f32 exactly, and the product is
 * exact). Every float step is one IEEE f32 operation with round-to-nearest-even, the same as the
 * reference's Math.fround of the same double operation (2u − 1 and a product of two f32 values are
 * exact in double), and each comparison and selection is the reference's branch as a lane mask,
 * so the results are bit-identical (NaN payloads aside); elementwise-kernels.test.ts checks it.
 */
import {
  F32,
  I32,
  V128,
  get,
  leb,
  name,
  section,
  set,
  v128load,
  v128store,
  i32const,
  tee,
  v128const,
  i32x4splat,
  f32x4splat,
  v128xor,
  bitselect,
  i32x4shrU,
  i32x4add,
  i32x4mul,
  f32x4lt,
  f32x4gt,
  f32x4ge,
  f32x4abs,
  f32x4neg,
  f32x4add,
  f32x4sub,
  f32x4mul,
  f32x4div,
  f32x4min,
  f32x4max,
  f32x4convertS,
  Func,
  sharedModule,
  loop16,
  F64,
  f32x4nearest,
  f32x4pmin,
  f32x4pmax,
  i32x4maxS,
  i32x4extractLane,
  v128and,
  f32load,
  f32div,
  f32eq,
  f64add,
  f64mul,
  f64promoteF32,
} from './wasm-asm.ts';
import { getFastKernel } from '../core/operators/fast/kernels.ts';
import { crossoverThresholds, crossoverUnit } from '../core/operators/crossover.cpu.ts';
import { num, weightsOf } from '../core/operators/params.ts';
import { layout, QUANT_SCHEMES, quantScheme } from '../core/operators/quantize.cpu.ts';
import { slerpFromSums } from '../core/operators/slerp.cpu.ts';
import { streamKey, tensorKey } from '../core/operators/prng.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

/**
 * Elements per call of a loop (a multiple of 4): V8 runs a WebAssembly call to its end in the tier
 * it started in, so one call per range would stay in the baseline compiler.
 */
const CALL = 1 << 16;

/** A function's locals beyond its parameters, by name: one i32 (the byte counter) then v128s. */
class Fn {
  private readonly v128: string[] = [];
  readonly i: number;
  constructor(readonly params: number[]) {
    this.i = params.length;
  }
  v(nm: string): number {
    let at = this.v128.indexOf(nm);
    if (at < 0) at = this.v128.push(nm) - 1;
    return this.i + 1 + at;
  }
  /** The function's body: `setup`, then a loop over i = 0, 16, … < nBytes (parameter `nBytesAt`) running `step`. */
  encode(setup: number[], step: number[], nBytesAt: number): number[] {
    const code = [...setup, 0x02, 0x40, 0x03, 0x40, ...get(this.i), ...get(nBytesAt), 0x4f, 0x0d, 1, ...step];
    code.push(...get(this.i), ...i32const(16), 0x6a, ...set(this.i), 0x0c, 0, 0x0b, 0x0b, 0x0b);
    const fn = [2, 1, I32, this.v128.length, V128, ...code];
    return [...leb(fn.length), ...fn];
  }
  type(): number[] {
    return [0x60, this.params.length, ...this.params, 0];
  }
}

/** Setup of the counter-based draws: idx = idx0 + (0, 1, 2, 3), the mixer's constants and 2⁻²⁴. */
export function drawSetup(fn: Pick<Fn, 'v'>, idx0: number): number[] {
  return [
    ...get(idx0),
    ...i32x4splat,
    ...v128const([0, 1, 2, 3]),
    ...i32x4add,
    ...set(fn.v('idx')),
    ...i32const(4),
    ...i32x4splat,
    ...set(fn.v('four')),
    ...i32const(0x7feb352d),
    ...i32x4splat,
    ...set(fn.v('m1')),
    ...i32const(0x846ca68b),
    ...i32x4splat,
    ...set(fn.v('m2')),
    ...v128const(Array(4).fill(0x33800000)),
    ...set(fn.v('scale')),
  ];
}

/** unitAt(key, idx) per lane onto the stack (key: a v128 local holding the splatted stream key). */
export function unit(fn: Pick<Fn, 'v'>, key: number): number[] {
  const h = fn.v('h');
  const xorShift = (s: number) => [...tee(h), ...get(h), ...i32const(s), ...i32x4shrU, ...v128xor];
  return [
    ...get(key),
    ...get(fn.v('idx')),
    ...v128xor,
    ...xorShift(16),
    ...get(fn.v('m1')),
    ...i32x4mul,
    ...xorShift(15),
    ...get(fn.v('m2')),
    ...i32x4mul,
    ...xorShift(16),
    ...i32const(8),
    ...i32x4shrU,
    // h >>> 8 < 2²⁴: the signed conversion (one instruction on x86, where the unsigned one is a sequence) is exact and the same.
    ...f32x4convertS,
    ...get(fn.v('scale')),
    ...f32x4mul,
  ];
}

const nextIdx = (fn: Fn) => [...get(fn.v('idx')), ...get(fn.v('four')), ...i32x4add, ...set(fn.v('idx'))];
const load = (fn: Fn, ptr: number) => [...get(ptr), ...get(fn.i), 0x6a, ...v128load];
const splatTo = (param: number, local: number, splat = f32x4splat) => [...get(param), ...splat, ...set(local)];

/** crossK. Params: 0 o, 1…K x_p, K+1…2K−1 c_p (f32), 2K sk, 2K+1 idx0, 2K+2 nBytes. */
function crossover(k: number): { fn: Fn; body: number[] } {
  const fn = new Fn([I32, ...Array(k).fill(I32), ...Array(k - 1).fill(F32), I32, I32, I32]);
  const c = (p: number) => 1 + k + p;
  const sk = 2 * k;
  const setup = [...drawSetup(fn, 2 * k + 1), ...splatTo(sk, fn.v('sk'), i32x4splat)];
  for (let p = 0; p < k - 1; p++) setup.push(...splatTo(c(p), fn.v(`c${p}`)));
  const u = fn.v('u');
  const res = fn.v('res');
  const step = [...unit(fn, fn.v('sk')), ...set(u), ...load(fn, k), ...set(res)];
  for (let p = k - 2; p >= 0; p--)
    step.push(...load(fn, 1 + p), ...get(res), ...get(u), ...get(fn.v(`c${p}`)), ...f32x4lt, ...bitselect, ...set(res));
  step.push(...get(0), ...get(fn.i), 0x6a, ...get(res), ...v128store, ...nextIdx(fn));
  return { fn, body: fn.encode(setup, step, 2 * k + 2) };
}

/** mutate / mutateRate. Params: 0 o, 1 x, 2 amp, 3 eps, 4 rate (f32), 5 noiseKey, 6 rateKey, 7 idx0, 8 nBytes. */
function mutate(withRate: boolean): { fn: Fn; body: number[] } {
  const fn = new Fn([I32, I32, F32, F32, F32, I32, I32, I32, I32]);
  const [noise, x, eps, neg] = [fn.v('noise'), fn.v('x'), fn.v('eps'), fn.v('neg')];
  const setup = [
    ...drawSetup(fn, 7),
    ...splatTo(2, fn.v('amp')),
    ...splatTo(3, eps),
    ...get(eps),
    ...f32x4neg,
    ...set(neg),
    ...splatTo(4, fn.v('rate')),
    ...splatTo(5, fn.v('nk'), i32x4splat),
    ...splatTo(6, fn.v('rk'), i32x4splat),
    ...v128const(Array(4).fill(0x40000000)),
    ...set(fn.v('two')),
    ...v128const(Array(4).fill(0x3f800000)),
    ...set(fn.v('one')),
  ];
  const step = [
    ...get(0),
    ...get(fn.i),
    0x6a,
    ...load(fn, 1),
    ...tee(x),
    // noise = amp·(2u − 1), then the reference's two clamping branches as lane masks.
    ...get(fn.v('amp')),
    ...unit(fn, fn.v('nk')),
    ...get(fn.v('two')),
    ...f32x4mul,
    ...get(fn.v('one')),
    ...f32x4sub,
    ...f32x4mul,
    ...set(noise),
    ...get(eps),
    ...get(noise),
    ...get(noise),
    ...get(eps),
    ...f32x4gt,
    ...bitselect,
    ...set(noise),
    ...get(neg),
    ...get(noise),
    ...get(noise),
    ...get(neg),
    ...f32x4lt,
    ...bitselect,
    ...f32x4add,
  ];
  // mutateRate: x where the rate draw is >= rate (stack: o address, x, x + noise).
  if (withRate) step.push(...set(noise), ...get(x), ...get(noise), ...unit(fn, fn.v('rk')), ...get(fn.v('rate')), ...f32x4ge, ...bitselect);
  step.push(...v128store, ...nextIdx(fn));
  return { fn, body: fn.encode(setup, step, 8) };
}

/** lin2. Params: 0 o, 1 x₀, 2 x₁, 3 a, 4 b (f32), 5 nBytes. */
function lin2(): { fn: Fn; body: number[] } {
  const fn = new Fn([I32, I32, I32, F32, F32, I32]);
  const setup = [...splatTo(3, fn.v('a')), ...splatTo(4, fn.v('b'))];
  const step = [
    ...get(0),
    ...get(fn.i),
    0x6a,
    ...get(fn.v('a')),
    ...load(fn, 1),
    ...f32x4mul,
    ...get(fn.v('b')),
    ...load(fn, 2),
    ...f32x4mul,
  ];
  step.push(...f32x4add, ...v128store);
  return { fn, body: fn.encode(setup, step, 5) };
}

/**
 * nearswap. Params: 0 o, 1 a, 2 b, 3 t (f32), 4 nBytes. w = min(max(fround(1 / max(|a − b|, 1e−6))·t, 0), 1);
 * o = w·b + (1 − w)·a. f32x4.min/max treat NaN and ±0 as Math.min/max do.
 */
function nearswap(): { fn: Fn; body: number[] } {
  const fn = new Fn([I32, I32, I32, F32, I32]);
  const [a, w] = [fn.v('a'), fn.v('w')];
  const setup = [
    ...splatTo(3, fn.v('t')),
    ...v128const(Array(4).fill(0x3f800000)),
    ...set(fn.v('one')),
    ...v128const(Array(4).fill(0x358637bd)),
    ...set(fn.v('minDiff')),
    ...v128const([0, 0, 0, 0]),
    ...set(fn.v('zero')),
  ];
  const step = [...get(0), ...get(fn.i), 0x6a, ...get(fn.v('one')), ...load(fn, 1), ...set(a), ...load(fn, 2), ...set(fn.v('b'))];
  step.push(...get(a), ...get(fn.v('b')), ...f32x4sub, ...f32x4abs, ...get(fn.v('minDiff')), ...f32x4max, ...f32x4div);
  step.push(...get(fn.v('t')), ...f32x4mul, ...get(fn.v('zero')), ...f32x4max, ...get(fn.v('one')), ...f32x4min, ...tee(w));
  // Stack: o address, 1, w → w·b + (1 − w)·a.
  step.push(...get(fn.v('b')), ...f32x4mul, ...set(fn.v('wb')), ...get(fn.v('one')), ...get(w), ...f32x4sub, ...get(a), ...f32x4mul);
  step.push(...get(fn.v('wb')), ...f32x4add, ...v128store);
  return { fn, body: fn.encode(setup, step, 4) };
}

/**
 * quant(o, x, qmax, blockBytes, nBytes): fake quantization (quantize.cpu.ts) of nBytes / blockBytes
 * whole blocks of blockBytes each (a multiple of 16). Per block:
 *  - m = the largest |x| as the largest of the magnitude bits (x & 0x7fffffff, i32x4.max_s): for
 *    numbers the integer order is the magnitude order, and a NaN's bits exceed +Inf's, so m is a
 *    NaN where the block holds one, as Math.max makes it;
 *  - s = m / qmax (one f32 division: the reference's fround of the double quotient is the same, as
 *    for every correctly rounded f32 operation); s = 0 writes +0 (the reference skips the block;
 *    the vector steps would give x/0 = ±Inf, then ±qmax·0 = ±0);
 *  - else o = (nearest(clamp(x / s)) + 0)·s. The clamp is the reference's two branches as
 *    f32x4.pmin/pmax (b < a ? b : a, a < b ? b : a: a NaN stays NaN, −0 stays −0), and clamping
 *    first is the same as rounding first (qmax is an integer); nearest rounds half to even; + 0
 *    turns −0 into +0 as the reference's integer q does. A NaN q (x NaN, or x/s with s = ±Inf, NaN)
 *    only arises where s is NaN or +Inf, where the reference's 0·s is NaN too. q·s is exact in
 *    double, so f32.mul rounds as the reference's store does.
 */
function quant(): [Func, number[]] {
  const fn = new Func([I32, I32, F32, I32, I32], [], { i: I32, j: I32, s: F32, m: I32, l: I32 });
  const [i, j, sv, m, lane] = [fn.s('i'), fn.s('j'), fn.s('s'), fn.s('m'), fn.s('l')];
  const [acc, s4, qv, nqv, abs, zero] = [fn.v('acc'), fn.v('s4'), fn.v('qmax'), fn.v('nqmax'), fn.v('abs'), fn.v('zero')];
  const at = (ptr: number) => [...get(ptr), ...get(i), 0x6a, ...get(j), 0x6a];
  // An inner loop over j = 0, 16, … < blockBytes.
  const inner = (step: number[]) => [...i32const(0), ...set(j), ...loop16(j, 3, step)];
  // m = max over the lanes (signed: every lane is ≥ 0).
  const laneMax = (l: number) => [
    ...get(acc),
    ...i32x4extractLane(l),
    ...tee(lane),
    ...get(m),
    ...get(lane),
    ...get(m),
    0x4a, // i32.gt_s
    0x1b, // select
    ...set(m),
  ];
  const block = [
    ...get(zero),
    ...set(acc),
    ...inner([...get(acc), ...at(1), ...v128load, ...get(abs), ...v128and, ...i32x4maxS, ...set(acc)]),
    ...i32const(0),
    ...set(m),
    ...[0, 1, 2, 3].flatMap(laneMax),
    ...get(m),
    0xbe, // f32.reinterpret_i32
    ...get(2),
    ...f32div,
    ...tee(sv),
    ...f32x4splat,
    ...set(s4),
    ...get(sv),
    ...i32const(0),
    0xbe, // f32.reinterpret_i32: +0
    ...f32eq,
    0x04,
    0x40, // if s == 0
    ...inner([...at(0), ...get(zero), ...v128store]),
    0x05, // else
    ...inner([
      ...at(0),
      ...at(1),
      ...v128load,
      ...get(s4),
      ...f32x4div,
      ...get(nqv),
      ...f32x4pmax,
      ...get(qv),
      ...f32x4pmin,
      ...f32x4nearest,
      ...get(zero),
      ...f32x4add,
      ...get(s4),
      ...f32x4mul,
      ...v128store,
    ]),
    0x0b,
  ];
  // The outer loop steps i by blockBytes (loop16 steps by 16): written out here.
  const code = [
    ...v128const([0, 0, 0, 0]),
    ...set(zero),
    ...v128const(Array(4).fill(0x7fffffff)),
    ...set(abs),
    ...get(2),
    ...f32x4splat,
    ...tee(qv),
    ...f32x4neg,
    ...set(nqv),
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(i),
    ...get(4),
    0x4f,
    0x0d,
    1,
    ...block,
    ...get(i),
    ...get(3),
    0x6a,
    ...set(i),
    0x0c,
    0,
    0x0b,
    0x0b,
  ];
  return [fn, code];
}

/**
 * slerpSums(x₀, x₁, nBytes, d, a, b) → (d, a, b): SLERP's three float64 sums (slerp.cpu.ts's
 * slerpCoefficients: d += x₀x₁, a += x₀², b += x₁²) continued over nBytes / 4 elements in element
 * order. Each product of two f32 values is exact in f64 and each f64.add rounds as JavaScript's +,
 * so the sums are the reference's, bit for bit; the three chains are independent, so their
 * latencies overlap.
 */
function slerpSums(): [Func, number[]] {
  const fn = new Func([I32, I32, I32, F64, F64, F64], [F64, F64, F64], { i: I32, u: F64, w: F64 });
  const [i, u, w] = [fn.s('i'), fn.s('u'), fn.s('w')];
  const step: number[] = [];
  for (let l = 0; l < 4; l++) {
    step.push(...get(0), ...get(i), 0x6a, ...f32load(4 * l), ...f64promoteF32, ...set(u));
    step.push(...get(1), ...get(i), 0x6a, ...f32load(4 * l), ...f64promoteF32, ...set(w));
    step.push(...get(3), ...get(u), ...get(w), ...f64mul, ...f64add, ...set(3));
    step.push(...get(4), ...get(u), ...get(u), ...f64mul, ...f64add, ...set(4));
    step.push(...get(5), ...get(w), ...get(w), ...f64mul, ...f64add, ...set(5));
  }
  return [fn, [...loop16(i, 2, step), ...get(3), ...get(4), ...get(5)]];
}

let module2: WebAssembly.Module | undefined;
interface ElementwiseSimd2 {
  quant: Loop;
  slerpSums: (x0: number, x1: number, nBytes: number, d: number, a: number, b: number) => [number, number, number];
}
const onArena2 = new WeakMap<WebAssembly.Memory, ElementwiseSimd2 | null>();

/** quantize's block loop and SLERP's sums on an arena's memory (one instance per memory), or null where they cannot be made. */
export function elementwiseSimd2On(memory: WebAssembly.Memory): ElementwiseSimd2 | null {
  if (onArena2.has(memory)) return onArena2.get(memory)!;
  let s: ElementwiseSimd2 | null = null;
  try {
    module2 ??= new WebAssembly.Module(
      sharedModule([
        ['quant', ...quant()],
        ['slerpSums', ...slerpSums()],
      ]),
    );
    s = new WebAssembly.Instance(module2, { env: { mem: memory } }).exports as unknown as ElementwiseSimd2;
  } catch {
    s = null;
  }
  onArena2.set(memory, s);
  return s;
}

/**
 * Quantize over out[start, end) (blocks along the last dimension, as quantize.cpu.ts lays them
 * out): whole blocks inside the range through the quant loop, in calls of about CALL elements; a
 * block cut by the range's ends through the JavaScript range kernel (which reads the whole block
 * for its scale). Needs a block size and a last dimension that are multiples of 4 (so every
 * block starts on a vector); false, having done nothing, otherwise.
 */
function quantizeRange(
  s: ElementwiseSimd2,
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
): boolean {
  const x = inputs[0];
  const B = Number(params.blockSize);
  const { qmax } = QUANT_SCHEMES[quantScheme(params.scheme)];
  const { rows, cols } = layout(ctx.shape, B);
  if (x.length !== rows * cols || B % 4 !== 0 || cols % 4 !== 0 || (ctx.offset ?? 0) !== 0) return false;
  const js = (a: number, b: number) => {
    if (b > a) getFastKernel('quantize').run(inputs, out, params, ctx, a, b);
  };
  const run = (a: number, len: number, blockLen: number) => {
    const per = Math.max(1, Math.floor(CALL / blockLen)) * blockLen;
    for (let b = a; b < a + len; b += per) {
      const l = Math.min(per, a + len - b);
      s.quant(out.byteOffset + 4 * b, x.byteOffset + 4 * b, qmax, 4 * blockLen, 4 * l);
    }
  };
  const tail = cols % B;
  let i = start;
  while (i < end) {
    const rowStart = Math.floor(i / cols) * cols;
    const c = i - rowStart;
    const bs = rowStart + Math.floor(c / B) * B;
    const be = Math.min(rowStart + cols, bs + B);
    if (bs !== i || be > end) {
      // A block cut by the range's start or end.
      const stop = Math.min(be, end);
      js(i, stop);
      i = stop;
      continue;
    }
    // Whole blocks of B from i: to the end of the range where every row is whole blocks, else to the row's last whole block.
    const limit = tail === 0 ? end : Math.min(end, rowStart + cols - tail);
    const whole = Math.floor((limit - i) / B) * B;
    if (whole > 0) {
      run(i, whole, B);
      i += whole;
    } else {
      // The row's shorter last block, whole inside the range.
      run(i, be - i, be - i);
      i = be;
    }
  }
  return true;
}

/**
 * Quantize through its SIMD loop over out[start, end) when every array is in `arena`; false,
 * having done nothing, otherwise (or where the layout needs the JavaScript range kernel).
 */
export function quantizeSimdRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
  arena: WebAssembly.Memory,
): boolean {
  const s = elementwiseSimd2On(arena);
  return s !== null && quantizeRange(s, inputs, out, params, ctx, start, end);
}

/**
 * A reduce pass of operator `kernel` through a SIMD loop on the arena, or undefined where it has
 * none (the caller runs the kernel's own partial). SLERP's one whole-tensor pass: the three sums
 * in element order (slerpSums, in calls of CALL elements carrying the sums, the last few elements
 * in JavaScript continuing them), then the reference's slerpFromSums.
 */
export function elementwiseSimdPartial(
  kernel: string,
  inputs: readonly Float32Array[],
  params: ParamValues,
  arena: WebAssembly.Memory,
): unknown {
  if (kernel !== 'slerp' || inputs.length !== 2) return undefined;
  const s = elementwiseSimd2On(arena);
  if (!s) return undefined;
  const [v0, v1] = inputs;
  const n = v0.length;
  const vecEnd = n & ~3;
  let d = 0,
    a = 0,
    b = 0;
  for (let i = 0; i < vecEnd; i += CALL) {
    const len = Math.min(CALL, vecEnd - i);
    [d, a, b] = s.slerpSums(v0.byteOffset + 4 * i, v1.byteOffset + 4 * i, 4 * len, d, a, b);
  }
  for (let i = vecEnd; i < n; i++) {
    d += v0[i] * v1[i];
    a += v0[i] * v0[i];
    b += v1[i] * v1[i];
  }
  const { s0, s1 } = slerpFromSums(d, a, b, num(params, 't'));
  return { slerpS0: s0, slerpS1: s1 };
}

/**
 * The module, on an imported shared memory (a CpuPool's arena), built on first use.
 */
export function elementwiseWasm(): Uint8Array<ArrayBuffer> {
  const FUNCS: [string, { fn: Fn; body: number[] }][] = [
    ['cross2', crossover(2)],
    ['cross3', crossover(3)],
    ['cross4', crossover(4)],
    ['mutate', mutate(false)],
    ['mutateRate', mutate(true)],
    ['lin2', lin2()],
    ['nearswap', nearswap()],
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
    ...section(1, [FUNCS.length, ...FUNCS.flatMap(([, f]) => f.fn.type())]),
    ...section(2, [1, ...name('env'), ...name('mem'), 2, 3, 0, ...leb(65536)]),
    ...section(3, [FUNCS.length, ...FUNCS.map((_, t) => t)]),
    ...section(7, [FUNCS.length, ...FUNCS.flatMap(([nm], t) => [...name(nm), 0, t])]),
    ...section(10, [FUNCS.length, ...FUNCS.flatMap(([, f]) => f.body)]),
  ]);
}
let wasm: WebAssembly.Module | undefined;

type Loop = (...args: number[]) => void;
export interface ElementwiseSimd {
  cross2: Loop;
  cross3: Loop;
  cross4: Loop;
  mutate: Loop;
  mutateRate: Loop;
  lin2: Loop;
  nearswap: Loop;
}

const onArena = new WeakMap<WebAssembly.Memory, ElementwiseSimd | null>();

/** This thread's element-wise SIMD loops on an arena's memory (one instance per memory), or null where they cannot be made. */
export function elementwiseSimdOn(memory: WebAssembly.Memory): ElementwiseSimd | null {
  if (onArena.has(memory)) return onArena.get(memory)!;
  let s: ElementwiseSimd | null = null;
  try {
    s = new WebAssembly.Instance((wasm ??= new WebAssembly.Module(elementwiseWasm())), { env: { mem: memory } })
      .exports as unknown as ElementwiseSimd;
  } catch {
    s = null;
  }
  onArena.set(memory, s);
  return s;
}

/**
 * The arguments of operator `kernel`'s SIMD loop over out[start, end) after the pointers (and the
 * draws' first element index, idx0, where it takes one), and the loop, or null where these parameters need the JavaScript range kernel (kernels.ts) instead.
 */
function loopOf(
  s: ElementwiseSimd,
  kernel: string,
  inputs: readonly Float32Array[],
  params: ParamValues,
  ctx: TensorContext,
  start: number,
): { loop: Loop; args: number[]; idx0?: number } | null {
  const f = Math.fround;
  const offset = ctx.offset ?? 0;
  switch (kernel) {
    case 'crossover': {
      const k = inputs.length;
      if (k < 2 || k > 4 || crossoverUnit(String(params.granularity ?? 'element'), ctx.shape) !== 1) return null;
      const c = crossoverThresholds(weightsOf(params, 'weights', k, 1));
      const sk = streamKey(tensorKey(ctx.seed, ctx.name), 0);
      return { loop: [s.cross2, s.cross3, s.cross4][k - 2], args: [...c.subarray(0, k - 1), sk], idx0: offset + start };
    }
    case 'mutate': {
      if (typeof params.std !== 'number') return null;
      const amp = f(num(params, 'strength') * params.std * Math.sqrt(3));
      const eps = f(num(params, 'epsilon'));
      const rate = f(num(params, 'rate', 1));
      // The reference's clamp is an if/else-if: sequential lane masks agree with it only for eps >= 0.
      if (!(eps >= 0)) return null;
      const key = tensorKey(ctx.seed, ctx.name);
      return {
        loop: rate < 1 ? s.mutateRate : s.mutate,
        args: [amp, eps, rate, streamKey(key, 0), streamKey(key, 1)],
        idx0: offset + start,
      };
    }
    case 'nearswap':
      return inputs.length === 2 ? { loop: s.nearswap, args: [f(num(params, 't'))] } : null;
    case 'slerp':
      if (typeof params.slerpS0 !== 'number' || typeof params.slerpS1 !== 'number') return null;
      return { loop: s.lin2, args: [f(params.slerpS0), f(params.slerpS1)] };
    default:
      return null;
  }
}

/**
 * Run `kernel` over out[start, end) with its SIMD loop when every array is in `arena` and the
 * parameters allow it (the last few elements through the JavaScript range kernel); false, having
 * done nothing, otherwise.
 */
export function elementwiseSimdRange(
  kernel: string,
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
  arena: WebAssembly.Memory,
): boolean {
  if (kernel === 'quantize') return quantizeSimdRange(inputs, out, params, ctx, start, end, arena);
  const s = elementwiseSimdOn(arena);
  const l = s && loopOf(s, kernel, inputs, params, ctx, start);
  if (!l) return false;
  const vecEnd = start + ((end - start) & ~3);
  for (let b = start; b < vecEnd; b += CALL) {
    const len = Math.min(CALL, vecEnd - b);
    const args = l.idx0 === undefined ? l.args : [...l.args, (l.idx0 + (b - start)) | 0];
    l.loop(out.byteOffset + 4 * b, ...inputs.map((x) => x.byteOffset + 4 * b), ...args, 4 * len);
  }
  if (vecEnd < end) getFastKernel(kernel).run(inputs, out, params, ctx, vecEnd, end);
  return true;
}
