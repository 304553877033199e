/**
 * WebAssembly SIMD loops of the selection and sparsification passes (the PassLoops that a pool
 * worker lends the range kernels, src/core/operators/fast/loops.ts), on a pool's arena, in
 * place. Hand-assembled like simd.ts (wasm-asm.ts), 4 lanes per step:
 *
 *   hist / hist1(h, x, [b,] nBytes): h[mag(x − b) >>> 15]++ (select.ts's histHigh on the delta)
 *   low / low1(h, at, cap, count, prefix, idx0, x, [b,] nBytes) → count: histLowCandidates on the delta
 *       (a lane test skips the four lanes unless one is in the candidate bucket)
 *   l1r1 / l1r2(x…, b, sk…, drop, idx0, nBytes, sums…) → sums: ‖x − b‖₁ before and after DARE's
 *       drop, float64 sums in element order (lane by lane: the reference's order), continued; two
 *       parents interleaved in l1r2
 *   prune(o, x, cb, ci, idx0, nBytes): o = +0 where x is among the pruned (bottom-m cutoff), else x
 *   {trim,outliers,random}_{none,ties}_P(o, b, x₁…x_P, w…, r…, mask…, λ, div, norm, idx0, nBytes) → (kept…, conflicts):
 *       the task-arithmetic family's element-wise pass (fast/task-arithmetic.ts applyRange):
 *       dₚ = wₚ·((xₚ − b) kept? · rₚ); none: o = b + λ·(((0 + d₁) + …) / div);
 *       ties: the elected sign (Σ dₚ ≥ 0), o = b + λ·(m / den where normalised and den ≠ 0, else m)
 *
 * Every float step is one IEEE f32 operation with round-to-nearest-even, in the reference's order,
 * and each branch of the reference is a lane mask: where the reference skips an addition (a
 * trimmed or disagreeing delta), the loop adds +0, which leaves every sum it can meet unchanged
 * (the sums start at +0 and only a sum of two −0 is −0). The histograms and candidate lists live
 * in a per-thread scratch block of the arena (SELECT_SCRATCH_BYTES, given by the pool).
 * simd-select.test.ts compares every loop with the JavaScript one byte for byte.
 */
import {
  F32,
  F64,
  Func,
  I32,
  SIMD,
  bitselect,
  f32x4add,
  f32x4convertS,
  f32x4div,
  f32x4ge,
  f32x4gt,
  f32x4lt,
  f32x4abs,
  f32x4mul,
  f32x4splat,
  f32x4sub,
  get,
  i32const,
  i32x4add,
  i32x4maxS,
  i32x4splat,
  i32x4shrU,
  loop16,
  set,
  sharedModule,
  shuffle,
  storeAt as v128storeAt,
  tee,
  v128const,
  v128load,
  v128store,
} from './wasm-asm.ts';
import { belowThreshold, draw, drawSetup, foldKey, unit } from './simd-elementwise.ts';
import { HIGH_SIZE, LOW_SIZE } from '../core/operators/select.ts';
import { vectorEnd, type ApplySpec, type PassLoops } from '../core/operators/fast/loops.ts';

const i32x4eq = SIMD(0x37);
const i32x4ltS = SIMD(0x39);
const i32x4ltU = SIMD(0x3a);
const i32x4gtS = SIMD(0x3b);
const i32x4gtU = SIMD(0x3c);
const i32x4shl = SIMD(0xab);
const i32x4sub = SIMD(0xb1);
const i32x4lane = (l: number) => [...SIMD(0x1b), l];
const f32x4lane = (l: number) => [...SIMD(0x1f), l];
const f32x4ne = SIMD(0x42);
const v128not = SIMD(0x4d);
const v128and = SIMD(0x4e);
const v128andnot = SIMD(0x4f);
const v128or = SIMD(0x50);
const anyTrue = SIMD(0x53);
const i32x4bitmask = SIMD(0xa4);
const swizzle = SIMD(0x0e);
const i32load = (offset = 0) => [0x28, 2, offset];
const i32store = (offset = 0) => [0x36, 2, offset];
const IF = [0x04, 0x40];
const END = 0x0b;
const add = 0x6a;

const MAG = Array(4).fill(0x7fffffff);
const at = (fn: Func, ptr: number) => [...get(ptr), ...get(fn.s('i')), add];
const load = (fn: Func, ptr: number) => [...at(fn, ptr), ...v128load];
/** The magnitudes' v128 (sign cleared) of x − b (of x alone when b is null) onto the stack. */
const magnitudes = (fn: Func, x: number, b: number | null) => [
  ...load(fn, x),
  ...(b === null ? [] : [...load(fn, b), ...f32x4sub]),
  ...get(fn.v('mag')),
  ...v128and,
];
/** local += 1 at address (on the stack). */
const bump = (fn: Func) => [...tee(fn.s('a')), ...get(fn.s('a')), ...i32load(), ...i32const(1), add, ...i32store()];

/** hist(h, x, [b,] nBytes). */
function hist(withBase: boolean): [Func, number[]] {
  const fn = new Func(withBase ? [I32, I32, I32, I32] : [I32, I32, I32], [], { i: I32, a: I32 });
  const n = withBase ? 3 : 2;
  // The bucket's byte address h + 4·digit per lane, so each lane's increment is one extract and a load/add/store.
  const step = [...magnitudes(fn, 1, withBase ? 2 : null), ...i32const(15), ...i32x4shrU, ...i32const(2), ...i32x4shl];
  step.push(...get(fn.v('h')), ...i32x4add, ...set(fn.v('dig')));
  for (let l = 0; l < 4; l++) step.push(...get(fn.v('dig')), ...i32x4lane(l), ...bump(fn));
  const setup = [...v128const(MAG), ...set(fn.v('mag')), ...get(0), ...i32x4splat, ...set(fn.v('h'))];
  return [fn, [...setup, ...loop16(fn.s('i'), n, step)]];
}

