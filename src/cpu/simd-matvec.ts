/**
 * WebAssembly SIMD matrix × vector for decoding: y[n] = Σₖ W[n, k]·x[k] with float32 activations,
 * the weights read as they are stored (int8, int4 or f32), hand-assembled like simd.ts.
 *
 *   f32mv(w, x, y, N, C):          y[n] = Σ over C chunks of 16 floats of w[n]·x (4 accumulators)
 *   i8mv(q, s, x, y, N, nb, cpb):  y[n] = Σ_b s[n, b] · Σ_{k in block b} q[n, k]·x[k]
 *                                  (16 int8 a chunk: i8 → i16 → i32 → f32, cpb chunks a block)
 *   i4mv(q, s, x, y, N, nb, cpb):  the same, 32 int4 a 16-byte chunk: byte j holds element j in
 *                                  its low nibble and j + 16 in its high one (the high ones
 *                                  brought down by i16x8.shr_u 4; each sign-extended as
 *                                  ((b & 15) ^ 8) − 8)
 *
 * The quantized layout is quantize.cpu.ts's (blocks of B along K, symmetric, one f32 scale a
 * block, no zero point), re-laid once at load into this module's memory: every block padded with
 * zeros to a whole number of chunks (Bp elements), each row's blocks contiguous, and x scattered
 * into the same padded layout before each product (zeros in the padding). f32 rows are padded to
 * a multiple of 16. Products are exact in f32; the sums are f32 in a fixed order (four lane
 * accumulators, then the block's scale), so results differ from the f64 reference by rounding only.
 */
import {
  CHUNKS,
  CLOSED,
  COMPLETED,
  CTRL_BYTES,
  FN_NAMES,
  MAX_OPS,
  NEXT,
  NOPS,
  OP_INTS,
  OPS,
  SEQ,
  STOP,
  TOTAL,
  runRows,
  work,
} from './matvec-jobs.mjs';
import {
  Func,
  I32,
  addTo,
  f32add,
  f32load,
  f32store,
  f32x4add,
  f32x4convertS,
  f32x4extractLane,
  f32x4mul,
  f32x4splat,
  get,
  i16x8extendHighI8x16S,
  i16x8extendLowI8x16S,
  i16x8shrU,
  i32const,
  i32eqz,
  i32sub,
  i32x4extendHighI16x8S,
  i32x4extendLowI16x8S,
  i8x16sub,
  leb,
  loadAt,
  name,
  section,
  set,
  v128and,
  v128const,
  v128load,
  v128xor,
} from './wasm-asm.ts';

/** counter = count; while (counter ≠ 0) { body; counter-- } */
const repeat = (counter: number, count: number[], body: number[]) => [
  ...count,
  ...set(counter),
  0x02,
  0x40,
  0x03,
  0x40,
  ...get(counter),
  ...i32eqz,
  0x0d,
  1,
  ...body,
  ...get(counter),
  ...i32const(1),
  ...i32sub,
  ...set(counter),
  0x0c,
  0,
  0x0b,
  0x0b,
];
const ZERO = v128const([0, 0, 0, 0]);

/** acc ← acc + w·x for the four accumulators, w from four f32x4 on the stack builders, x at xp + 16·j + base. */
function fma4(f: Func, weights: number[][], xp: number, base: number): number[] {
  return weights.flatMap((w, j) => [
    ...get(f.v(`a${j}`)),
    ...w,
    ...get(xp),
    ...loadAt(base + 16 * j),
    ...f32x4mul,
    ...f32x4add,
    ...set(f.v(`a${j}`)),
  ]);
}

const hsumStore = (y: number, v: number) => [
  ...get(y),
  ...get(v),
  ...f32x4extractLane(0),
  ...get(v),
  ...f32x4extractLane(1),
  ...f32add,
  ...get(v),
  ...f32x4extractLane(2),
  ...get(v),
  ...f32x4extractLane(3),
  ...f32add,
  ...f32add,
  ...f32store(),
];

const zeroAcc = (f: Func) => [0, 1, 2, 3].flatMap((j) => [...ZERO, ...set(f.v(`a${j}`))]);
const sumAcc = (f: Func) => [
  ...get(f.v('a0')),
  ...get(f.v('a1')),
  ...f32x4add,
  ...get(f.v('a2')),
  ...get(f.v('a3')),
  ...f32x4add,
  ...f32x4add,
];

