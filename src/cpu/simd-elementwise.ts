/**
 * WebAssembly SIMD loops of the element-wise operators beyond blend and task delta (simd.ts):
 * crossover, bounded mutation, SLERP (its ordered sums and its combination), NearSwap and fake
 * quantization, on a pool's arena, in place. Hand-assembled with wasm-asm.ts's builders, 4 lanes
 * a vector, 4 vectors an iteration (unrolledLoop16: V8 rebuilds every constant inside the loop):
 *
 *   crossK(o, x₀…x_{K−1}, T₀…T_{K−2}, sk, idx0, nBytes), K = 2, 3, 4 (keys folded: foldKey):
 *       k = draw(sk, idx0 + i); o[i] = x_p[i] for the first p with T_p > k (else x_{K−1}[i])
 *   mutate / mutateRate(o, x, ampS, eps, T, noiseKey, rateKey, idx0, nBytes) (keys folded):
 *       noise = clamp(ampS·(draw(noiseKey, idx0 + i) − 2²³), −eps, eps); o[i] = x[i] + noise;
 *       mutateRate keeps x[i] where draw(rateKey, idx0 + i) > T
 *   lin2(o, x₀, x₁, a, b, nBytes): o[i] = a·x₀[i] + b·x₁[i]
 *   nearswap(o, a, b, t, nBytes): w = clamp(fround(1 / max(|a − b|, 1e−6))·t, 0, 1); o = w·b + (1 − w)·a
 *   quant(o, x, qmax, blockBytes, nBytes), slerpSums(x₀, x₁, nBytes, d, a, b), slerpLanes(x₀, x₁, nBytes): see below.
 *
 * draw(k, j) is the 24-bit integer behind prng.ts's unitAt (unitAt = draw·2⁻²⁴): lowbias32 on
 * (k ^ j) in i32x4 (mul, xor, shift are exact 32-bit ops), then >>> 8. The reference's float
 * comparisons with u become integer ones with thresholds computed once (belowThreshold), and its
 * noise amp·(2u − 1) one f32 product of exact factors. Every float step is one IEEE f32 operation
 * with round-to-nearest-even, the same as the reference's Math.fround of the same exact double
 * value, and each comparison and selection is the reference's branch as a lane mask (or as pmin /
 * pmax, whose NaN and ±0 rules are those branches), so the results are bit-identical (NaN payloads
 * aside); elementwise-kernels.test.ts checks it.
 */
import {
  F32,
  F64,
  I32,
  Func,
  SIMD,
  addTo,
  addr,
  bitselect,
  f32div,
  f32eq,
  f32x4abs,
  f32x4add,
  f32x4convertS,
  f32x4div,
  f32x4mul,
  f32x4nearest,
  f32x4neg,
  f32x4pmax,
  f32x4pmin,
  f32x4splat,
  f32x4sub,
  f64add,
  f64x2add,
  f64x2extractLane,
  f64x2mul,
  f64x2promoteLow,
  get,
  i32const,
  i32x4add,
  i32x4extractLane,
  i32x4gtS,
  i32x4maxS,
  i32x4mul,
  i32x4shrU,
  i32x4splat,
  leb,
  loadAt,
  loop16,
  set,
  sharedModule,
  shuffle,
  storeAt,
  tee,
  unrolledLoop16,
  v128and,
  v128const,
  v128xor,
  whileNot,
  perMemory,
} from './wasm-asm.ts';
import { getFastKernel } from '../core/operators/fast/kernels.ts';
import { crossoverThresholds, crossoverUnit } from '../core/operators/crossover.cpu.ts';
import { num, weightsOf } from '../core/operators/params.ts';
import { layout, QUANT_SCHEMES, quantScheme } from '../core/operators/quantize.cpu.ts';
import { lendSlerpLoops, type SlerpLoops } from '../core/operators/fast/elementwise.ts';
import { streamKey, tensorKey } from '../core/operators/prng.ts';
import { addSlerpSums } from '../core/operators/slerp.cpu.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

/**
 * Elements per call of a loop (a multiple of 4): V8 runs a WebAssembly call to its end in the tier
 * it started in, so one call per range would stay in the baseline compiler.
 */
const CALL = 1 << 16;

