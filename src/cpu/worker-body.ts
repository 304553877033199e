/**
 * The body of a CPU pool worker, the same in Node (worker_threads) and in browsers (Web Workers):
 * remember the pool's arena, then run one range kernel over [start, end) of shared arrays per job
 * and say when it is done.
 */
import { getFastKernel } from '../core/operators/fast/kernels.ts';
import type { RangeJob, RangeReply, SharedF32, WorkerMessage } from './protocol.ts';
import { simdRange } from './simd.ts';
import { elementwiseSimdPartial } from './simd-elementwise.ts';
import { passLoopsOn } from './simd-select.ts';
import { withPassLoops, type PassLoops } from '../core/operators/fast/loops.ts';
import { chunkStats } from '../core/operators/stream.ts';
import { chunkStatsOn } from './simd-stats.ts';

const view = (s: SharedF32) => new Float32Array(s.buffer, s.byteOffset, s.length);
let arena: WebAssembly.Memory | undefined;
/** The selection passes' SIMD loops on the arena (with this worker's scratch block), lent to jobs whose arrays all live there. */
let loops: PassLoops | null = null;

/** Handle one message from the pool; returns the reply to post, or null when none is due. */
export function runJob(msg: WorkerMessage): RangeReply | null {
  if ('stats' in msg) {
    const t0 = performance.now();
    const { before, after, sq } = msg.stats;
    const [b, a] = [view(before), view(after)];
    const partial = (msg.arena && arena ? chunkStatsOn(arena, b, a, sq) : null) ?? chunkStats(b, a, sq);
    return { id: msg.id, ok: true, ms: performance.now() - t0, partial };
  }
  if ('arena' in msg && !('kernel' in msg)) {
    arena = msg.arena;
    loops = msg.scratch === undefined ? null : passLoopsOn(arena, msg.scratch);
    return null;
  }
  const job = msg;
  return withPassLoops(job.arena ? loops : null, () => runRange(job));
}

function runRange(job: RangeJob): RangeReply {
  const t0 = performance.now();
  try {
    const k = getFastKernel(job.kernel);
    const inputs = job.inputs.map(view);
    const out = view(job.out);
    if (job.reduce) {
      if (!k.reduce) throw new Error(`kernel ${k.id} has no reduce plan`);
      // A pass with a SIMD loop on the arena (SLERP's sums), else the kernel's own.
      const lent = job.arena && arena ? elementwiseSimdPartial(k.id, inputs, job.params, arena) : undefined;
      const partial =
        lent !== undefined
          ? lent
          : k.reduce.partial(job.reduce.pass, job.reduce.carry, inputs, job.params, job.ctx, job.start, job.end, job.reduce.part);
      return { id: job.id, ok: true, ms: performance.now() - t0, partial };
    }
    let counts: Record<string, number> | undefined;
    if (!simdRange(k.id, inputs, out, job.params, job.ctx, job.start, job.end, job.arena ? arena : undefined))
      counts = k.run(inputs, out, job.params, job.ctx, job.start, job.end) ?? undefined;
    return { id: job.id, ok: true, ms: performance.now() - t0, ...(counts ? { counts } : {}) };
  } catch (e) {
    return { id: job.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}