/** Params 0 w, 1 x, 2 y, 3 N, 4 C (chunks of 16 floats a row). */
function f32mv(): [Func, number[]] {
  const f = new Func([I32, I32, I32, I32, I32], [], { n: I32, c: I32, xp: I32 });
  const [w, x, y, N, C] = [0, 1, 2, 3, 4];
  const xp = f.s('xp');
  const chunk = [
    ...fma4(
      f,
      [0, 1, 2, 3].map((j) => [...get(w), ...loadAt(16 * j)]),
      xp,
      0,
    ),
    ...addTo(w, 64),
    ...addTo(xp, 64),
  ];
  const row = [
    ...zeroAcc(f),
    ...get(x),
    ...set(xp),
    ...repeat(f.s('c'), get(C), chunk),
    ...sumAcc(f),
    ...set(f.v('r')),
    ...hsumStore(y, f.v('r')),
    ...addTo(y, 4),
  ];
  return [f, repeat(f.s('n'), get(N), row)];
}

const NIB = v128const([0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f]);
const EIGHT = v128const([0x08080808, 0x08080808, 0x08080808, 0x08080808]);
/**
 * nib ← the low nibble of each byte of `src`, sign-extended to an int8: ((b & 15) ^ 8) − 8, all
 * native 128-bit ops (x86 has no 8-bit shifts: i8x16.shr_s would be emulated).
 */
const signed4 = (f: Func, src: number[]) => [...src, ...NIB, ...v128and, ...EIGHT, ...v128xor, ...EIGHT, ...i8x16sub, ...set(f.v('nib'))];

/** Params 0 q, 1 s, 2 x, 3 y, 4 N, 5 blocks a row, 6 chunks a block. */
function quantMv(bits: 4 | 8): [Func, number[]] {
  const f = new Func([I32, I32, I32, I32, I32, I32, I32], [], { n: I32, b: I32, c: I32, xp: I32 });
  const [q, s, x, y, N, NB, CPB] = [0, 1, 2, 3, 4, 5, 6];
  const xp = f.s('xp');
  const [v, lo, hi] = [f.v('v'), f.v('lo'), f.v('hi')];
  // 16 int8 from local `src` (i8x16) → four f32x4 products accumulated against x at xp + base.
  const sixteen = (src: number, base: number) => [
    ...get(src),
    ...i16x8extendLowI8x16S,
    ...set(lo),
    ...get(src),
    ...i16x8extendHighI8x16S,
    ...set(hi),
    ...fma4(
      f,
      [
        [...get(lo), ...i32x4extendLowI16x8S, ...f32x4convertS],
        [...get(lo), ...i32x4extendHighI16x8S, ...f32x4convertS],
        [...get(hi), ...i32x4extendLowI16x8S, ...f32x4convertS],
        [...get(hi), ...i32x4extendHighI16x8S, ...f32x4convertS],
      ],
      xp,
      base,
    ),
  ];
  const chunk =
    bits === 8
      ? [...get(q), ...v128load, ...set(v), ...sixteen(v, 0), ...addTo(q, 16), ...addTo(xp, 64)]
      : [
          ...get(q),
          ...v128load,
          ...set(v),
          ...signed4(f, get(v)),
          ...sixteen(f.v('nib'), 0),
          ...signed4(f, [...get(v), ...i32const(4), ...i16x8shrU]),
          ...sixteen(f.v('nib'), 64),
          ...addTo(q, 16),
          ...addTo(xp, 128),
        ];
  const block = [
    ...zeroAcc(f),
    ...repeat(f.s('c'), get(CPB), chunk),
    ...get(f.v('r')),
    ...get(s),
    ...f32load(),
    ...f32x4splat,
    ...sumAcc(f),
    ...f32x4mul,
    ...f32x4add,
    ...set(f.v('r')),
    ...addTo(s, 4),
  ];
  const row = [
    ...ZERO,
    ...set(f.v('r')),
    ...get(x),
    ...set(xp),
    ...repeat(f.s('b'), get(NB), block),
    ...hsumStore(y, f.v('r')),
    ...addTo(y, 4),
  ];
  return [f, repeat(f.s('n'), get(N), row)];
}

/**
 * The module: f32mv, i8mv, i4mv on an imported env.mem, growable; shared (limits flags 0x03, the
 * whole 4 GiB wasm32 space as its maximum, reserved virtually as src/cpu/arena.ts's) for threads.
 */