/** low(h, at, cap, count, prefix, idx0, x, [b,] nBytes) → count. */
function low(withBase: boolean): [Func, number[]] {
  const fn = new Func([I32, I32, I32, I32, I32, I32, I32, ...(withBase ? [I32] : []), I32], [I32], { i: I32, a: I32, e: I32 });
  const [h, list, cap, count, prefix, idx0] = [0, 1, 2, 3, 4, 5];
  const n = withBase ? 8 : 7;
  const [m, c, e] = [fn.v('m'), fn.v('c'), fn.s('e')];
  const lanes: number[] = [];
  for (let l = 0; l < 4; l++) {
    lanes.push(...get(c), ...i32x4lane(l), ...IF, ...get(m), ...i32x4lane(l), ...set(e));
    lanes.push(...get(e), ...i32const(0x7fff), 0x71, ...i32const(2), 0x74, ...get(h), add, ...bump(fn));
    // The first `cap` candidates: (idx0 + i/4 + l, magnitude) at list + 8·count.
    lanes.push(...get(count), ...get(cap), 0x49, ...IF, ...get(count), ...i32const(3), 0x74, ...get(list), add, ...tee(fn.s('a')));
    lanes.push(...get(idx0), ...get(fn.s('i')), ...i32const(2), 0x76, add, ...i32const(l), add, ...i32store());
    lanes.push(...get(fn.s('a')), ...get(e), ...i32store(4), END);
    lanes.push(...get(count), ...i32const(1), add, ...set(count), END);
  }
  const step = [...magnitudes(fn, 6, withBase ? 7 : null), ...set(m), ...get(m), ...i32const(15), ...i32x4shrU, ...get(fn.v('p'))];
  step.push(...i32x4eq, ...tee(c), ...anyTrue, ...IF, ...lanes, END);
  const setup = [...v128const(MAG), ...set(fn.v('mag')), ...get(prefix), ...i32x4splat, ...set(fn.v('p'))];
  return [fn, [...setup, ...loop16(fn.s('i'), n, step), ...get(count)]];
}

/** The lane bytes that gather the lanes set in a 4-bit mask to the front (i8x16.swizzle; 0x80 gives 0), per mask: a 256-byte table. */
export function compactTable(): Uint8Array {
  const t = new Uint8Array(256).fill(0x80);
  for (let bm = 0; bm < 16; bm++) {
    let k = 0;
    for (let l = 0; l < 4; l++) if (bm & (1 << l)) for (let b = 0, at = 16 * bm + 4 * k++; b < 4; b++) t[at + b] = 4 * l + b;
  }
  return t;
}

/**
 * winpQ(list₁…, lo₁…, hi₁…, table, idx0, b, x₁…, nBytes) → (count₁…, above₁…), Q = 1…4: the
 * window pass of Q selections on parents x₁… at once, each block of the base loaded once: for
 * selection q, how many of m = mag(x_q − b) lie above hi_q, and the list of those in [lo_q, hi_q]
 * as pairs (idx0 + i, m) at list_q, in index order. Magnitudes and bounds are 31-bit, so signed
 * compares serve. The listing has no branch per lane: the in-window lanes' bitmask picks their
 * compaction from `table` (compactTable), the compacted pairs are stored at the list's end (two
 * vectors, 4 pairs: the list holds 4 pairs of slack) and the end moves on by the popcount. winbQ
 * (branch) lists only the vectors with a lane in the window, winpQ every vector: a large tensor's
 * window holds ~1.5 % of the elements (~6 % of the vectors), where skipping the rest pays (one
 * thread, 4 M elements: 3.2 → 2.8 ns per element); a small tensor's holds ~4 %, where it does not.
 */
function winParents(Q: number, branch: boolean, withBase = true): [Func, number[]] {
  const scalars: Record<string, number> = { i: I32, a: I32, bm: I32 };
  for (let q = 0; q < Q; q++) scalars[`c${q}`] = I32;
  const B = withBase ? 1 : 0;
  const fn = new Func([...Array(3 * Q + 2 + B).fill(I32), ...Array(Q).fill(I32), I32], [...Array(2 * Q).fill(I32)], scalars);
  const list = (q: number) => q;
  const [table, idx0, b, n] = [3 * Q, 3 * Q + 1, 3 * Q + 2, 4 * Q + 2 + B];
  const x = (q: number) => 3 * Q + 2 + B + q;
  const V = (nm: string, q: number) => fn.v(`${nm}${q}`);
  const [bm, a] = [fn.s('bm'), fn.s('a')];
  const setup = [...v128const(MAG), ...set(fn.v('mag'))];
  setup.push(
    ...get(idx0),
    ...i32x4splat,
    ...v128const([0, 1, 2, 3]),
    ...i32x4add,
    ...set(fn.v('idx')),
    ...v128const([4, 4, 4, 4]),
    ...set(fn.v('four')),
  );
  for (let q = 0; q < Q; q++)
    for (const [nm, param] of [
      ['lo', Q + q],
      ['hi', 2 * Q + q],
    ] as const)
      setup.push(...get(param), ...i32x4splat, ...set(V(nm, q)));
  const step = withBase ? [...load(fn, b), ...set(fn.v('bv'))] : [];
  const listing: number[] = [];
  for (let q = 0; q < Q; q++) {
    const [m, g, o, count] = [V('m', q), V('g', q), V('o', q), fn.s(`c${q}`)];
    step.push(...load(fn, x(q)), ...(withBase ? [...get(fn.v('bv')), ...f32x4sub] : []), ...get(fn.v('mag')), ...v128and, ...set(m));
    step.push(...get(m), ...get(V('hi', q)), ...i32x4gtS, ...set(g), ...get(V('above', q)), ...get(g), ...i32x4sub, ...set(V('above', q)));
    // Outside the window: above hi or below lo; the lanes in it are the bitmask's zeros.
    step.push(...get(g), ...get(V('lo', q)), ...get(m), ...i32x4gtS, ...v128or, ...set(o));
    // The compaction of this mask, applied to the indices and the magnitudes, then interleaved into pairs.
    // winb: only where a lane is in the window, for a window of ~1–2 % of the elements (a tensor's
    // sample of 2¹⁶), where the branch costs less than the listing it skips; winp lists every vector.
    listing.push(...get(o), ...i32x4bitmask, ...i32const(15), 0x73, ...(branch ? [...tee(bm), ...IF] : set(bm)));
    listing.push(...get(bm), ...i32const(4), 0x74, ...get(table), add, ...v128load, ...set(fn.v('sh')));
    listing.push(...get(count), ...i32const(3), 0x74, ...get(list(q)), add, ...tee(a));
    listing.push(...get(fn.v('idx')), ...get(fn.v('sh')), ...swizzle, ...set(fn.v('ci')));
    listing.push(...get(m), ...get(fn.v('sh')), ...swizzle, ...set(fn.v('cm')));
    listing.push(
      ...get(fn.v('ci')),
      ...get(fn.v('cm')),
      ...shuffle([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]),
      ...v128store,
    );
    listing.push(
      ...get(a),
      ...get(fn.v('ci')),
      ...get(fn.v('cm')),
      ...shuffle([8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31]),
    );
    listing.push(...v128storeAt(16), ...get(count), ...get(bm), 0x69, add, ...set(count));
    if (branch) listing.push(END);
  }
  step.push(...listing);
  step.push(...nextIdx(fn));
  const results = [
    ...Array.from({ length: Q }, (_, q) => get(fn.s(`c${q}`))).flat(),
    ...Array.from({ length: Q }, (_, q) => lanesSum(V('above', q))).flat(),
  ];
  return [fn, [...setup, ...loop16(fn.s('i'), n, step), ...results]];
}