/** Setup of the counter-based draws: idx = idx0 + (0, 1, 2, 3), the mixer's constants and 2⁻²⁴. */
export function drawSetup(fn: Pick<Func, 'v'>, idx0: number): number[] {
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

/**
 * The 24-bit draw k = mix32(key ^ idx) >>> 8 per lane onto the stack (unitAt = k·2⁻²⁴; key: a v128
 * local holding the splatted stream key). With `folded`, key holds foldKey(key, idx) instead, for
 * indices that share idx >>> 16, and mix32's first step x ^ (x >>> 16) is that xor.
 */
export function draw(fn: Pick<Func, 'v'>, key: number, folded = false): number[] {
  const h = fn.v('h');
  const xorShift = (s: number) => [...tee(h), ...get(h), ...i32const(s), ...i32x4shrU, ...v128xor];
  return [
    ...get(key),
    ...get(fn.v('idx')),
    ...v128xor,
    ...(folded ? [] : xorShift(16)),
    ...get(fn.v('m1')),
    ...i32x4mul,
    ...xorShift(15),
    ...get(fn.v('m2')),
    ...i32x4mul,
    ...xorShift(16),
    ...i32const(8),
    ...i32x4shrU,
  ];
}

/** Indices per run that share idx >>> 16. */
const DRAW_RUN = 1 << 16;
/**
 * x ^ (x >>> 16) for x = key ^ idx is idx ^ (key ^ (key >>> 16) ^ (idx >>> 16)): for the indices of
 * one run of DRAW_RUN (idx >>> 16 fixed) the bracket is one constant, the folded key.
 */
export const foldKey = (key: number, idx: number): number => (key ^ (key >>> 16) ^ (idx >>> 16)) | 0;

/** unitAt(key, idx) per lane onto the stack: the draw as f32 times 2⁻²⁴. */
export function unit(fn: Pick<Func, 'v'>, key: number): number[] {
  // k < 2²⁴: the signed conversion (one instruction on x86, where the unsigned one is a sequence) is exact and the same.
  return [...draw(fn, key), ...f32x4convertS, ...get(fn.v('scale')), ...f32x4mul];
}

/**
 * Integer thresholds for the draws: u = k·2⁻²⁴ < c ⟺ k < ⌈c·2²⁴⌉ (k an integer, c·2²⁴ exact in
 * double), so the loops compare k with i32x4.gt_s and skip the conversion. A NaN c is never above
 * a draw: threshold 0.
 */
export const belowThreshold = (c: number): number => (Number.isNaN(c) ? 0 : Math.max(0, Math.min(2 ** 24, Math.ceil(c * 2 ** 24))));

const nextIdx = (fn: Func) => [...get(fn.v('idx')), ...get(fn.v('four')), ...i32x4add, ...set(fn.v('idx'))];
/** The vector of pointer parameter `ptr` at the loop's byte i + 16u. */
const loadU = (fn: Func, ptr: number, u: number) => [...addr(ptr, fn.s('i')), ...loadAt(16 * u)];
const splatTo = (param: number, local: number, splat = f32x4splat) => [...get(param), ...splat, ...set(local)];
const splatConst = (bits: number, local: number) => [...v128const(Array(4).fill(bits)), ...set(local)];

/**
 * A loop function: parameters `params` (pointer 0 the output, the last one nBytes), `setup`, then
 * the unrolled loop over i = 0, 16, … < nBytes running step(fn, u), which leaves the output
 * vector's value on the stack after its address (pushed by the loop: o + i, stored at 16u).
 */
function loopFn(params: number[], setup: (fn: Func) => number[], step: (fn: Func, u: number) => number[]): [Func, number[]] {
  const fn = new Func(params, [], { i: I32 });
  const i = fn.s('i');
  const pre = setup(fn);
  return [fn, [...pre, ...unrolledLoop16(i, params.length - 1, (u) => [...addr(0, i), ...step(fn, u), ...storeAt(16 * u)])]];
}

/** crossK. Params: 0 o, 1…K x_p, K+1…2K−1 T_p (i32: belowThreshold(c_p)), 2K sk, 2K+1 idx0, 2K+2 nBytes. */
function crossover(k: number): [Func, number[]] {
  const T = (p: number) => 1 + k + p;
  return loopFn(
    [I32, ...Array(k).fill(I32), ...Array(k - 1).fill(I32), I32, I32, I32],
    (fn) => [
      ...drawSetup(fn, 2 * k + 1),
      ...splatTo(2 * k, fn.v('sk'), i32x4splat),
      ...Array.from({ length: k - 1 }, (_, p) => splatTo(T(p), fn.v(`T${p}`), i32x4splat)).flat(),
    ],
    (fn, u) => {
      // x_p for the first p with T_p > k, else x_{K−1}: selections from the last parent down.
      const step = [...draw(fn, fn.v('sk'), true), ...set(fn.v('k')), ...loadU(fn, k, u)];
      for (let p = k - 2; p >= 0; p--)
        step.push(
          ...set(fn.v('res')),
          ...loadU(fn, 1 + p, u),
          ...get(fn.v('res')),
          ...get(fn.v(`T${p}`)),
          ...get(fn.v('k')),
          ...i32x4gtS,
          ...bitselect,
        );
      return [...step, ...nextIdx(fn)];
    },
  );
}

/**
 * mutate / mutateRate. Params: 0 o, 1 x, 2 ampS = amp·2⁻²³ (f32, exact), 3 eps, 4 T (i32: keep x
 * where k > T), 5 noiseKey, 6 rateKey, 7 idx0, 8 nBytes. The reference's noise amp·(2u − 1) is
 * amp·(k − 2²³)·2⁻²³ = ampS·(k − 2²³) as real numbers, so one f32 product of the exact
 * conversion of k − 2²³ rounds it as the reference's fround does.
 */
function mutate(withRate: boolean): [Func, number[]] {
  return loopFn(
    [I32, I32, F32, F32, I32, I32, I32, I32, I32],
    (fn) => [
      ...drawSetup(fn, 7),
      ...splatTo(2, fn.v('amp')),
      ...splatTo(3, fn.v('eps')),
      ...get(fn.v('eps')),
      ...f32x4neg,
      ...set(fn.v('neg')),
      ...splatTo(4, fn.v('T'), i32x4splat),
      ...splatTo(5, fn.v('nk'), i32x4splat),
      ...splatTo(6, fn.v('rk'), i32x4splat),
      ...splatConst(-(2 ** 23), fn.v('bias')),
    ],
    (fn, u) => [
      ...loadU(fn, 1, u),
      ...(withRate ? tee(fn.v('x')) : []),
      ...get(fn.v('amp')),
      ...draw(fn, fn.v('nk'), true),
      ...get(fn.v('bias')),
      ...i32x4add,
      ...f32x4convertS,
      ...f32x4mul,
      // The reference's clamp, noise > eps ? eps : noise then noise < −eps ? −eps : noise, is pmin then pmax (eps ≥ 0).
      ...get(fn.v('eps')),
      ...f32x4pmin,
      ...get(fn.v('neg')),
      ...f32x4pmax,
      ...f32x4add,
      // mutateRate: x where the rate draw is >= rate (k > T).
      ...(withRate
        ? [
            ...set(fn.v('y')),
            ...get(fn.v('x')),
            ...get(fn.v('y')),
            ...draw(fn, fn.v('rk'), true),
            ...get(fn.v('T')),
            ...i32x4gtS,
            ...bitselect,
          ]
        : []),
      ...nextIdx(fn),
    ],
  );
}

/** lin2. Params: 0 o, 1 x₀, 2 x₁, 3 a, 4 b (f32), 5 nBytes. */
const lin2 = () =>
  loopFn(
    [I32, I32, I32, F32, F32, I32],
    (fn) => [...splatTo(3, fn.v('a')), ...splatTo(4, fn.v('b'))],
    (fn, u) => [...get(fn.v('a')), ...loadU(fn, 1, u), ...f32x4mul, ...get(fn.v('b')), ...loadU(fn, 2, u), ...f32x4mul, ...f32x4add],
  );

/**
 * nearswap. Params: 0 o, 1 a, 2 b, 3 t (f32), 4 nBytes. w = min(max(fround(1 / max(|a − b|, 1e−6))·t, 0), 1);
 * o = w·b + (1 − w)·a. Math.max(d, 1e−6) is pmax(d, 1e−6) (d < 1e−6 ? 1e−6 : d: a NaN stays); the
 * clamp is pmin(pmax(w + 0, 0), 1) (+ 0 turns −0 into +0 as Math.max(−0, 0) does; a NaN stays):
 * single instructions where f32x4.min/max are sequences of eight.
 */
const nearswap = () =>
  loopFn(
    [I32, I32, I32, F32, I32],
    (fn) => [
      ...splatTo(3, fn.v('t')),
      ...splatConst(0x3f800000, fn.v('one')),
      ...splatConst(0x358637bd, fn.v('minDiff')),
      ...splatConst(0, fn.v('zero')),
    ],
    (fn, u) => {
      const [a, b, w, one, zero] = [fn.v('a'), fn.v('b'), fn.v('w'), fn.v('one'), fn.v('zero')];
      return [
        ...get(one),
        ...loadU(fn, 1, u),
        ...tee(a),
        ...loadU(fn, 2, u),
        ...tee(b),
        ...f32x4sub,
        ...f32x4abs,
        ...get(fn.v('minDiff')),
        ...f32x4pmax,
        ...f32x4div,
        ...get(fn.v('t')),
        ...f32x4mul,
        ...get(zero),
        ...f32x4add,
        ...get(zero),
        ...f32x4pmax,
        ...get(one),
        ...f32x4pmin,
        ...tee(w),
        // w·b + (1 − w)·a
        ...get(b),
        ...f32x4mul,
        ...get(one),
        ...get(w),
        ...f32x4sub,
        ...get(a),
        ...f32x4mul,
        ...f32x4add,
      ];
    },
  );

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
  const fn = new Func([I32, I32, F32, I32, I32], [], { i: I32, j: I32, s: F32 });
  const [i, j, sv] = [fn.s('i'), fn.s('j'), fn.s('s')];
  const [acc, s4, qv, nqv, abs, zero] = [fn.v('acc'), fn.v('s4'), fn.v('qmax'), fn.v('nqmax'), fn.v('abs'), fn.v('zero')];
  /** The block's vector u of pointer parameter `ptr` (address ptr + i + j, offset 16u). */
  const at = (ptr: number, u: number) => [...get(ptr), ...get(i), 0x6a, ...get(j), 0x6a, ...loadAt(16 * u)];
  const blockAddr = (ptr: number) => [...get(ptr), ...get(i), 0x6a, ...get(j), 0x6a];
  // An inner loop over the block's vectors, j = 0, 16, … < blockBytes, unrolled.
  const inner = (step: (u: number) => number[]) => [...i32const(0), ...set(j), ...unrolledLoop16(j, 3, step)];
  // m = the largest lane (signed: every lane is ≥ 0): two shuffle-and-max steps, then lane 0.
  const swap64 = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
  const swap32 = [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11];
  const laneMax = (lanes: number[]) => [...get(acc), ...get(acc), ...get(acc), ...shuffle(lanes), ...i32x4maxS, ...set(acc)];
  const block = [
    ...get(zero),
    ...set(acc),
    ...inner((u) => [...get(acc), ...at(1, u), ...get(abs), ...v128and, ...i32x4maxS, ...set(acc)]),
    ...laneMax(swap64),
    ...laneMax(swap32),
    ...get(acc),
    ...i32x4extractLane(0),
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
    ...inner((u) => [...blockAddr(0), ...get(zero), ...storeAt(16 * u)]),
    0x05, // else
    ...inner((u) => [
      ...blockAddr(0),
      ...at(1, u),
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
      ...storeAt(16 * u),
    ]),
    0x0b,
  ];
  // The outer loop steps i by blockBytes (parameter 3).
  const code = [
    ...splatConst(0, zero),
    ...splatConst(0x7fffffff, abs),
    ...get(2),
    ...f32x4splat,
    ...tee(qv),
    ...f32x4neg,
    ...set(nqv),
    ...whileNot([...get(i), ...get(4), 0x4f], [...block, ...addTo(i, 3, true)]),
  ];
  return [fn, code];
}