function matvecModule(shared: boolean): Uint8Array<ArrayBuffer> {
  const funcs: [string, [Func, number[]]][] = [
    ['f32mv', f32mv()],
    ['i8mv', quantMv(8)],
    ['i4mv', quantMv(4)],
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [...leb(funcs.length), ...funcs.flatMap(([, [f]]) => f.type())]),
    ...section(2, [1, ...name('env'), ...name('mem'), 2, ...(shared ? [3, 0, ...leb(MAX_PAGES)] : [0, 1])]),
    ...section(3, [...leb(funcs.length), ...funcs.flatMap((_, t) => leb(t))]),
    ...section(7, [...leb(funcs.length), ...funcs.flatMap(([nm], t) => [...name(nm), 0, ...leb(t)])]),
    ...section(10, [...leb(funcs.length), ...funcs.flatMap(([, [f, code]]) => f.encode(code))]),
  ]);
}

type Fn = (...args: number[]) => void;
const MAX_PAGES = 65536;

/** What a worker of a threaded MatvecMemory is given: the compiled module, the shared memory, the control block's byte offset. */
export interface MatvecWorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: number;
}
/** Starts one worker (resolving once it has instantiated the module); Node's is matvec-node.ts's. */
export type SpawnMatvecWorker = (init: MatvecWorkerInit) => Promise<{ terminate(): void }>;

/** A linear weight held in a MatvecMemory: y = W·x for W [N, K]. */
export interface HeldLinear {
  readonly N: number;
  readonly K: number;
  /** Bytes the product reads from the weight (padding included). */
  readonly bytes: number;
}

interface F32Held extends HeldLinear {
  kind: 'f32';
  ptr: number;
  /** Padded row length (a multiple of 16). */
  Kp: number;
}
interface QuantHeld extends HeldLinear {
  kind: 'int8' | 'int4';
  qPtr: number;
  sPtr: number;
  /** Block size along K (≤ K) and its padded length in the module. */
  B: number;
  Bp: number;
  blocks: number;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** One product prepared for a call: [fn, w, w bytes a row, s, s bytes a row, x, y, N, a, b] (matvec-jobs.mjs). */
type Op = [number, number, number, number, number, number, number, number, number, number];

/**
 * The weights of a model copied once into one WebAssembly memory, and the products on them.
 * `add*` copies a weight in (growing the memory); `matvec` runs one product into a fresh array,
 * `matvecs` several on the same x in one dispatch.
 *
 * With `threads` > 1 the memory is shared and `threads − 1` workers (started by `spawn`)
 * instantiate the same module on it; each dispatch splits every product's rows into items that
 * this thread and the workers claim (matvec-jobs.mjs: Atomics on a control block in the memory).
 * A row is computed the same way whoever computes it: results are bit-identical to one thread.
 */
export class MatvecMemory {
  private readonly fns: Fn[];
  private top = 16;
  private readonly slots: { x: number; xCap: number; y: number; yCap: number }[] = [];
  private readonly ctrlPtr: number;
  private seq = 0;
  private workers: { terminate(): void }[] = [];
  /** Whether this thread claims items too (false, for tests: every item runs on a worker). */
  private callerWorks = true;

  private constructor(
    private readonly mem: WebAssembly.Memory,
    instance: WebAssembly.Instance,
    readonly threads: number,
  ) {
    const ex = instance.exports as unknown as Record<string, Fn>;
    this.fns = FN_NAMES.map((n) => ex[n]);
    this.ctrlPtr = this.alloc(CTRL_BYTES);
  }

  /**
   * threads (default 1): this thread + threads − 1 workers from `spawn` (required above 1);
   * callerWorks false (tests): this thread only waits, every item runs on a worker.
   */
  static async create(o: { threads?: number; spawn?: SpawnMatvecWorker; callerWorks?: boolean } = {}): Promise<MatvecMemory> {
    const threads = o.threads ?? 1;
    if (!Number.isSafeInteger(threads) || threads < 1) throw new Error(`matvec: threads must be a positive integer, not ${threads}`);
    if (threads > 1 && !o.spawn) throw new Error('matvec: more than one thread needs a way to start workers (spawn)');
    const shared = threads > 1;
    const mem = new WebAssembly.Memory(shared ? { initial: 1, maximum: MAX_PAGES, shared: true } : { initial: 1 });
    const module = await WebAssembly.compile(matvecModule(shared));
    const m = new MatvecMemory(mem, await WebAssembly.instantiate(module, { env: { mem } }), threads);
    m.callerWorks = o.callerWorks ?? true;
    if (shared) {
      m.ctrl().fill(0);
      Atomics.store(m.ctrl(), NEXT, CLOSED);
      const started = await Promise.allSettled(
        Array.from({ length: threads - 1 }, () => o.spawn!({ module, memory: mem, ctrl: m.ctrlPtr })),
      );
      m.workers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) {
        m.release();
        throw failed.reason;
      }
    }
    return m;
  }

