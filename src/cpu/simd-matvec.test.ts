/**
 * The WebAssembly SIMD matvec (simd-matvec.ts) against a scalar loop in f64 on odd sizes (N, K not
 * multiples of 4 or 16), every block shape: dividing K, not dividing it, one block, one element;
 * int8, int4 (−8…7) and f32. Several weights share one memory (it grows between them).
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../core/seeded.ts';
import { MatvecMemory } from './simd-matvec.ts';
import { spawnNodeMatvecWorker, type NodeMatvecWorker } from './matvec-node.ts';

const shapes: [number, number][] = [
  [1, 1],
  [3, 5],
  [7, 33],
  [13, 100],
  [5, 17],
  [2, 64],
  [9, 577],
];
const blocks = [1, 3, 16, 24, 32, 64, 1000];

function scalar(q: Int8Array, s: Float32Array, x: Float32Array, N: number, K: number, B: number): { y: Float64Array; mag: Float64Array } {
  const nb = Math.ceil(K / Math.min(B, K));
  const b = Math.min(B, K);
  const y = new Float64Array(N);
  const mag = new Float64Array(N);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      const t = q[n * K + k] * s[n * nb + Math.floor(k / b)] * x[k];
      y[n] += t;
      mag[n] += Math.abs(t);
    }
  return { y, mag };
}

describe('simd matvec', () => {
  it('int8 and int4 with f32 activations match the scalar loop, every block size, odd shapes', async () => {
    const m = await MatvecMemory.create();
    const r = mulberry32(7);
    for (const [N, K] of shapes)
      for (const B of blocks)
        for (const scheme of ['int8', 'int4'] as const) {
          const qmax = scheme === 'int8' ? 127 : 7;
          const q = Int8Array.from({ length: N * K }, () => Math.floor(r() * (2 * qmax + 2)) - qmax - 1);
          if (scheme === 'int8') q.forEach((v, i) => (q[i] = Math.max(v, -127)));
          const nb = Math.ceil(K / Math.min(B, K));
          // Distinct scales per block (a wrong scale index changes the sum).
          const s = Float32Array.from({ length: N * nb }, () => 0.01 + r());
          const x = Float32Array.from({ length: K }, () => 2 * r() - 1);
          const h = m.addQuantized(q, s, N, K, B, scheme);
          const got = m.matvec(h, x);
          const { y, mag } = scalar(q, s, x, N, K, B);
          expect(got.length).toBe(N);
          for (let n = 0; n < N; n++)
            expect(Math.abs(got[n] - y[n]), `${scheme} [${N}, ${K}] block ${B} row ${n}`).toBeLessThanOrEqual(1e-6 * mag[n] + 1e-30);
        }
  });

  it('f32 weights match the scalar loop; a row reads back as stored', async () => {
    const m = await MatvecMemory.create();
    const r = mulberry32(3);
    for (const [N, K] of shapes) {
      const w = Float32Array.from({ length: N * K }, () => 2 * r() - 1);
      const x = Float32Array.from({ length: K }, () => 2 * r() - 1);
      const h = m.addF32(w, N, K);
      const got = m.matvec(h, x);
      for (let n = 0; n < N; n++) {
        let y = 0;
        let mag = 0;
        for (let k = 0; k < K; k++) {
          y += w[n * K + k] * x[k];
          mag += Math.abs(w[n * K + k] * x[k]);
        }
        expect(Math.abs(got[n] - y), `f32 [${N}, ${K}] row ${n}`).toBeLessThanOrEqual(1e-6 * mag);
      }
      expect(Array.from(m.f32Row(h, N - 1))).toEqual(Array.from(w.subarray((N - 1) * K)));
    }
  });

  it('every element counts: a one-hot x picks the column, times its block scale', async () => {
    const m = await MatvecMemory.create();
    const [N, K, B] = [3, 37, 8];
    const nb = Math.ceil(K / B);
    for (const scheme of ['int8', 'int4'] as const) {
      const q = Int8Array.from({ length: N * K }, (_, i) => ((i * 5) % 13) - 6);
      const s = Float32Array.from({ length: N * nb }, (_, i) => 2 ** (i % 7));
      const h = m.addQuantized(q, s, N, K, B, scheme);
      for (let k = 0; k < K; k++) {
        const x = new Float32Array(K);
        x[k] = 1;
        const got = m.matvec(h, x);
        for (let n = 0; n < N; n++) expect(got[n], `${scheme} k ${k} n ${n}`).toBe(q[n * K + k] * s[n * nb + Math.floor(k / B)]);
      }
    }
  });

  it('rejects mismatched sizes', async () => {
    const m = await MatvecMemory.create();
    const h = m.addF32(new Float32Array(6), 2, 3);
    expect(() => m.matvec(h, new Float32Array(4))).toThrow(/x has 4 values/);
    expect(() => m.addQuantized(new Int8Array(6), new Float32Array(1), 2, 3, 2, 'int8')).toThrow(/scales/);
  });
});

describe('simd matvec on threads (shared memory, Node workers)', () => {
  it('2 and 3 threads, and a worker alone, give bit-identical products to one thread (int8, int4, f32; several a dispatch; N below the item count); release ends the workers', async () => {
    const one = await MatvecMemory.create();
    const r = mulberry32(11);
    for (const [threads, callerWorks] of [
      [2, true],
      [3, true],
      [2, false],
    ] as const) {
      const started: NodeMatvecWorker[] = [];
      const many = await MatvecMemory.create({
        threads,
        callerWorks,
        spawn: async (init) => {
          const w = await spawnNodeMatvecWorker(init);
          started.push(w);
          return w;
        },
      });
      expect(many.threads).toBe(threads);
      expect(many.workerCount).toBe(threads - 1);
      for (const [N, K] of [...shapes, [40, 96] as [number, number], [301, 70] as [number, number]]) {
        const B = 24;
        const nb = Math.ceil(K / Math.min(B, K));
        const q8 = Int8Array.from({ length: N * K }, () => Math.floor(r() * 255) - 127);
        const q4 = Int8Array.from({ length: N * K }, () => Math.floor(r() * 16) - 8);
        const s = Float32Array.from({ length: N * nb }, () => 0.01 + r());
        const w = Float32Array.from({ length: N * K }, () => 2 * r() - 1);
        const x = Float32Array.from({ length: K }, () => 2 * r() - 1);
        const add = (m: MatvecMemory) => [
          m.addQuantized(q8, s, N, K, B, 'int8'),
          m.addQuantized(q4, s, N, K, B, 'int4'),
          m.addF32(w, N, K),
        ];
        const want = add(one).map((h) => m1(one, h, x));
        const hs = add(many);
        const got = many.matvecs(hs, x);
        for (let i = 0; i < 3; i++) {
          expect(Array.from(got[i]), `${threads} threads [${N}, ${K}] op ${i}`).toEqual(want[i]);
          expect(Array.from(many.matvec(hs[i], x))).toEqual(want[i]);
        }
      }
      expect(started.length).toBe(threads - 1);
      many.release();
      expect(many.workerCount).toBe(0);
      await Promise.all(started.map((w) => w.exited));
    }
  });

  it('more than one thread needs a spawn; a dispatch takes at most 4 products', async () => {
    await expect(MatvecMemory.create({ threads: 2 })).rejects.toThrow(/spawn/);
    const m = await MatvecMemory.create();
    const h = m.addF32(new Float32Array(4), 2, 2);
    expect(() => m.matvecs([h, h, h, h, h], new Float32Array(2))).toThrow(/at most 4/);
  });
});

const m1 = (m: MatvecMemory, h: ReturnType<MatvecMemory['addF32']>, x: Float32Array) => Array.from(m.matvec(h, x));
