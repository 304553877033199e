/**
 * A few WebAssembly binary-format helpers for the hand-assembled SIMD modules (simd.ts, simd-matvec.ts,
 * simd-elementwise.ts): LEB128, sections, names, value types and the common instructions.
 */
export const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
export const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
export const name = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

export const I32 = 0x7f,
  F32 = 0x7d,
  V128 = 0x7b;
export const get = (i: number) => [0x20, i];
export const set = (i: number) => [0x21, i];
export const SIMD = (op: number) => [0xfd, ...leb(op)];
export const v128load = [...SIMD(0x00), 4, 0];
export const v128store = [...SIMD(0x0b), 4, 0];

/** Signed LEB128 (i32.const immediates). */
export const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
export const i32const = (n: number) => [0x41, ...sleb(n | 0)];
export const tee = (i: number) => [0x22, i];
export const v128const = (lanes: number[]) => [
  ...SIMD(0x0c),
  ...lanes.flatMap((x) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24]),
];
export const i32x4splat = SIMD(0x11);
export const f32x4splat = SIMD(0x13);
export const v128xor = SIMD(0x51);
export const bitselect = SIMD(0x52);
export const i32x4shrU = SIMD(0xad);
export const i32x4add = SIMD(0xae);
export const i32x4mul = SIMD(0xb5);
export const f32x4lt = SIMD(0x43);
export const f32x4gt = SIMD(0x44);
export const f32x4ge = SIMD(0x46);
export const f32x4abs = SIMD(0xe0);
export const f32x4neg = SIMD(0xe1);
export const f32x4add = SIMD(0xe4);
export const f32x4sub = SIMD(0xe5);
export const f32x4mul = SIMD(0xe6);
export const f32x4div = SIMD(0xe7);
export const f32x4min = SIMD(0xe8);
export const f32x4max = SIMD(0xe9);
export const f32x4convertU = SIMD(0xfb);
export const F64 = 0x7c;

/**
 * A function under assembly: its parameters and results, scalar locals named up front, v128
 * locals named as they are first used (so code can be written before the count is known).
 */
export class Func {
  private readonly vs: string[] = [];
  private readonly scalars: [string, number][];
  constructor(
    readonly params: number[],
    readonly results: number[] = [],
    scalars: Record<string, number> = {},
  ) {
    this.scalars = Object.entries(scalars);
  }
  /** A scalar local declared up front. */
  s(nm: string): number {
    const at = this.scalars.findIndex(([n]) => n === nm);
    if (at < 0) throw new Error(`wasm: no scalar local ${nm}`);
    return this.params.length + at;
  }
  /** A v128 local, declared on first use. */
  v(nm: string): number {
    let at = this.vs.indexOf(nm);
    if (at < 0) at = this.vs.push(nm) - 1;
    return this.params.length + this.scalars.length + at;
  }
  type(): number[] {
    return [0x60, this.params.length, ...this.params, this.results.length, ...this.results];
  }
  /** The function's code entry: locals, then `code`, then end. */
  encode(code: number[]): number[] {
    const groups = [...this.scalars.map(([, t]) => [1, t]), ...(this.vs.length ? [[this.vs.length, V128]] : [])];
    const fn = [...leb(groups.length), ...groups.flatMap(([c, t]) => [...leb(c), t]), ...code, 0x0b];
    return [...leb(fn.length), ...fn];
  }
}

/** `block loop (br_if 1 exit) body (br 0) end end`: a loop that leaves when `exit` (an i32 on the stack) is true. */
export const whileNot = (exit: number[], body: number[]) => [0x02, 0x40, 0x03, 0x40, ...exit, 0x0d, 1, ...body, 0x0c, 0, 0x0b, 0x0b];

/** i += by (locals; `by` an i32 constant, or a local with `byLocal`). */
export const addTo = (i: number, by: number, byLocal = false) => [...get(i), ...(byLocal ? get(by) : i32const(by)), 0x6a, ...set(i)];

/** A loop over byte counter `i` = 0, 16, … < local `n`, running `step` each time. */
export const loop16 = (i: number, n: number, step: number[]) => whileNot([...get(i), ...get(n), 0x4f], [...step, ...addTo(i, 16)]);

/**
 * A loop over byte counter `i` (from its value, up to local `n`, a multiple of 16) that does
 * `unroll` vectors an iteration while they fit, then one at a time: step(u) works on the vector
 * at byte i + 16u (memarg offset 16u: loadAt/storeAt). V8 hoists nothing out of a WebAssembly
 * loop (each splat or constant is rebuilt in the loop body, three instructions a time), so
 * unrolling pays those once per `unroll` vectors. `step` must not read i's value otherwise.
 */
export const unrolledLoop16 = (i: number, n: number, step: (u: number) => number[], unroll = 4) => [
  ...whileNot(
    [...get(i), ...i32const(16 * unroll), 0x6a, ...get(n), 0x4b], // i + 16·unroll > n (unsigned)
    [...Array.from({ length: unroll }, (_, u) => step(u)).flat(), ...addTo(i, 16 * unroll)],
  ),
  ...loop16(i, n, step(0)),
];

