/**
 * A few WebAssembly binary-format helpers for the hand-assembled SIMD modules (simd.ts,
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

/** A loop over byte counter `i` = 0, 16, … < local `n`, running `step` each time. */
export const loop16 = (i: number, n: number, step: number[]) => [
  0x02,
  0x40,
  0x03,
  0x40,
  ...get(i),
  ...get(n),
  0x4f,
  0x0d,
  1,
  ...step,
  ...get(i),
  ...i32const(16),
  0x6a,
  ...set(i),
  0x0c,
  0,
  0x0b,
  0x0b,
];

/** A module of `funcs` (exported by name) on an imported shared memory env.mem of up to 4 GiB (a CpuPool's arena). */
export function sharedModule(funcs: readonly (readonly [string, Func, number[]])[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [...leb(funcs.length), ...funcs.flatMap(([, f]) => f.type())]),
    ...section(2, [1, ...name('env'), ...name('mem'), 2, 3, 0, ...leb(65536)]),
    ...section(3, [...leb(funcs.length), ...funcs.flatMap((_, t) => leb(t))]),
    ...section(7, [...leb(funcs.length), ...funcs.flatMap(([nm], t) => [...name(nm), 0, ...leb(t)])]),
    ...section(10, [...leb(funcs.length), ...funcs.flatMap(([, f, code]) => f.encode(code))]),
  ]);
}

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
export const v128and = SIMD(0x4e);