  /** Stops the workers (the memory stays usable on this thread alone). */
  release(): void {
    if (this.workers.length === 0) return;
    Atomics.store(this.ctrl(), SEQ, STOP);
    Atomics.notify(this.ctrl(), SEQ);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }

  /** Workers running. */
  get workerCount(): number {
    return this.workers.length;
  }

  private ctrl(): Int32Array {
    return new Int32Array(this.mem.buffer, this.ctrlPtr, CTRL_BYTES / 4);
  }

  /** Bytes held. */
  get byteLength(): number {
    return this.top;
  }

  private alloc(bytes: number): number {
    const at = align16(this.top);
    this.top = at + align16(bytes);
    if (this.top > MAX_PAGES * 65536) throw new Error(`matvec: ${this.top} bytes exceed the 4 GiB wasm32 address space`);
    const need = this.top - this.mem.buffer.byteLength;
    if (need > 0) this.mem.grow(Math.ceil(need / 65536));
    return at;
  }
  /** An f32 weight [N, K] row-major. */
  addF32(w: Float32Array, N: number, K: number): HeldLinear {
    if (w.length !== N * K) throw new Error(`matvec: ${w.length} values for [${N}, ${K}]`);
    const Kp = align16(K);
    const ptr = this.alloc(4 * N * Kp);
    const view = new Float32Array(this.mem.buffer, ptr, N * Kp);
    if (Kp === K) view.set(w);
    else for (let n = 0; n < N; n++) view.set(w.subarray(n * K, (n + 1) * K), n * Kp);
    const held: F32Held = { kind: 'f32', N, K, Kp, ptr, bytes: 4 * N * Kp };
    return held;
  }

  /** Row `n` of an f32 weight added with addF32 (an embedding lookup). */
  f32Row(h: HeldLinear, n: number): Float32Array {
    const w = h as F32Held;
    if (w.kind !== 'f32') throw new Error('matvec: f32Row of a quantized weight');
    return new Float32Array(this.mem.buffer, w.ptr + 4 * n * w.Kp, w.K).slice();
  }

  /**
   * A quantized weight [N, K]: `q` one signed value per element (unpacked, row-major), `scales`
   * [N, ceil(K / blockSize)], int8 or int4 (values in −8…7).
   */
  addQuantized(q: Int8Array, scales: Float32Array, N: number, K: number, blockSize: number, scheme: 'int8' | 'int4'): HeldLinear {
    const B = Math.min(blockSize, K);
    const blocks = Math.ceil(K / B);
    if (q.length !== N * K) throw new Error(`matvec: ${q.length} values for [${N}, ${K}]`);
    if (scales.length !== N * blocks) throw new Error(`matvec: ${scales.length} scales for ${N}×${blocks} blocks`);
    const per = scheme === 'int8' ? 16 : 32;
    const Bp = Math.ceil(B / per) * per;
    const rowBytes = (blocks * Bp) / (scheme === 'int8' ? 1 : 2);
    const qPtr = this.alloc(N * rowBytes);
    const sPtr = this.alloc(4 * N * blocks);
    new Float32Array(this.mem.buffer, sPtr, N * blocks).set(scales);
    const out = new Uint8Array(this.mem.buffer, qPtr, N * rowBytes);
    for (let n = 0; n < N; n++)
      for (let b = 0; b < blocks; b++) {
        const src = n * K + b * B;
        const len = Math.min(B, K - b * B);
        const dst = n * rowBytes + (b * Bp) / (scheme === 'int8' ? 1 : 2);
        if (scheme === 'int8') {
          for (let j = 0; j < len; j++) out[dst + j] = q[src + j] & 0xff;
          continue;
        }
        // 32 elements a 16-byte chunk: element j low nibble of byte j, element j + 16 its high nibble.
        for (let j = 0; j < len; j++) {
          const chunk = j >> 5;
          const e = j & 31;
          const at = dst + chunk * 16 + (e & 15);
          out[at] |= (q[src + j] & 0xf) << (e < 16 ? 0 : 4);
        }
      }
    const held: QuantHeld = { kind: scheme, N, K, B, Bp, blocks, qPtr, sPtr, bytes: N * rowBytes + 4 * N * blocks };
    return held;
  }