/** v128.load / v128.store of the vector at byte `offset` past the address on the stack. */
export const loadAt = (offset: number) => [...SIMD(0x00), 4, ...leb(offset)];
export const storeAt = (offset: number) => [...SIMD(0x0b), 4, ...leb(offset)];
/** The address local `ptr` + local `i` onto the stack. */
export const addr = (ptr: number, i: number) => [...get(ptr), ...get(i), 0x6a];

/**
 * A module of `funcs` (exported by name) on an imported shared memory env.mem of up to 4 GiB (a
 * CpuPool's arena), or with `ownMemory` on a memory of its own (one page, exported as "mem").
 */
export function moduleOf(funcs: readonly (readonly [string, Func, number[]])[], ownMemory = false): Uint8Array<ArrayBuffer> {
  const exported = funcs.flatMap(([nm], t) => [...name(nm), 0, ...leb(t)]);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [...leb(funcs.length), ...funcs.flatMap(([, f]) => f.type())]),
    ...(ownMemory ? [] : section(2, [1, ...name('env'), ...name('mem'), 2, 3, 0, ...leb(65536)])),
    ...section(3, [...leb(funcs.length), ...funcs.flatMap((_, t) => leb(t))]),
    ...(ownMemory ? section(5, [1, 0, 1]) : []),
    ...section(7, ownMemory ? [...leb(funcs.length + 1), ...name('mem'), 2, 0, ...exported] : [...leb(funcs.length), ...exported]),
    ...section(10, [...leb(funcs.length), ...funcs.flatMap(([, f, code]) => f.encode(code))]),
  ]);
}
/** moduleOf on the imported shared memory. */
export const sharedModule = (funcs: readonly (readonly [string, Func, number[]])[]) => moduleOf(funcs);

// Element-wise kernels of issue 22 (simd-elementwise.ts: quantize's block loop, SLERP's ordered sums).
export const f32x4convertS = SIMD(0xfa);
export const f32x4nearest = SIMD(0x6a);
export const f32load = (offset = 0) => [0x2a, 2, ...leb(offset)];
export const f32div = [0x95];
export const f32eq = [0x5b];
export const f64add = [0xa0];
export const f64mul = [0xa2];
export const f64promoteF32 = [0xbb];
export const f32x4pmin = SIMD(0xea);
export const f32x4pmax = SIMD(0xeb);
export const i32x4maxS = SIMD(0xb8);
export const i32x4extractLane = (l: number) => [...SIMD(0x1b), l];
export const i32x4gtS = SIMD(0x3b);
export const f64x2promoteLow = SIMD(0x5f);
export const f64x2mul = SIMD(0xf2);
export const f64x2extractLane = (l: number) => [...SIMD(0x21), l];
/** i8x16.shuffle of two vectors by 16 lane bytes (0–15 the first, 16–31 the second). */
export const shuffle = (lanes: number[]) => [...SIMD(0x0d), ...lanes];
export const v128and = SIMD(0x4e);
// SLERP's bound pass (simd-elementwise.ts slerpLanes): the sums in f64x2 lanes.
export const f64x2abs = SIMD(0xec);
export const f64x2add = SIMD(0xf0);

// Decoding's matrix × vector (simd-matvec.ts): int8/int4 widening, lane extraction, scalar steps.
export const i16x8extendLowI8x16S = SIMD(0x87);
export const i16x8extendHighI8x16S = SIMD(0x88);
export const i32x4extendLowI16x8S = SIMD(0xa7);
export const i32x4extendHighI16x8S = SIMD(0xa8);
export const i16x8shrU = SIMD(0x8d);
export const i8x16sub = SIMD(0x71);
export const f32x4extractLane = (lane: number) => [...SIMD(0x1f), lane];
export const f32store = (offset = 0) => [0x38, 2, ...leb(offset)];
export const f32add = [0x92];
export const i32sub = [0x6b];
export const i32eqz = [0x45];

/**
 * A module's exports instantiated on a shared memory (a CpuPool's arena) as env.mem: once per
 * memory on this thread, the module compiled once on first use. Null where it cannot be made (no
 * WebAssembly SIMD): the callers then run their JavaScript loops. `wrap` shapes what is kept.
 */
export function perMemory<T>(
  bytes: () => Uint8Array<ArrayBuffer>,
  wrap: (exports: WebAssembly.Exports, memory: WebAssembly.Memory) => T = (e) => e as unknown as T,
): (memory: WebAssembly.Memory) => T | null {
  let module: WebAssembly.Module | undefined;
  const made = new WeakMap<WebAssembly.Memory, T | null>();
  return (memory) => {
    if (made.has(memory)) return made.get(memory)!;
    let t: T | null = null;
    try {
      t = wrap(new WebAssembly.Instance((module ??= new WebAssembly.Module(bytes())), { env: { mem: memory } }).exports, memory);
    } catch {
      t = null;
    }
    made.set(memory, t);
    return t;
  };
}