/**
 * slerpSums(x₀, x₁, nBytes, d, a, b) → (d, a, b): SLERP's three float64 sums (slerp.cpu.ts's
 * slerpCoefficients: d += x₀x₁, a += x₀², b += x₁²) continued over nBytes / 4 elements in element
 * order. The products two lanes at a time (f64x2: each product of two f32 values is exact in f64,
 * so the lane's value is the reference's), then each sum's adds one element after the other, as
 * scalar f64.add (JavaScript's +): the sums are the reference's, bit for bit. The three chains are
 * independent, so their latencies overlap; each chain's adds in order are the floor
 * (one f64 add latency an element).
 */
function slerpSums(): [Func, number[]] {
  const fn = new Func([I32, I32, I32, F64, F64, F64], [F64, F64, F64], { i: I32 });
  const i = fn.s('i');
  const high = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
  const step = [...addr(0, i), ...loadAt(0), ...set(fn.v('A')), ...addr(1, i), ...loadAt(0), ...set(fn.v('B'))];
  for (const half of [0, 1]) {
    // Elements 2·half and 2·half + 1 of the vector, promoted to f64.
    const promote = (v: number) => [...get(v), ...(half ? [...get(v), ...shuffle(high)] : []), ...f64x2promoteLow];
    const [u, w] = [fn.v('u'), fn.v('w')];
    step.push(...promote(fn.v('A')), ...set(u), ...promote(fn.v('B')), ...set(w));
    const products = [
      [u, w],
      [u, u],
      [w, w],
    ].map(([p, q], c) => [...get(p), ...get(q), ...f64x2mul, ...set(fn.v(`p${c}`))]);
    step.push(...products.flat());
    for (const lane of [0, 1])
      for (let c = 0; c < 3; c++) step.push(...get(3 + c), ...get(fn.v(`p${c}`)), ...f64x2extractLane(lane), ...f64add, ...set(3 + c));
  }
  return [fn, [...loop16(i, 2, step), ...get(3), ...get(4), ...get(5)]];
}

