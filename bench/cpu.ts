/**
 * CPU path figures, the same code in Node and in a browser page: a copy yardstick (one thread
 * TypedArray.set, and the pool's copy kernel over both cores; the faster is the yardstick), then
 * every registry operator's single-threaded reference and, where it has one, its range kernel
 * on the pool. The fast path is checked bit-identical to the reference before it is timed.
 */
import { OPERATORS, getOperator } from '../src/core/operators/registry.ts';
import { FAST_KERNELS, hasFastKernel } from '../src/core/operators/fast/kernels.ts';
import type { CpuPool } from '../src/cpu/pool.ts';
import { benchParams, fillSeeded, gbps, inputCount, timeIt, type BenchPath, type CopyRow, type KernelRow } from './common.ts';

export interface CpuBenchOptions {
  path: BenchPath;
  pool: CpuPool;
  sizes: readonly number[];
  /** Time budget per measurement, ms. */
  budgetMs: number;
  log?: (line: string) => void;
  /** Only operators with a range kernel (the smoke run in the browser, to stay within seconds). */
  fastOnly?: boolean;
  /** Sizes at which operators without a range kernel are timed (default: every size). */
  referenceSizes?: readonly number[];
  /** Only these operators (default: every registry operator). */
  operators?: readonly string[];
}

export async function benchCpu(o: CpuBenchOptions): Promise<{ copies: CopyRow[]; kernels: KernelRow[] }> {
  const adapter = `JavaScript${o.pool.arena ? ' + WebAssembly SIMD in a shared arena' : ''}, ${o.pool.threads} workers`;
  const copies: CopyRow[] = [];
  const kernels: KernelRow[] = [];
  const ctx = { name: 'bench.weight', shape: [0], seed: 7 };
  for (const n of o.sizes) {
    const maxInputs = Math.max(1, ...Object.values(OPERATORS).map((op) => inputCount(op).inputs));
    // Arrays in the pool's memory (its arena, where the SIMD loops work in place), like GPU resident buffers.
    const inputs = Array.from({ length: maxInputs }, (_, i) => fillSeeded(o.pool.alloc(n), 1000 + i, 0.05));
    // Touch every page first, so no timing pays for the first-touch page faults of a fresh buffer.
    const out = o.pool.alloc(n).fill(1);
    const copyBytes = FAST_KERNELS.copy.bytesPerElement(1) * n;

    const single = await timeIt(() => out.set(inputs[0]), o.budgetMs);
    const multi = await timeIt(() => o.pool.run('copy', [inputs[0]], out, {}, ctx), o.budgetMs);
    for (const [impl, t] of [
      ['TypedArray.set, 1 thread', single],
      [`copy kernel, ${o.pool.threads} workers`, multi],
    ] as const) {
      copies.push({ path: o.path, adapter, software: false, impl, elements: n, ms: t.ms, gbps: gbps(copyBytes, t.ms) });
    }
    const copyGbps = Math.max(gbps(copyBytes, single.ms), gbps(copyBytes, multi.ms));
    o.log?.(
      `${o.path} ${n}: copy ${gbps(copyBytes, single.ms).toFixed(2)} GB/s (1 thread), ${gbps(copyBytes, multi.ms).toFixed(2)} GB/s (${o.pool.threads} workers)`,
    );

    for (const id of Object.keys(OPERATORS)) {
      if (o.operators && !o.operators.includes(id)) continue;
      if (!hasFastKernel(id) && (o.fastOnly || (o.referenceSizes && !o.referenceSizes.includes(n)))) continue;
      const op = getOperator(id);
      const { parents, inputs: k } = inputCount(op);
      const ins = inputs.slice(0, k);
      const params = benchParams(op, parents, ins, ctx.name);
      const bytes = 4 * (k + 1) * n;
      // The reference runs (and the fast path is checked against it) at the reference sizes only:
      // single-threaded, it would take most of a full run at 64 M elements.
      const withRef = !o.referenceSizes || o.referenceSizes.includes(n);
      let refOut: Float32Array | undefined;
      let ref: Awaited<ReturnType<typeof timeIt>> | null = null;
      try {
        ref = withRef
          ? await timeIt(() => (refOut = op.cpu(ins, params, { ...ctx, shape: [n] })), o.budgetMs, o.budgetMs < 100 ? 1 : 2, 10)
          : null;
      } catch (e) {
        // An operator that needs more than tensors (RegMean's and Fisher's calibration statistics) has no timing here.
        if (hasFastKernel(id)) throw e;
        o.log?.(`${o.path} ${n}: ${id} not timed: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      const row = (impl: string, t: { ms: number; medianMs: number; reps: number }, extra: Partial<KernelRow> = {}): KernelRow => ({
        path: o.path,
        adapter,
        software: false,
        operator: id,
        impl,
        elements: n,
        inputs: k,
        ms: t.ms,
        medianMs: t.medianMs,
        reps: t.reps,
        gbps: gbps(bytes, t.ms),
        copyGbps,
        ofCopy: gbps(bytes, t.ms) / copyGbps,
        ...extra,
      });
      if (hasFastKernel(id)) {
        if (ref) {
          kernels.push(row('reference', ref, { note: 'single-threaded JS loop (the CPU reference)' }));
          await o.pool.run(id, ins, out, params, { ...ctx, shape: [n] });
          const a = new Uint32Array(out.buffer, out.byteOffset, n);
          const b = new Uint32Array(refOut!.buffer, refOut!.byteOffset, n);
          for (let i = 0; i < n; i++) {
            if (a[i] !== b[i] && !(Number.isNaN(out[i]) && Number.isNaN(refOut![i])))
              throw new Error(`fast CPU ${id} differs from the reference at element ${i} of ${n}: refusing to time it`);
          }
        }
        // At least two samples, even when one takes longer than the budget: a shared machine can stall one.
        const fast = await timeIt(() => o.pool.run(id, ins, out, params, { ...ctx, shape: [n] }), o.budgetMs, 3, 50, 2);
        const checked = ref
          ? 'bit-identical to the reference'
          : `checked bit-identical to the reference at ${o.referenceSizes!.map((x) => `${x >> 20} M`).join(' and ')} elements`;
        kernels.push(
          row('fast', fast, {
            ...(ref ? { speedup: ref.ms / fast.ms } : {}),
            note: `range kernel on ${o.pool.threads} workers, ${checked}`,
          }),
        );
      } else if (ref) {
        kernels.push(
          row('reference only', ref, { speedup: 1, note: 'no range kernel yet: the CPU path runs the single-threaded reference' }),
        );
      }
      const last = kernels.at(-1);
      if (last?.operator === id && last.elements === n)
        o.log?.(
          `${o.path} ${n}: ${id} ${last.gbps.toFixed(2)} GB/s = ${last.ofCopy.toFixed(2)} of copy${last.speedup === undefined ? '' : `, ${last.speedup.toFixed(2)}× reference`}`,
        );
    }
    for (const a of [...inputs, out]) o.pool.free(a);
  }
  return { copies, kernels };
}