  /** Scratch slot `i`: room for x (padded) and y. */
  private slot(i: number, xFloats: number, yFloats: number): { x: number; y: number } {
    const sl = (this.slots[i] ??= { x: 0, xCap: 0, y: 0, yCap: 0 });
    if (xFloats > sl.xCap) [sl.x, sl.xCap] = [this.alloc(4 * xFloats), xFloats];
    if (yFloats > sl.yCap) [sl.y, sl.yCap] = [this.alloc(4 * yFloats), yFloats];
    return sl;
  }

  /** x laid out for `h` in slot i; the product's call arguments. */
  private prepare(h: HeldLinear, x: Float32Array, i: number): Op {
    if (x.length !== h.K) throw new Error(`matvec: x has ${x.length} values, the weight takes ${h.K}`);
    const w = h as F32Held | QuantHeld;
    if (w.kind === 'f32') {
      const sl = this.slot(i, w.Kp, w.N);
      const xs = new Float32Array(this.mem.buffer, sl.x, w.Kp);
      xs.set(x);
      xs.fill(0, w.K);
      return [0, w.ptr, 4 * w.Kp, 0, 0, sl.x, sl.y, w.N, w.Kp / 16, 0];
    }
    const padded = w.blocks * w.Bp;
    const sl = this.slot(i, padded, w.N);
    const xs = new Float32Array(this.mem.buffer, sl.x, padded);
    if (w.Bp === w.B && padded === w.K) xs.set(x);
    else {
      xs.fill(0);
      for (let b = 0; b < w.blocks; b++) xs.set(x.subarray(b * w.B, Math.min(w.K, (b + 1) * w.B)), b * w.Bp);
    }
    const int8 = w.kind === 'int8';
    const rowBytes = (w.blocks * w.Bp) / (int8 ? 1 : 2);
    return [int8 ? 1 : 2, w.qPtr, rowBytes, w.sPtr, 4 * w.blocks, sl.x, sl.y, w.N, w.blocks, w.Bp / (int8 ? 16 : 32)];
  }

  /** y = W·x (a fresh array of N floats). */
  matvec(h: HeldLinear, x: Float32Array): Float32Array {
    return this.matvecs([h], x)[0];
  }

  /** W·x for each W of `hs` (at most 4, all taking x), in one dispatch over the threads. */
  matvecs(hs: readonly HeldLinear[], x: Float32Array): Float32Array[] {
    if (hs.length > MAX_OPS) throw new Error(`matvec: at most ${MAX_OPS} products a dispatch, not ${hs.length}`);
    const ops = hs.map((h, i) => this.prepare(h, x, i));
    if (this.workers.length === 0)
      for (const [fn, w, ws, s, ss, xp, y, N, a, b] of ops) runRows(this.fns, fn, w, ws, s, ss, xp, y, 0, N, a, b);
    else this.dispatch(ops);
    return ops.map((op) => new Float32Array(this.mem.buffer, op[6], op[7]).slice());
  }

  /** Publishes a job (descriptor, then the claim word, then SEQ), works on it, waits for the workers' items. */
  private dispatch(ops: Op[]): void {
    const ctrl = this.ctrl();
    const chunks = 4 * this.threads;
    ops.forEach((op, i) => ctrl.set(op, OPS + OP_INTS * i));
    const total = ops.length * chunks;
    ctrl[NOPS] = ops.length;
    ctrl[CHUNKS] = chunks;
    Atomics.store(ctrl, TOTAL, total);
    Atomics.store(ctrl, COMPLETED, 0);
    this.seq = (this.seq % 0x7ffffffe) + 1;
    Atomics.store(ctrl, NEXT, (this.seq & 0x7fff) << 16);
    Atomics.store(ctrl, SEQ, this.seq);
    Atomics.notify(ctrl, SEQ);
    const mine = this.callerWorks ? work(ctrl, this.fns, this.seq) : 0;
    for (let spins = 0; ; spins++) {
      const c = Atomics.load(ctrl, COMPLETED);
      if (c + mine >= total) break;
      if (spins > 4000) Atomics.wait(ctrl, COMPLETED, c, 20);
    }
    Atomics.store(ctrl, NEXT, CLOSED);
  }
}
