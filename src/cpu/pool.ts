/**
 * A pool of CPU workers that split a tensor by element range and work in place on shared memory.
 * Platform-neutral: Node (src/cpu/node.ts) and browsers (src/cpu/browser.ts) only supply the
 * workers. Results are bit-identical to the single-threaded reference because every range
 * kernel is (src/core/operators/fast/kernels.ts), and ranges never overlap.
 */
import { getFastKernel, reduceLocally } from '../core/operators/fast/kernels.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';
import type { ChunkStats } from '../core/operators/stream.ts';
import type { RangeJob, RangeReply, SharedF32, WorkerMessage } from './protocol.ts';
import { simdRange } from './simd.ts';
import { Arena } from './arena.ts';
import { SELECT_SCRATCH_BYTES } from './simd-select.ts';

/** What a pool needs from a worker, whatever the platform. */
export interface PoolPort {
  post(msg: WorkerMessage): void;
  onReply(cb: (reply: RangeReply) => void): void;
  terminate(): void;
}

/** Below this many elements a job runs on the calling thread: messaging would cost more than it saves. */
export const INLINE_BELOW = 1 << 15;

export function isShared(a: Float32Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

/** A Float32Array of `n` zeros backed by a SharedArrayBuffer. */
export function sharedF32(n: number): Float32Array {
  if (typeof SharedArrayBuffer === 'undefined') {
    throw new Error('SharedArrayBuffer is unavailable: the page must be cross-origin isolated (COOP/COEP headers)');
  }
  return new Float32Array(new SharedArrayBuffer(4 * n));
}

/** `a` itself when it is already shared, else a shared copy of it. */
export function toShared(a: Float32Array): Float32Array {
  if (isShared(a)) return a;
  const s = sharedF32(a.length);
  s.set(a);
  return s;
}

const describe = (a: Float32Array): SharedF32 => {
  if (!isShared(a)) throw new Error('CpuPool: every array must be backed by a SharedArrayBuffer (use sharedF32/toShared)');
  return { buffer: a.buffer as SharedArrayBuffer, byteOffset: a.byteOffset, length: a.length };
};

export class CpuPool {
  readonly threads: number;
  /** The shared memory the pool's SIMD loops work on in place, or null where it cannot be made. */
  readonly arena: Arena | null;
  private nextId = 1;
  /** The worker the next stats job goes to. */
  private turn = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: { counts?: Record<string, number>; partial?: unknown }) => void; reject: (e: Error) => void }
  >();

  constructor(
    private readonly ports: PoolPort[],
    arena: Arena | null = Arena.tryCreate(),
  ) {
    if (ports.length === 0) throw new Error('CpuPool needs at least one worker');
    this.threads = ports.length;
    this.arena = arena;
    // Each worker gets its own scratch block in the arena for the selection passes' histograms.
    if (arena) for (const p of ports) p.post({ arena: arena.memory, scratch: arena.alloc(SELECT_SCRATCH_BYTES / 4).byteOffset });
    for (const p of ports) {
      p.onReply((r) => {
        const w = this.pending.get(r.id);
        if (!w) return;
        this.pending.delete(r.id);
        if (r.ok) w.resolve(r);
        else w.reject(new Error(`CPU pool worker failed: ${r.error}`));
      });
    }
  }

  /**
   * n floats for a job: in the arena (where the SIMD loops work in place) when the pool has one,
   * else a plain shared array; zero-filled unless `zero` is false (the arena's reused memory then
   * holds old values: only for an array the caller overwrites whole). Give it back with free().
   */
  alloc(n: number, zero = true): Float32Array {
    return this.arena ? this.arena.alloc(n, zero) : sharedF32(n);
  }

  /** Return an array from alloc() (a no-op for a plain shared array, which the GC reclaims). */
  free(a: Float32Array): void {
    if (this.arena?.has(a)) this.arena.free(a);
  }

  /** Whether every array is in the arena, so the SIMD loops can work on them in place. */
  private inArena(arrays: readonly Float32Array[]): boolean {
    const arena = this.arena;
    return arena !== null && arrays.every((a) => arena.has(a));
  }

  /**
   * Run range kernel `kernel` over all of `out`, split into one contiguous range per worker.
   * Inputs and output must be shared (sharedF32/toShared) and as long as `out`.
   */
  async run(kernel: string, inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, ctx: TensorContext): Promise<void> {
    const k = getFastKernel(kernel);
    const n = out.length;
    for (const [i, x] of inputs.entries()) {
      if (x.length !== n) throw new Error(`CpuPool ${kernel}: input ${i} has ${x.length} elements, output has ${n}`);
    }
    const why = k.unsupported?.(params);
    if (why) throw new Error(`CpuPool ${kernel}: ${why}; run the operator's reference instead`);
    const arena = this.inArena([...inputs, out]);
    // Per-range counts summed over the tensor and set in ctx.stats, as the reference sets them.
    const counted = (counts: (void | Record<string, number> | undefined)[]) => {
      if (!ctx.stats) return;
      const total: Record<string, number> = {};
      for (const c of counts) for (const [key, v] of Object.entries(c ?? {})) total[key] = (total[key] ?? 0) + v;
      Object.assign(ctx.stats, total);
    };
    if (n < INLINE_BELOW) {
      if (k.reduce) params = { ...params, ...reduceLocally(k.reduce, inputs, params, ctx) };
      else if (k.prepare) params = { ...params, ...k.prepare(inputs, params, ctx) };
      if (!simdRange(kernel, inputs, out, params, ctx, 0, n, arena ? this.arena!.memory : undefined))
        counted([k.run(inputs, out, params, ctx, 0, n)]);
      return;
    }
    const ins = inputs.map(describe);
    const o = describe(out);
    // Ranges aligned to 16 elements (64 bytes, a cache line) so workers never share a line.
    const per = Math.ceil(n / this.threads / 16) * 16;
    const ranges: [number, number][] = [];
    for (let t = 0; t < this.threads; t++) {
      const start = t * per;
      const end = Math.min(n, start + per);
      if (start < end) ranges.push([start, end]);
    }
    // The context travels without its stats object; counts come back in the replies.
    const plainCtx = { ...ctx };
    delete plainCtx.stats;
    const all = (p: ParamValues, parts: readonly (readonly [number, number])[], reduce?: Omit<NonNullable<RangeJob['reduce']>, 'part'>) =>
      Promise.all(
        parts.map(([start, end], t) => {
          const id = this.nextId++;
          const done = new Promise<{ counts?: Record<string, number>; partial?: unknown }>((resolve, reject) =>
            this.pending.set(id, { resolve, reject }),
          );
          const r = reduce ? { reduce: { ...reduce, part: { index: t, count: parts.length } } } : {};
          this.ports[t].post({ id, kernel, params: p, ctx: plainCtx, inputs: ins, out: o, start, end, arena, ...r });
          return done;
        }),
      );
    if (k.reduce) {
      let step = k.reduce.start(inputs, params, ctx);
      for (let pass = 0; 'carry' in step; pass++) {
        const carry = step.carry;
        // A pass split by parent gives each worker the whole tensor for its share of the parents.
        const parts =
          step.split === 'parents'
            ? Array.from({ length: Math.max(1, Math.min(this.threads, inputs.length - 1)) }, () => [0, n] as const)
            : step.split === 'whole'
              ? [[0, n] as const]
              : ranges;
        const replies = await all(params, parts, { pass, carry });
        step = k.reduce.merge(
          pass,
          carry,
          replies.map((r) => r.partial),
          parts,
          inputs,
          params,
          ctx,
        );
      }
      params = { ...params, ...step.params };
    } else if (k.prepare) params = { ...params, ...k.prepare(inputs, params, ctx) };
    counted((await all(params, ranges)).map((r) => r.counts));
  }

  /**
   * stream.ts's chunkStats(before, after, sq) on one worker (they take turns), off this thread:
   * the same numbers. Both arrays must be shared and stay unchanged until it resolves.
   */
  stats(before: Float32Array, after: Float32Array, sq: number): Promise<ChunkStats> {
    if (before.length !== after.length) throw new Error(`CpuPool stats: ${before.length} elements before, ${after.length} after`);
    const id = this.nextId++;
    const done = new Promise<{ partial?: unknown }>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const arena = !!this.arena && this.arena.has(before) && this.arena.has(after);
    this.ports[this.turn++ % this.ports.length].post({ id, stats: { before: describe(before), after: describe(after), sq }, arena });
    return done.then((r) => r.partial as ChunkStats);
  }

  terminate(): void {
    for (const p of this.ports) p.terminate();
    for (const w of this.pending.values()) w.reject(new Error('CPU pool terminated'));
    this.pending.clear();
  }
}
