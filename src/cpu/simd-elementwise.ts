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
  f32x4convertU,
} from './wasm-asm.ts';
import { getFastKernel } from '../core/operators/fast/kernels.ts';
import { crossoverThresholds, crossoverUnit } from '../core/operators/crossover.cpu.ts';
import { num, weightsOf } from '../core/operators/params.ts';
import { streamKey, tensorKey } from '../core/operators/prng.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';

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
    ...f32x4convertU,
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
 * The arguments of operator `kernel`'s SIMD loop over out[start, end) after the pointers, and the
 * loop, or null where these parameters need the JavaScript range kernel (kernels.ts) instead.
 */
function loopOf(
  s: ElementwiseSimd,
  kernel: string,
  inputs: readonly Float32Array[],
  params: ParamValues,
  ctx: TensorContext,
  start: number,
): { loop: Loop; args: number[] } | null {
  const f = Math.fround;
  const offset = ctx.offset ?? 0;
  switch (kernel) {
    case 'crossover': {
      const k = inputs.length;
      if (k < 2 || k > 4 || crossoverUnit(String(params.granularity ?? 'element'), ctx.shape) !== 1) return null;
      const c = crossoverThresholds(weightsOf(params, 'weights', k, 1));
      const sk = streamKey(tensorKey(ctx.seed, ctx.name), 0);
      return { loop: [s.cross2, s.cross3, s.cross4][k - 2], args: [...c.subarray(0, k - 1), sk, offset + start] };
    }
    case 'mutate': {
      if (typeof params.std !== 'number') return null;
      const amp = f(num(params, 'strength') * params.std * Math.sqrt(3));
      const eps = f(num(params, 'epsilon'));
      const rate = f(num(params, 'rate', 1));
      // The reference's clamp is an if/else-if: sequential lane masks agree with it only for eps >= 0.
      if (!(eps >= 0)) return null;
      const key = tensorKey(ctx.seed, ctx.name);
      return { loop: rate < 1 ? s.mutateRate : s.mutate, args: [amp, eps, rate, streamKey(key, 0), streamKey(key, 1), offset + start] };
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
  const s = elementwiseSimdOn(arena);
  const l = s && loopOf(s, kernel, inputs, params, ctx, start);
  if (!l) return false;
  const vecEnd = start + ((end - start) & ~3);
  if (vecEnd > start) l.loop(out.byteOffset + 4 * start, ...inputs.map((x) => x.byteOffset + 4 * start), ...l.args, 4 * (vecEnd - start));
  if (vecEnd < end) getFastKernel(kernel).run(inputs, out, params, ctx, vecEnd, end);
  return true;
}