/** Sections of a call to SLERP's bound-pass loop that it walks side by side (the call's bytes a multiple of 64·LANE_SECTIONS). */
const LANE_SECTIONS = 4;
/** v128.load64_zero of the 8 bytes at `offset` past the address on the stack (two f32 values, then promoted). */
const load64ZeroAt = (offset: number) => [...SIMD(0x5d), 3, ...leb(offset)];

/**
 * slerpLanes(x₀, x₁, nBytes) → (d, a, b): SLERP's bound-pass sums over nBytes / 4 elements
 * (d = Σ x₀x₁, a = Σ x₀², b = Σ x₁²; nBytes a multiple of 64·LANE_SECTIONS) in f64x2 lanes: each
 * product of two f32 values is exact in f64; per sum two lane accumulators (the low and high halves
 * of every vector), each lane a chain of nBytes / 16 additions, then the four lanes added. Not the
 * reference's order: the certificate (elementwise.ts slerpCertified) bounds the difference.
 *
 * Its speed is the parents' lines in flight, from memory (one worker's 32 M elements, one thread's
 * CPU time at load ~5; the same loops from cache took 15–23 ms): one vector an iteration, ~40 ms
 * (~90 ms in some processes); each two elements straight from memory into their f64x2
 * (load64_zero, promote: no shuffle) and 16 vectors an iteration, ~38; Σ |x₀x₁| bounded from a and
 * b (SlerpPart's t) instead of a fourth sum, ~35; the call's range cut into LANE_SECTIONS sections
 * walked side by side (4 vectors of each an iteration: twice the streams), ~31. More accumulators
 * spill (16 xmm registers).
 */
