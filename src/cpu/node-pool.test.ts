import { describe, expect, it } from 'vitest';
import { getOperator } from '../core/operators/registry.ts';
import type { ParamValues } from '../core/operators/types.ts';
import { createNodeCpuPool, poolWorkerScript } from './node.ts';
import { xorshift32 } from './test-inputs.ts';
import { chunkStats } from '../core/operators/stream.ts';

const ctx = { name: 'layer.weight', shape: [0], seed: 3 };

function seededShared(n: number, seed: number): Float32Array {
  const a = new Float32Array(new SharedArrayBuffer(4 * n));
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = xorshift32(s);
    a[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return a;
}

describe('Node CPU pool start', () => {
  it('bundles the worker body into one script (esbuild is a dependency)', async () => {
    const script = await poolWorkerScript();
    expect(script).not.toBeNull();
    expect(script).toContain('runJob');
    expect(await poolWorkerScript()).toBe(script); // bundled once per process
  });

  // Both ways of starting a worker run the same kernels: TIES (selection reduced across the
  // workers) and DARE (seeded drop, L1 pre-pass) on 3 parents + base, bit-identical to the reference.
  for (const bundle of [true, false]) {
    it(`workers started ${bundle ? 'from the bundle' : 'through tsx'} give the reference's bits`, async () => {
      const pool = await createNodeCpuPool(2, { bundle });
      try {
        const n = 150_001;
        const inputs = Array.from({ length: 4 }, (_, p) => seededShared(n, 17 + p));
        const runs: [string, ParamValues][] = [
          ['ties', { weights: [1, 0.5, 0.7], density: 0.3, normalize: true }],
          ['dare', { weights: [1, 0.5, 0.7], drop: 0.5, rescale: 'l1' }],
        ];
        for (const [id, params] of runs) {
          const op = getOperator(id);
          const out = new Float32Array(new SharedArrayBuffer(4 * n));
          await pool.run(id, inputs, out, params, ctx);
          const ref = op.cpu(inputs, params, { ...ctx, shape: [n] });
          expect(new Uint32Array(out.buffer)).toEqual(new Uint32Array(ref.buffer));
        }
        // A breed's statistics on the workers: off the arena (JavaScript) and on it (the SIMD loop), the same numbers.
        const [before, after] = [inputs[0], inputs[1]];
        after[5] = before[5];
        after[9] = 0;
        const want = chunkStats(before, after, 0.25);
        expect(await pool.stats(before, after, 0.25)).toEqual(want);
        const [b, a] = [pool.alloc(n), pool.alloc(n)];
        b.set(before);
        a.set(after);
        expect(await pool.stats(b, a, 0.25)).toEqual(want);
        expect(want.changed).toBe(n - 1);
        expect(want.zeros).toBe(1);
      } finally {
        pool.terminate();
      }
    });
  }
});