const lanesSum = (v: number) => [...get(v), ...i32x4lane(0), ...[1, 2, 3].flatMap((l) => [...get(v), ...i32x4lane(l), add])];

/** prune(o, x, cb, ci, idx0, nBytes): o = +0 where mag(x) < cb || (mag(x) == cb && i < ci), else x (prune.ts's pruneRange). */
function prune(): [Func, number[]] {
  const fn = new Func([I32, I32, I32, I32, I32, I32], [], { i: I32 });
  const [x, mg, cb, ci, idx] = [fn.v('x'), fn.v('mg'), fn.v('cb'), fn.v('ci'), fn.v('idx')];
  const setup = [...v128const(MAG), ...set(fn.v('mag')), ...get(2), ...i32x4splat, ...set(cb), ...get(3), ...i32x4splat, ...set(ci)];
  setup.push(
    ...get(4),
    ...i32x4splat,
    ...v128const([0, 1, 2, 3]),
    ...i32x4add,
    ...set(idx),
    ...v128const([4, 4, 4, 4]),
    ...set(fn.v('four')),
  );
  const step = [...at(fn, 0), ...load(fn, 1), ...tee(x), ...get(fn.v('mag')), ...v128and, ...set(mg), ...get(x)];
  step.push(
    ...get(mg),
    ...get(cb),
    ...i32x4ltU,
    ...get(mg),
    ...get(cb),
    ...i32x4eq,
    ...get(idx),
    ...get(ci),
    ...i32x4ltS,
    ...v128and,
    ...v128or,
  );
  step.push(...v128andnot, ...v128store);
  return [fn, [...setup, ...loop16(fn.s('i'), 5, [...step, ...nextIdx(fn)])]];
}

const nextIdx = (fn: Func) => [...get(fn.v('idx')), ...get(fn.v('four')), ...i32x4add, ...set(fn.v('idx'))];

/**
 * l1rQ(x₁…x_Q, b, sk₁…sk_Q, drop, idx0, nBytes, before₁, after₁, …) → (before₁, after₁, …), Q = 1, 2:
 * the sums continued over the range, Q parents interleaved (independent chains, so their latencies overlap).
 */
function l1Random(Q: number): [Func, number[]] {
  const fn = new Func(
    [...Array(Q).fill(I32), I32, ...Array(Q).fill(I32), F32, I32, I32, ...Array(2 * Q).fill(F64)],
    Array(2 * Q).fill(F64),
    {
      i: I32,
    },
  );
  const b = Q;
  const sk = (q: number) => Q + 1 + q;
  const [drop, idx0, n] = [2 * Q + 1, 2 * Q + 2, 2 * Q + 3];
  const sums = (q: number) => [2 * Q + 4 + 2 * q, 2 * Q + 5 + 2 * q];
  const setup = [...drawSetup(fn, idx0), ...get(drop), ...f32x4splat, ...set(fn.v('drop'))];
  const step: number[] = [];
  const sum = (acc: number, v: number, l: number) => [...get(acc), ...get(v), ...f32x4lane(l), 0xbb, 0xa0, ...set(acc)];
  for (let q = 0; q < Q; q++) {
    const [a, k] = [fn.v(`a${q}`), fn.v(`k${q}`)];
    setup.push(...get(sk(q)), ...i32x4splat, ...set(fn.v(`sk${q}`)));
    step.push(...load(fn, q), ...load(fn, b), ...f32x4sub, ...f32x4abs, ...set(a));
    step.push(...get(a), ...unit(fn, fn.v(`sk${q}`)), ...get(fn.v('drop')), ...f32x4lt, ...v128andnot, ...set(k));
  }
  for (let l = 0; l < 4; l++)
    for (let q = 0; q < Q; q++) step.push(...sum(sums(q)[0], fn.v(`a${q}`), l), ...sum(sums(q)[1], fn.v(`k${q}`), l));
  step.push(...nextIdx(fn));
  const results = Array.from({ length: Q }, (_, q) => [...get(sums(q)[0]), ...get(sums(q)[1])]).flat();
  return [fn, [...setup, ...loop16(fn.s('i'), n, step), ...results]];
}