function slerpLanes(): [Func, number[]] {
  const sections = Array.from({ length: LANE_SECTIONS - 1 }, (_, k) => [`x0s${k + 1}`, `x1s${k + 1}`]).flat();
  const fn = new Func([I32, I32, I32], [F64, F64, F64], { i: I32, len: I32, ...Object.fromEntries(sections.map((nm) => [nm, I32])) });
  const [i, len] = [fn.s('i'), fn.s('len')];
  /** The address of section `k` of parent `p`. */
  const base = (p: number, k: number) => (k ? fn.s(`x${p}s${k}`) : p);
  // len = nBytes / LANE_SECTIONS; section k of parent p starts at x_p + k·len.
  const setup = [...get(2), ...i32const(Math.log2(LANE_SECTIONS)), 0x76, ...set(len)];
  for (let k = 1; k < LANE_SECTIONS; k++) for (const p of [0, 1]) setup.push(...get(base(p, k - 1)), ...get(len), 0x6a, ...set(base(p, k)));
  const accumulate = (acc: number, value: number[]) => [...get(acc), ...value, ...f64x2add, ...set(acc)];
  const [u, w] = [fn.v('u'), fn.v('w')];
  const body: number[] = [];
  for (let v = 0; v < 4; v++)
    for (let k = 0; k < LANE_SECTIONS; k++)
      for (const half of [0, 1]) {
        const promote = (p: number) => [...addr(base(p, k), i), ...load64ZeroAt(16 * v + 8 * half), ...f64x2promoteLow];
        body.push(
          ...promote(0),
          ...set(u),
          ...promote(1),
          ...set(w),
          ...accumulate(fn.v(`d${half}`), [...get(u), ...get(w), ...f64x2mul]),
          ...accumulate(fn.v(`a${half}`), [...get(u), ...get(u), ...f64x2mul]),
          ...accumulate(fn.v(`b${half}`), [...get(w), ...get(w), ...f64x2mul]),
        );
      }
  const total = (sum: string) =>
    Array.from({ length: 2 }, (_, c) => [
      ...get(fn.v(`${sum}${c}`)),
      ...f64x2extractLane(0),
      ...get(fn.v(`${sum}${c}`)),
      ...f64x2extractLane(1),
      ...f64add,
      ...(c ? f64add : []),
    ]).flat();
  const loop = whileNot([...get(i), ...get(len), 0x4f], [...body, ...addTo(i, 64)]);
  return [fn, [...setup, ...loop, ...total('d'), ...total('a'), ...total('b')]];
}

