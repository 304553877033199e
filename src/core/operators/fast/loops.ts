/**
 * Faster inner loops that a platform may lend the range kernels for one job: the selection
 * passes (magnitude histograms, the candidate pass), DARE's L1 pre-pass and the
 * task-arithmetic family's element-wise pass. The CPU pool's workers lend WebAssembly SIMD loops
 * on the pool's arena (src/cpu/simd-select.ts) while a job's arrays all live there; the core
 * stays platform-free and runs its JavaScript loops whenever none are lent or a loop declines.
 *
 * Every loop must give exactly what the JavaScript loop it replaces gives (the same float32
 * operations in the same order, the same ordered float64 sums), and each works on the first
 * 4·⌊(end − start)/4⌋ elements of its range only: the caller runs the last few in JavaScript.
 */
/** The element-wise pass of the task-arithmetic family, as the fast kernel's plan derives it. */
export interface ApplySpec {
  consensus: 'none' | 'ties';
  sparsify: 'trim' | 'outliers' | 'random';
  /** fround(wₚ), the rescale multipliers, λ, the (consensus none) divisor, TIES's normalisation. */
  w: Float32Array;
  rescale: Float32Array;
  lambda: number;
  divisor: number;
  normalize: boolean;
  /**
   * trim: parent p keeps array element i iff mag > bits[p] || (mag == bits[p] && i < index[p]) (array coordinates);
   * outliers: iff cutoff 2p + 1 (the hi one) prunes it and cutoff 2p (lo) does not (prune's rule: mag < bits || (mag == bits && i < index)).
   */
  bits: readonly number[];
  index: readonly number[];
  /** random: parent p drops element i iff unitAt(sk[p], offset + i) < drop. */
  sk: readonly number[];
  drop: number;
  offset: number;
}

/** One range's window pass for one selection: counts outside the window and the listed elements in it. */
export interface WindowPart {
  count: number;
  above: number;
  below: number;
  /** count pairs (index, magnitude bits). */
  at: Uint32Array;
  /** The listed magnitudes' histogram (fast/task-arithmetic.ts windowHistogram), where the range kernel has made it. */
  hist?: Uint32Array;
}

export interface PassLoops {
  /**
   * For each parent p: count the high digits of mag(xs[p] − base) (of mag(xs[p]) when base is
   * null) over the vector part of [start, end) into hs[p]. False, having done nothing, when the loops cannot.
   */
  histHigh(hs: readonly Uint32Array[], base: Float32Array | null, xs: readonly Float32Array[], start: number, end: number): boolean;
  /**
   * select.ts's histLowCandidates for selection i (prefix[i] on xs[i] − base) over the vector part of
   * [start, end), from empty lists: each selection's histogram, its list (2·cap long, the first
   * min(count, cap) pairs filled) and count; null when the loops cannot (or a list would overflow them).
   */
  lowCandidates(
    prefix: readonly number[],
    base: Float32Array | null,
    xs: readonly Float32Array[],
    start: number,
    end: number,
    cap: number,
  ): { h: Uint32Array; at: Uint32Array; count: number }[] | null;
  /**
   * The window pass of a sampled selection, for selection i on mag(xs[i] − base) over the vector
   * part of [start, end) (on mag(xs[0]) alone, one selection, when base is null): how many magnitudes lie above hi[i] and below lo[i] (unsigned), and the
   * list of those in [lo[i], hi[i]] as pairs (index, magnitude) in index order; null when the loops cannot.
   */
  window(
    lo: readonly number[],
    hi: readonly number[],
    base: Float32Array | null,
    xs: readonly Float32Array[],
    start: number,
    end: number,
  ): WindowPart[] | null;
  /** For each parent q: ‖xs[q] − base‖₁ before and after DARE's drop (unitAt(sks[q], offset + i) < drop), float64 in element order, over the vector part; null when the loops cannot. */
  l1Random(
    base: Float32Array,
    xs: readonly Float32Array[],
    sks: readonly number[],
    drop: number,
    offset: number,
    start: number,
    end: number,
  ): [number, number][] | null;
  /**
   * DARE's L1 sums of one parent over the vector part of [start, end) by four lanes (any order:
   * the caller certifies them, fast/task-arithmetic.ts l1Certified): [before, after] and, per
   * threshold t (one), the non-zero terms (all, kept) with magnitude bits below (fb + t) << 23 and (fa + t) << 23; null when the loops cannot.
   */
  l1Lanes(
    base: Float32Array,
    x: Float32Array,
    sk: number,
    drop: number,
    offset: number,
    fb: number,
    fa: number,
    start: number,
    end: number,
  ): { before: number; after: number; nb: number[]; na: number[] } | null;
  /** Magnitude pruning's pass over the vector part of [start, end): out = +0 where mag(x) < bits || (mag == bits && i < index), else x. */
  prune(x: Float32Array, out: Float32Array, bits: number, index: number, start: number, end: number): boolean;
  /** The element-wise pass over the vector part of [start, end): the kept counts per parent and TIES's sign conflicts, or null. */
  apply(
    spec: ApplySpec,
    base: Float32Array,
    xs: readonly Float32Array[],
    out: Float32Array,
    start: number,
    end: number,
  ): { kept: number[]; conflicts: number } | null;
}

let lent: PassLoops | null = null;

/** Run `fn` with `loops` lent to the range kernels (null: JavaScript only). */
export function withPassLoops<T>(loops: PassLoops | null, fn: () => T): T {
  const before = lent;
  lent = loops;
  try {
    return fn();
  } finally {
    lent = before;
  }
}

/** The loops lent for the current job, if any. */
export const passLoops = (): PassLoops | null => lent;

/** The end of the part of [start, end) that the loops work on (a multiple of 4 elements from start). */
export const vectorEnd = (start: number, end: number): number => start + ((end - start) & ~3);