const f64x2splat = SIMD(0x14);
const f64x2replace = (l: number) => [...SIMD(0x22), l];
const f64x2lane = (l: number) => [...SIMD(0x21), l];
const f64x2add = SIMD(0xf0);
const f64x2promoteLow = SIMD(0x5f);
/** i8x16.shuffle of (v, v): lanes 2, 3 of an f32x4 to lanes 0, 1. */
const highHalf = [...SIMD(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
/** Exponent thresholds per sum in l1c: the caller's field and the next two. */
export const L1_THRESHOLDS = 1;

/**
 * l1c / l1cf(x, b, sk, ⌈drop·2²⁴⌉, idx0, nBytes, fb, fa, before₀…₃, after₀…₃, nb₀…₂, na₀…₂) → (before₀…₃, after₀…₃, nb₀…₂, na₀…₂):
 * DARE's L1 sums of one parent by lanes, for a pre-pass split by range (fast/task-arithmetic.ts
 * certifies the result against the reference's ordered sum, l1Certified): lane l sums the
 * float64 |x − b| (and the kept ones, unitAt(sk, idx0 + i) ≥ drop) of the elements ≡ l mod 4,
 * continued from the given values (in any order it is a sum of the same terms), and nb_t / na_t
 * count the non-zero terms whose magnitude bits lie below (fb + t) << 23 (fa + t for the kept ones).
 * l1cf is l1c with a folded key (foldKey(sk, idx0): the call's indices share idx >>> 16, and each draw skips mix32's first xor-shift).
 */
function l1Lanes(folded = false): [Func, number[]] {
  const fn = new Func(
    [I32, I32, I32, I32, I32, I32, I32, I32, ...Array(8).fill(F64), ...Array(2 * L1_THRESHOLDS).fill(I32)],
    [...Array(8).fill(F64), ...Array(2 * L1_THRESHOLDS).fill(I32)],
    { i: I32 },
  );
  const [sk, drop, idx0, n, fb, fa] = [2, 3, 4, 5, 6, 7];
  const sumAt = (k: number) => 8 + k;
  const cntAt = (k: number) => 16 + k;
  const acc = (nm: string, h: number) => fn.v(`${nm}${h}`);
  const setup = [...drawSetup(fn, idx0), ...get(drop), ...i32x4splat, ...set(fn.v('drop'))];
  setup.push(...get(sk), ...i32x4splat, ...set(fn.v('sk')), ...v128const(Array(4).fill(0x7fffffff)), ...set(fn.v('bias')));
  ['b', 'a'].forEach((nm, s) => {
    for (let h = 0; h < 2; h++)
      setup.push(...get(sumAt(4 * s + 2 * h)), ...f64x2splat, ...get(sumAt(4 * s + 2 * h + 1)), ...f64x2replace(1), ...set(acc(nm, h)));
    for (let t = 0; t < L1_THRESHOLDS; t++) {
      // (bits − 1) <u ((field << 23) − 1): non-zero and below the threshold.
      // Biased by 2³¹ (x <u y iff x ^ 2³¹ <s y ^ 2³¹): x86 has the signed compare, the unsigned one is a sequence.
      setup.push(
        ...get(s ? fa : fb),
        ...i32const(t),
        add,
        ...i32const(23),
        0x74,
        ...i32const(1),
        0x6b,
        ...i32const(0x80000000),
        0x73,
        ...i32x4splat,
      );
      setup.push(...set(fn.v(`T${nm}${t}`)), ...v128const([0, 0, 0, 0]), ...set(fn.v(`c${nm}${t}`)));
    }
  });
  const step = [...load(fn, 0), ...load(fn, 1), ...f32x4sub, ...f32x4abs, ...set(fn.v('b'))];
  // Dropped iff the 24-bit draw k < ⌈drop·2²⁴⌉ (unitAt < drop, belowThreshold).
  step.push(...get(fn.v('b')), ...draw(fn, fn.v('sk'), folded), ...get(fn.v('drop')), ...i32x4ltS, ...v128andnot, ...set(fn.v('a')));
  for (const nm of ['b', 'a']) {
    const v = fn.v(nm);
    step.push(...get(acc(nm, 0)), ...get(v), ...f64x2promoteLow, ...f64x2add, ...set(acc(nm, 0)));
    step.push(...get(acc(nm, 1)), ...get(v), ...get(v), ...highHalf, ...f64x2promoteLow, ...f64x2add, ...set(acc(nm, 1)));
    // (bits − 1) ^ 2³¹ = bits + 2³¹ − 1 (mod 2³²).
    step.push(...get(v), ...get(fn.v('bias')), ...i32x4add, ...set(fn.v('m1b')));
    for (let t = 0; t < L1_THRESHOLDS; t++) {
      const c = fn.v(`c${nm}${t}`);
      step.push(...get(c), ...get(fn.v('m1b')), ...get(fn.v(`T${nm}${t}`)), ...i32x4ltS, ...i32x4sub, ...set(c));
    }
  }
  step.push(...nextIdx(fn));
  const results: number[] = [];
  for (const nm of ['b', 'a']) for (let h = 0; h < 2; h++) for (let l = 0; l < 2; l++) results.push(...get(acc(nm, h)), ...f64x2lane(l));
  ['b', 'a'].forEach((nm, s) => {
    for (let t = 0; t < L1_THRESHOLDS; t++) results.push(...get(cntAt(s * L1_THRESHOLDS + t)), ...lanesSum(fn.v(`c${nm}${t}`)), add);
  });
  return [fn, [...setup, ...loop16(fn.s('i'), n, step), ...results]];
}

/**
 * What one element-wise loop specialises on, so that it runs only the float operations the
 * reference runs for these parameters (a multiply by 1 and a division by 1 are exact, NaN
 * payloads aside, and the reference itself skips ×1 for the rescale and ÷1 for the divisor):
 *   simple: every cutoff's index lies outside the call's range, so a cutoff is one signed
 *           threshold t per cutoff (trim: kept iff mag > t; outliers: survives cutoff c iff mag > t),
 *           carried in the bits parameter (the index parameter is ignored), and no index test runs;
 *   rescale / weight / lambda / divide: some parent's rescale (or weight) is not 1, λ ≠ 1, the divisor ≠ 1;
 *   normalize: TIES divides by the agreeing weights;
 *   fold: the random drop's indices of the call share idx >>> 16, and each stream key parameter is
 *         foldKey(key, idx0), so each draw skips mix32's first xor-shift (simd-elementwise.ts draw).
 */
export interface ApplyFlags {
  simple: boolean;
  rescale: boolean;
  weight: boolean;
  lambda: boolean;
  divide: boolean;
  normalize: boolean;
  fold: boolean;
}
const FLAG_KEYS = ['simple', 'rescale', 'weight', 'lambda', 'divide', 'normalize', 'fold'] as const;
const GENERAL: ApplyFlags = { simple: false, rescale: true, weight: true, lambda: true, divide: true, normalize: true, fold: false };

/** The element-wise pass of P parents; see the file comment for the parameters. */
function apply(
  sparsify: ApplySpec['sparsify'],
  consensus: ApplySpec['consensus'],
  P: number,
  flags: ApplyFlags = GENERAL,
): [Func, number[]] {
  const trim = sparsify === 'trim';
  const outliers = sparsify === 'outliers';
  const simple = flags.simple && (trim || outliers);
  // Mask parameters per parent: trim (cb, ci), outliers (lb, li, hb, hi), random (sk) and one drop.
  const K = trim ? 2 : outliers ? 4 : 1;
  // The random drop's one threshold: ⌈drop·2²⁴⌉ (belowThreshold), so a 24-bit draw k is dropped iff k < it.
  const maskParams = [...Array(K * P).fill(I32), ...(K === 1 ? [I32] : [])];
  const params = [I32, I32, ...Array(P).fill(I32), ...Array(2 * P).fill(F32), ...maskParams, F32, F32, I32, I32, I32];
  const fn = new Func(params, Array(P + 1).fill(I32), { i: I32 });
  const x = (p: number) => 2 + p;
  const w = (p: number) => 2 + P + p;
  const r = (p: number) => 2 + 2 * P + p;
  const mk = (j: number, p: number) => 2 + (3 + j) * P + p;
  const next = 2 + (3 + K) * P + (K === 1 ? 1 : 0);
  const [lambda, div, norm, idx0, n] = [next, next + 1, next + 2, next + 3, next + 4];
  const V = (nm: string, p?: number) => fn.v(p === undefined ? nm : `${nm}${p}`);
  const splat = (param: number, local: number, op = f32x4splat) => [...get(param), ...op, ...set(local)];
  const setup = [...drawSetup(fn, idx0), ...v128const(MAG), ...set(V('mag')), ...v128const([0, 0, 0, 0]), ...set(V('zero'))];
  setup.push(...splat(lambda, V('lambda')), ...splat(div, V('div')), ...splat(norm, V('norm'), i32x4splat));
  for (let p = 0; p < P; p++) {
    setup.push(...splat(w(p), V('w', p)), ...splat(r(p), V('r', p)));
    const names = trim ? ['cb', 'ci'] : outliers ? ['lb', 'li', 'hb', 'hi'] : ['sk'];
    names.forEach((nm, j) => setup.push(...splat(mk(j, p), V(nm, p), i32x4splat)));
  }
  if (K === 1) setup.push(...splat(mk(1, 0), V('drop'), i32x4splat));
  const [bv, d, k, mg, zero] = [V('bv'), V('d'), V('k'), V('mg'), V('zero')];
  const step = [...load(fn, 1), ...set(bv)];
  for (let p = 0; p < P; p++) {
    step.push(...load(fn, x(p)), ...get(bv), ...f32x4sub, ...set(d));
    if (trim && simple) step.push(...get(d), ...get(V('mag')), ...v128and, ...get(V('cb', p)), ...i32x4gtS);
    else if (trim) {
      // Kept iff mag > cb || (mag == cb && i < ci), unsigned on the magnitude bits.
      step.push(...get(d), ...get(V('mag')), ...v128and, ...set(mg), ...get(mg), ...get(V('cb', p)), ...i32x4gtU);
      step.push(...get(mg), ...get(V('cb', p)), ...i32x4eq, ...get(V('idx')), ...get(V('ci', p)), ...i32x4ltS, ...v128and, ...v128or);
    } else if (outliers && simple) {
      // Survives lo (mag > t_lo) and not hi (mag > t_hi).
      step.push(...get(d), ...get(V('mag')), ...v128and, ...tee(mg), ...get(V('lb', p)), ...i32x4gtS);
      step.push(...get(mg), ...get(V('hb', p)), ...i32x4gtS, ...v128andnot);
    } else if (outliers) {
      // Kept iff pruned by hi (mag < hb || (mag == hb && i < hi)) and not by lo (the same with lb, li).
      const below = (b: string, i: string) => [
        ...get(mg),
        ...get(V(b, p)),
        ...i32x4ltU,
        ...get(mg),
        ...get(V(b, p)),
        ...i32x4eq,
        ...get(V('idx')),
        ...get(V(i, p)),
        ...i32x4ltS,
        ...v128and,
        ...v128or,
      ];
      step.push(...get(d), ...get(V('mag')), ...v128and, ...set(mg), ...below('hb', 'hi'), ...below('lb', 'li'), ...v128andnot);
    } else step.push(...get(V('drop')), ...draw(fn, V('sk', p), flags.fold), ...i32x4gtS, ...v128not);
    step.push(...set(k), ...get(V('kept', p)), ...get(k), ...i32x4sub, ...set(V('kept', p)));
    // wₚ·((dₚ kept) · rₚ), each multiply only where a factor is not 1.
    const kept = [...get(d), ...get(k), ...v128and];
    const rescaled = flags.rescale ? [...kept, ...get(V('r', p)), ...f32x4mul] : kept;
    step.push(...(flags.weight ? [...get(V('w', p)), ...rescaled, ...f32x4mul] : rescaled), ...set(V('d', p)));
  }
  // The sum of the deltas from +0 in parent order: the consensus-none mean's numerator, TIES's elected mass.
  const total = [...get(zero)];
  for (let p = 0; p < P; p++) total.push(...get(V('d', p)), ...f32x4add);
  const store = (value: number[]) => [
    ...at(fn, 0),
    ...get(bv),
    ...(flags.lambda ? [...get(V('lambda')), ...value, ...f32x4mul] : value),
    ...f32x4add,
    ...v128store,
  ];
  if (consensus === 'none') step.push(...store(flags.divide ? [...total, ...get(V('div')), ...f32x4div] : total));
  else {
    // Each delta's sign masks, once: for the conflict count and for the election.
    for (let p = 0; p < P; p++) {
      const dp = V('d', p);
      step.push(...get(dp), ...get(zero), ...f32x4gt, ...set(V('gt', p)), ...get(dp), ...get(zero), ...f32x4lt, ...set(V('lt', p)));
    }
    const any = (nm: string) => Array.from({ length: P }, (_, p) => [...get(V(nm, p)), ...(p ? v128or : [])]).flat();
    step.push(...get(V('conf')), ...any('gt'), ...any('lt'), ...v128and, ...i32x4sub, ...set(V('conf')));
    // The elected sign needs only total ≥ 0, the same for ±0: the sum starts from d₁, not +0 + d₁.
    const mass = [...get(V('d', 0)), ...total.slice(get(zero).length + get(V('d', 0)).length + f32x4add.length)];
    step.push(...mass, ...get(zero), ...f32x4ge, ...set(V('up')), ...get(zero), ...set(V('den')));
    // Unit weights: den is the count of agreeing parents (each f32 add of 1 exact), kept as an i32 count.
    const unitDen = flags.normalize && !flags.weight;
    for (let p = 0; p < P; p++) {
      step.push(...get(V('gt', p)), ...get(V('lt', p)), ...get(V('up')), ...bitselect, ...set(V('ag')));
      // m from +0: d₁ & ag₁ is +0 or a non-zero delta, so +0 + it is itself.
      step.push(...(p ? get(V('m')) : []), ...get(V('d', p)), ...get(V('ag')), ...v128and, ...(p ? f32x4add : []), ...set(V('m')));
      if (unitDen) step.push(...get(V('den')), ...get(V('ag')), ...i32x4sub, ...set(V('den')));
      else if (flags.normalize) step.push(...get(V('den')), ...get(V('w', p)), ...get(V('ag')), ...v128and, ...f32x4add, ...set(V('den')));
    }
    const [m, den] = [V('m'), V('den')];
    // Normalised (m / den where den ≠ 0, else m) only when the parameters ask for it. With unit
    // weights m / max(den, 1): where den = 0 no delta agrees, so m = +0 and +0 / 1 is m itself.
    const merged = unitDen
      ? [...get(m), ...get(den), ...v128const([1, 1, 1, 1]), ...i32x4maxS, ...f32x4convertS, ...f32x4div]
      : flags.normalize
        ? [
            ...get(m),
            ...get(den),
            ...f32x4div,
            ...get(m),
            ...get(den),
            ...get(zero),
            ...f32x4ne,
            ...get(V('norm')),
            ...v128and,
            ...bitselect,
          ]
        : get(m);
    step.push(...store(merged));
  }
  if (!simple) step.push(...nextIdx(fn));
  const results = [...Array.from({ length: P }, (_, p) => lanesSum(V('kept', p))).flat(), ...lanesSum(V('conf'))];
  return [fn, [...setup, ...loop16(fn.s('i'), n, step), ...results]];
}

const MAX_PARENTS = 4;
const applyName = (s: string, c: string, P: number, flags: ApplyFlags) =>
  `${s}_${c}_${P}_${FLAG_KEYS.map((k) => (flags[k] ? 1 : 0)).join('')}`;

/** The module of the selection passes (the element-wise loops are modules of their own, applyWasm), built on first use. */
export function selectWasm(): Uint8Array<ArrayBuffer> {
  const funcs: [string, Func, number[]][] = [
    ['hist', ...hist(true)],
    ['hist1', ...hist(false)],
    ['low', ...low(true)],
    ['low1', ...low(false)],
    ['l1r1', ...l1Random(1)],
    ['l1r2', ...l1Random(2)],
    ['l1c', ...l1Lanes()],
    ['l1cf', ...l1Lanes(true)],
    ['prune', ...prune()],
  ];
  for (let Q = 1; Q <= WINDOW_GROUP; Q++) funcs.push([`winp${Q}`, ...winParents(Q, false)], [`winb${Q}`, ...winParents(Q, true)]);
  // The window pass of one selection on mag(x) itself (magnitude pruning's, no base).
  funcs.push(['win1p1', ...winParents(1, false, false)], ['win1b1', ...winParents(1, true, false)]);
  return sharedModule(funcs);
}

/** A module of one element-wise loop (exported as "apply"), specialised on `flags`. */
export function applyWasm(
  sparsify: ApplySpec['sparsify'],
  consensus: ApplySpec['consensus'],
  P: number,
  flags: ApplyFlags,
): Uint8Array<ArrayBuffer> {
  return sharedModule([['apply', ...apply(sparsify, consensus, P, flags)]]);
}

type Loop = (...args: number[]) => unknown;

const BLOCK_ELEMENTS = 16384;
/** Candidates a selection's list holds in the scratch block per range (pairs of u32). */
const SCRATCH_CANDIDATES = 1 << 16;
const GROUP = 4;
/** Selections per window call: breadcrumbs' two per parent of three parents in one read of each block. */
const WINDOW_GROUP = 6;
const HIGH_BYTES = 4 * HIGH_SIZE;
const LOW_BYTES = 4 * LOW_SIZE + 8 * SCRATCH_CANDIDATES;
/** One block's window list per selection (pairs of u32, and 4 pairs of slack for the loop's last vector stores). */
const WINDOW_LIST_BYTES = 8 * BLOCK_ELEMENTS + 64;
/** A block listing at most 1/WINDOW_SPARSE of its elements per selection takes the branching window loop next (measured: it gains at ~1.4 %, loses at ~4 %). */
const WINDOW_SPARSE = 40;
/** The compaction table of the window loops (compactTable), after every other use of the scratch (each window call writes it). */
const TABLE_AT = Math.max(GROUP * HIGH_BYTES, GROUP * LOW_BYTES, WINDOW_GROUP * WINDOW_LIST_BYTES);
const TABLE = compactTable();
/** Bytes of arena scratch each thread needs for these loops (histograms of 4 parents, or 4 selections' histograms and lists). */
export const SELECT_SCRATCH_BYTES = Math.max(GROUP * HIGH_BYTES, GROUP * LOW_BYTES, TABLE_AT + 256);
/** Elements per block of the histogram passes: a group's blocks stay in L1/L2 while each parent is counted. */
const BLOCK = BLOCK_ELEMENTS;

let wasm: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, Record<string, Loop> | null>();
/** The element-wise loops' modules by name (at most 3 · 2 · 4 · 2⁶ of them, made as parameters first need each), and their instances per memory. */
const applyModules = new Map<string, WebAssembly.Module>();
const applyInstances = new WeakMap<WebAssembly.Memory, Map<string, Loop>>();

function applyLoopOn(memory: WebAssembly.Memory, s: ApplySpec['sparsify'], c: ApplySpec['consensus'], P: number, flags: ApplyFlags): Loop {
  const name = applyName(s, c, P, flags);
  let byName = applyInstances.get(memory);
  if (!byName) applyInstances.set(memory, (byName = new Map()));
  let loop = byName.get(name);
  if (!loop) {
    let m = applyModules.get(name);
    if (!m) applyModules.set(name, (m = new WebAssembly.Module(applyWasm(s, c, P, flags))));
    loop = (new WebAssembly.Instance(m, { env: { mem: memory } }).exports as Record<string, Loop>).apply;
    byName.set(name, loop);
  }
  return loop;
}

function loopsOf(memory: WebAssembly.Memory): Record<string, Loop> | null {
  if (instances.has(memory)) return instances.get(memory)!;
  let e: Record<string, Loop> | null = null;
  try {
    e = new WebAssembly.Instance((wasm ??= new WebAssembly.Module(selectWasm())), { env: { mem: memory } }).exports as Record<string, Loop>;
  } catch {
    e = null;
  }
  instances.set(memory, e);
  return e;
}

const ptr = (a: Float32Array, i: number) => a.byteOffset + 4 * i;
/** Elements per call of the one-pass loops: many calls, so the engine's optimizing tier takes over after the first few (it swaps code between calls). */
const CALL = 1 << 16;
const blocksOf = (start: number, end: number, fn: (s: number, len: number) => void) => {
  for (let s = start; s < end; s += CALL) fn(s, Math.min(CALL, end - s));
};
const clampIndex = (i: number) => Math.max(0, Math.min(0x7fffffff, i));
const NEVER = 0x7fffffff;
/** Indices per run that share idx >>> 16 (a folded draw's run). */
const RUN = 1 << 16;

/**
 * Each cutoff (bits cb[c], index ci[c]) as one signed threshold t over [s, e), where no index lies
 * inside it, or null. Top-k (trim): kept iff mag > cb || (mag == cb && i < ci), so kept iff mag > t;
 * bottom-m (the outlier trim's): pruned iff mag < cb || (mag == cb && i < ci), so it survives iff
 * mag > t. Magnitudes are 31 bits, so a signed compare against t ∈ [−1, 2³¹ − 1] covers every case.
 */
export function simpleThresholds(top: boolean, cb: readonly number[], ci: readonly number[], s: number, e: number): number[] | null {
  const t: number[] = [];
  for (let c = 0; c < cb.length; c++) {
    const b = cb[c] >>> 0;
    // Every index of the range is ≥ ci (the equal magnitudes are not taken), or every one is < ci (they are).
    const below = ci[c] <= s;
    if (!below && ci[c] < e) return null;
    if (top) t.push(below ? (b > NEVER ? NEVER : b) : b === 0 ? -1 : b > NEVER ? NEVER : b - 1);
    else t.push(below ? (b > NEVER ? NEVER : b - 1) : b >= NEVER ? NEVER : b);
  }
  return t;
}

/**
 * The loops on `memory` (a pool's arena, where every array of the job lives) with this thread's
 * scratch block at byte `scratch` (SELECT_SCRATCH_BYTES long), or null where they cannot be made.
 */
export function passLoopsOn(memory: WebAssembly.Memory, scratch: number): PassLoops | null {
  const e = loopsOf(memory);
  if (!e) return null;
  const u32 = (byte: number, n: number) => new Uint32Array(memory.buffer, byte, n);
  const table = scratch + TABLE_AT;
  return {
    histHigh(hs, base, xs, start, end) {
      const stop = vectorEnd(start, end);
      for (let g = 0; g < xs.length; g += GROUP) {
        const group = xs.slice(g, g + GROUP);
        u32(scratch, (group.length * HIGH_BYTES) / 4).fill(0);
        for (let s = start; s < stop; s += BLOCK) {
          const bytes = 4 * (Math.min(stop, s + BLOCK) - s);
          group.forEach((x, q) => {
            const h = scratch + q * HIGH_BYTES;
            if (base) e.hist(h, ptr(x, s), ptr(base, s), bytes);
            else e.hist1(h, ptr(x, s), bytes);
          });
        }
        group.forEach((_, q) => {
          const from = u32(scratch + q * HIGH_BYTES, HIGH_SIZE);
          const to = hs[g + q];
          for (let d = 0; d < HIGH_SIZE; d++) to[d] += from[d];
        });
      }
      return true;
    },
    lowCandidates(prefix, base, xs, start, end, cap) {
      const stop = vectorEnd(start, end);
      const lim = Math.min(cap, SCRATCH_CANDIDATES);
      const parts = [];
      for (let g = 0; g < xs.length; g += GROUP) {
        const group = xs.slice(g, g + GROUP);
        u32(scratch, (group.length * LOW_BYTES) / 4).fill(0);
        const counts = group.map(() => 0);
        for (let s = start; s < stop; s += BLOCK) {
          const bytes = 4 * (Math.min(stop, s + BLOCK) - s);
          group.forEach((x, q) => {
            const h = scratch + q * LOW_BYTES;
            const list = h + 4 * LOW_SIZE;
            counts[q] = (
              base
                ? e.low(h, list, lim, counts[q], prefix[g + q], s, ptr(x, s), ptr(base, s), bytes)
                : e.low1(h, list, lim, counts[q], prefix[g + q], s, ptr(x, s), bytes)
            ) as number;
          });
        }
        for (const [q, count] of counts.entries()) {
          // A list the scratch could not hold but the caller's could: the JavaScript pass lists it instead.
          if (count > lim && lim < cap) return null;
          const h = scratch + q * LOW_BYTES;
          const list = new Uint32Array(2 * cap);
          list.set(u32(h + 4 * LOW_SIZE, 2 * Math.min(count, lim)));
          parts.push({ h: u32(h, LOW_SIZE).slice(), at: list, count });
        }
      }
      return parts;
    },
    window(lo, hi, base, xs, start, end) {
      // Without a base (mag(x) itself) the loops take one selection.
      if (!base && xs.length > 1) return null;
      const stop = vectorEnd(start, end);
      const parts = xs.map(() => ({ count: 0, above: 0, below: 0, chunks: [] as Uint32Array[] }));
      new Uint8Array(memory.buffer, table, TABLE.length).set(TABLE);
      for (let g = 0; g < xs.length; g += WINDOW_GROUP) {
        const Q = Math.min(WINDOW_GROUP, xs.length - g);
        const qs = Array.from({ length: Q }, (_, q) => g + q);
        // Each selection's list of one block (at most BLOCK pairs and the loop's slack) in the scratch, copied out after the call.
        const lists = qs.map((_, q) => scratch + q * WINDOW_LIST_BYTES);
        const bounds = [...qs.map((i) => Math.min(lo[i] >>> 0, NEVER)), ...qs.map((i) => Math.min(hi[i] >>> 0, NEVER))];
        // The branching loop while the last block listed few of its elements (a large tensor's window), else the branch-free one.
        let sparse = true;
        for (let s = start; s < stop; s += BLOCK) {
          const len = Math.min(stop, s + BLOCK) - s;
          const loop = e[`win${base ? '' : '1'}${sparse ? 'b' : 'p'}${Q}`];
          const b = base ? [ptr(base, s)] : [];
          const r = loop(...lists, ...bounds, table, s, ...b, ...qs.map((i) => ptr(xs[i], s)), 4 * len) as number[];
          sparse = true;
          qs.forEach((i, q) => {
            const part = parts[i];
            const count = r[q];
            if (count * WINDOW_SPARSE > len) sparse = false;
            part.above += r[Q + q];
            // Every element is above the window, in it, or below it.
            part.below += len - r[Q + q] - count;
            if (count > 0) {
              part.chunks.push(u32(lists[q], 2 * count).slice());
              part.count += count;
            }
          });
        }
      }
      return parts.map(({ count, above, below, chunks }) => {
        const at = new Uint32Array(2 * count);
        let o = 0;
        for (const c of chunks) {
          at.set(c, o);
          o += c.length;
        }
        return { count, above, below, at };
      });
    },
    l1Random(base, xs, sks, drop, offset, start, end) {
      const sums: [number, number][] = [];
      for (let g = 0; g < xs.length; g += 2) {
        const Q = Math.min(2, xs.length - g);
        let r = Array<number>(2 * Q).fill(0);
        blocksOf(start, vectorEnd(start, end), (s, len) => {
          const args = [...xs.slice(g, g + Q).map((x) => ptr(x, s)), ptr(base, s), ...sks.slice(g, g + Q).map((k) => k | 0)];
          r = e[`l1r${Q}`](...args, drop, (offset + s) | 0, 4 * len, ...r) as number[];
        });
        for (let q = 0; q < Q; q++) sums.push([r[2 * q], r[2 * q + 1]]);
      }
      return sums;
    },
    l1Lanes(base, x, sk, drop, offset, fb, fa, start, end) {
      let r: number[] = [...Array<number>(8).fill(0), ...Array<number>(2 * L1_THRESHOLDS).fill(0)];
      const T = belowThreshold(drop);
      blocksOf(start, vectorEnd(start, end), (s, len) => {
        // Calls within one run of 2¹⁶ indices fold the key (l1cf); the vector straddling a run's end takes l1c.
        for (let at = s; at < s + len;) {
          const idx0 = (offset + at) | 0;
          const toRun = RUN - (idx0 & (RUN - 1));
          const piece = toRun < 4 ? 4 : Math.min(s + len - at, toRun & ~3);
          const args = [ptr(x, at), ptr(base, at), piece <= toRun ? foldKey(sk, idx0) : sk | 0, T, idx0, 4 * piece, fb | 0, fa | 0, ...r];
          r = (piece <= toRun ? e.l1cf : e.l1c)(...args) as number[];
          at += piece;
        }
      });
      // The lanes combined: three more additions per sum (l1Certified counts them).
      return {
        before: r[0] + r[1] + (r[2] + r[3]),
        after: r[4] + r[5] + (r[6] + r[7]),
        nb: r.slice(8, 8 + L1_THRESHOLDS),
        na: r.slice(8 + L1_THRESHOLDS),
      };
    },
    prune(x, out, bits, index, start, end) {
      blocksOf(start, vectorEnd(start, end), (s, len) => e.prune(ptr(out, s), ptr(x, s), bits | 0, clampIndex(index), s, 4 * len));
      return true;
    },
    apply(spec, base, xs, out, start, end) {
      const P = xs.length;
      if (P < 1 || P > MAX_PARENTS) return null;
      const { sparsify, consensus } = spec;
      const ties = consensus === 'ties';
      const flags: ApplyFlags = {
        simple: false,
        rescale: spec.rescale.some((r) => r !== 1),
        weight: spec.w.some((w) => w !== 1),
        lambda: spec.lambda !== 1,
        divide: !ties && spec.divisor !== 1,
        normalize: ties && spec.normalize,
        fold: false,
      };
      // Per parent: trim (bits, index); outliers (lo bits, lo index, hi bits, hi index: cutoffs 2p and 2p + 1); random (stream key), then drop.
      const P2 = Array.from({ length: P }, (_, p) => p);
      const C = sparsify === 'trim' ? P : sparsify === 'outliers' ? 2 * P : 0;
      const cb = Array.from({ length: C }, (_, c) => spec.bits[c] >>> 0);
      const ci = Array.from({ length: C }, (_, c) => clampIndex(spec.index[c]));
      // Parameter order: trim cb₀…, ci₀…; outliers lb₀…, li₀…, hb₀…, hi₀… (lo: cutoff 2p, hi: 2p + 1).
      const order = (v: readonly number[]) =>
        sparsify === 'trim'
          ? [...v, ...ci]
          : [...P2.map((p) => v[2 * p]), ...P2.map((p) => ci[2 * p]), ...P2.map((p) => v[2 * p + 1]), ...P2.map((p) => ci[2 * p + 1])];
      const random = sparsify === 'random';
      const threshold = belowThreshold(spec.drop);
      const full = random ? [...spec.sk.map((k) => k | 0), threshold] : order(cb.map((x) => x | 0));
      const general = applyLoopOn(memory, sparsify, consensus, P, flags);
      const simpleLoop = C > 0 ? applyLoopOn(memory, sparsify, consensus, P, { ...flags, simple: true }) : null;
      const foldLoop = random ? applyLoopOn(memory, sparsify, consensus, P, { ...flags, fold: true }) : null;
      const kept = new Array<number>(P).fill(0);
      let conflicts = 0;
      const call = (s: number, len: number) => {
        const idx0 = random ? (spec.offset + s) | 0 : s;
        // Where no cutoff's index falls inside [s, s + len), each cutoff is one threshold there and the loop tests no index.
        const t = simpleLoop ? simpleThresholds(sparsify === 'trim', cb, ci, s, s + len) : null;
        // A random drop's call within one run of 2¹⁶ indices folds its keys.
        const folded = foldLoop !== null && len <= RUN - (idx0 & (RUN - 1));
        const mask = t ? order(t) : folded ? [...spec.sk.map((k) => foldKey(k, idx0)), threshold] : full;
        const args = [ptr(out, s), ptr(base, s), ...xs.map((x) => ptr(x, s)), ...spec.w, ...spec.rescale, ...mask];
        args.push(spec.lambda, spec.divisor, spec.normalize ? -1 : 0, idx0, 4 * len);
        const r = (t ? simpleLoop! : folded ? foldLoop : general)(...args) as number[];
        for (let p = 0; p < P; p++) kept[p] += r[p];
        conflicts += r[P];
      };
      blocksOf(start, vectorEnd(start, end), (s, len) => {
        if (!random) return call(s, len);
        // Calls that end where a run of 2¹⁶ indices does (the vector that straddles a run's end unfolded).
        for (let at = s; at < s + len;) {
          const toRun = RUN - (((spec.offset + at) | 0) & (RUN - 1));
          const piece = toRun < 4 ? 4 : Math.min(s + len - at, toRun & ~3);
          call(at, piece);
          at += piece;
        }
      });
      return { kept, conflicts };
    },
  };
}