/** The loops SLERP's reduce passes borrow on an arena (elementwise.ts SlerpLoops). */
function slerpLoops(s: ElementwiseSimd): SlerpLoops {
  return {
    lanes(x0, x1, start, end) {
      // Whole iterations of every section through the loop, the last (under 64·LANE_SECTIONS) elements in JavaScript.
      const vecEnd = start + ((end - start) & -(16 * LANE_SECTIONS));
      let [d, a, b] = [0, 0, 0];
      for (let i = start; i < vecEnd; i += CALL) {
        const len = Math.min(CALL, vecEnd - i);
        const r = s.slerpLanes(x0.byteOffset + 4 * i, x1.byteOffset + 4 * i, 4 * len);
        d += r[0];
        a += r[1];
        b += r[2];
      }
      return addSlerpSums(x0, x1, vecEnd, end, [d, a, b]);
    },
    ordered(v0, v1) {
      const n = v0.length;
      const vecEnd = n & ~3;
      let d = 0,
        a = 0,
        b = 0;
      for (let i = 0; i < vecEnd; i += CALL) {
        const len = Math.min(CALL, vecEnd - i);
        [d, a, b] = s.slerpSums(v0.byteOffset + 4 * i, v1.byteOffset + 4 * i, 4 * len, d, a, b);
      }
      return addSlerpSums(v0, v1, vecEnd, n, [d, a, b]);
    },
  };
}

/**
 * Quantize over out[start, end) (blocks along the last dimension, as quantize.cpu.ts lays them
 * out): whole blocks inside the range through the quant loop, in calls of about CALL elements; a
 * block cut by the range's ends through the JavaScript range kernel (which reads the whole block
 * for its scale). Needs a block size and a last dimension that are multiples of 4 (so every
 * block starts on a vector); false, having done nothing, otherwise.
 */
function quantizeRange(
  s: ElementwiseSimd,
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
  const s = elementwiseSimdOn(arena);
  return s !== null && quantizeRange(s, inputs, out, params, ctx, start, end);
}

/**
 * A reduce pass of operator `kernel` through a SIMD loop on the arena, or undefined where it has
 * none (the caller runs the kernel's own partial). SLERP's passes run the kernel's own partial
 * too, with this thread's loops lent for this job's `inputs` (lendSlerpLoops): the bound pass's
 * lanes (slerpLanes, per block) and the ordered sums (slerpSums in calls of CALL elements carrying
 * the sums, the last few elements in JavaScript continuing them), so undefined.
 */
export function elementwiseSimdPartial(
  kernel: string,
  inputs: readonly Float32Array[],
  _params: ParamValues,
  arena: WebAssembly.Memory,
): unknown {
  if (kernel !== 'slerp' || inputs.length !== 2) return undefined;
  const s = elementwiseSimdOn(arena);
  lendSlerpLoops(inputs, s && slerpLoops(s));
  return undefined;
}

/** The module, on an imported shared memory (a CpuPool's arena), built on first use. */
export function elementwiseWasm(): Uint8Array<ArrayBuffer> {
  return sharedModule([
    ['cross2', ...crossover(2)],
    ['cross3', ...crossover(3)],
    ['cross4', ...crossover(4)],
    ['mutate', ...mutate(false)],
    ['mutateRate', ...mutate(true)],
    ['lin2', ...lin2()],
    ['nearswap', ...nearswap()],
    ['quant', ...quant()],
    ['slerpSums', ...slerpSums()],
    ['slerpLanes', ...slerpLanes()],
  ]);
}

type Loop = (...args: number[]) => void;
export interface ElementwiseSimd {
  cross2: Loop;
  cross3: Loop;
  cross4: Loop;
  mutate: Loop;
  mutateRate: Loop;
  lin2: Loop;
  nearswap: Loop;
  quant: Loop;
  slerpSums: (x0: number, x1: number, nBytes: number, d: number, a: number, b: number) => [number, number, number];
  slerpLanes: (x0: number, x1: number, nBytes: number) => [number, number, number];
}

/** This thread's element-wise SIMD loops on an arena's memory (one instance per memory), or null where they cannot be made. */
export const elementwiseSimdOn: (memory: WebAssembly.Memory) => ElementwiseSimd | null = perMemory(elementwiseWasm);

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
): { loop: Loop; args: number[]; keys?: number[]; idx0?: number } | null {
  const f = Math.fround;
  const offset = ctx.offset ?? 0;
  switch (kernel) {
    case 'crossover': {
      const k = inputs.length;
      if (k < 2 || k > 4 || crossoverUnit(String(params.granularity ?? 'element'), ctx.shape) !== 1) return null;
      const c = crossoverThresholds(weightsOf(params, 'weights', k, 1));
      const sk = streamKey(tensorKey(ctx.seed, ctx.name), 0);
      return {
        loop: [s.cross2, s.cross3, s.cross4][k - 2],
        args: Array.from(c.subarray(0, k - 1), belowThreshold),
        keys: [sk],
        idx0: offset + start,
      };
    }
    case 'mutate': {
      if (typeof params.std !== 'number') return null;
      const amp = f(num(params, 'strength') * params.std * Math.sqrt(3));
      const eps = f(num(params, 'epsilon'));
      const rate = f(num(params, 'rate', 1));
      // The reference's clamp is an if/else-if: pmin then pmax agree with it only for eps >= 0.
      if (!(eps >= 0)) return null;
      // The noise as one product ampS·(k − 2²³) needs ampS = amp·2⁻²³ exact (|amp| ≥ 2⁻¹⁰³, 0, ±Inf or NaN).
      const ampS = f(amp * 2 ** -23);
      if (Number.isFinite(amp) && ampS * 2 ** 23 !== amp) return null;
      // Keep x where u >= rate: k ≥ rate·2²⁴ (exact), k > ⌈rate·2²⁴⌉ − 1.
      const T = Math.max(-1, Math.ceil(rate * 2 ** 24) - 1);
      const key = tensorKey(ctx.seed, ctx.name);
      return {
        loop: rate < 1 ? s.mutateRate : s.mutate,
        args: [ampS, eps, T],
        keys: [streamKey(key, 0), streamKey(key, 1)],
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
  // Calls of up to CALL elements; with draws, none across a multiple of 2¹⁶ in index space (the
  // keys are folded for that call's idx >>> 16), the up to 3 elements before such a point in JavaScript.
  for (let b = start; b < end;) {
    const idx = l.idx0 === undefined ? 0 : l.idx0 + (b - start);
    const e = Math.min(end, b + CALL, l.keys ? b + DRAW_RUN - (idx % DRAW_RUN) : end);
    const vec = b + ((e - b) & ~3);
    if (vec > b) {
      const args = l.keys ? [...l.args, ...l.keys.map((k) => foldKey(k, idx)), idx | 0] : l.args;
      l.loop(out.byteOffset + 4 * b, ...inputs.map((x) => x.byteOffset + 4 * b), ...args, 4 * (vec - b));
    }
    if (vec < e) getFastKernel(kernel).run(inputs, out, params, ctx, vec, e);
    b = e;
  }
  return true;
}
