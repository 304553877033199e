import { describe, expect, it } from 'vitest';
import { add, addBias, dropout, matmul, mmNN, mmNT, mmTN, mul, relu, reshape, scale, silu } from './ops.ts';
import { causalAttention, embedding, rmsNorm, rope } from './ops-llm.ts';
import { crossEntropy, IGNORE_INDEX, softCrossEntropy } from './loss.ts';
import { Tape } from './tape.ts';
import { gradCheck, project, randoms, type LeafSpec } from './test-helpers.ts';

const leaf = (rows: number, cols: number, seed: number, s = 1): LeafSpec => ({ data: randoms(rows * cols, seed, s), rows, cols });
const TOL = 1e-7;

/** Each row of z [?, cols] as probabilities (softmax): a distillation target. */
function softRows(z: Float64Array, cols: number): Float64Array {
  const p = z.map(Math.exp);
  for (let o = 0; o < p.length; o += cols) {
    const s = p.subarray(o, o + cols).reduce((a, b) => a + b, 0);
    for (let c = 0; c < cols; c++) p[o + c] /= s;
  }
  return p;
}

describe('every backward agrees with central finite differences (float64)', () => {
  const cases: [string, LeafSpec[], (v: ReturnType<Tape['leaf']>[]) => ReturnType<Tape['leaf']>][] = [
    ['matmul x·W', [leaf(3, 4, 1), leaf(4, 5, 2)], ([a, b]) => project(matmul(a, b), randoms(15, 9))],
    ['matmul x·Wᵀ', [leaf(3, 4, 3), leaf(5, 4, 4)], ([a, b]) => project(matmul(a, b, true), randoms(15, 9))],
    ['addBias', [leaf(3, 4, 5), leaf(1, 4, 6)], ([x, b]) => project(addBias(x, b), randoms(12, 9))],
    ['add', [leaf(2, 3, 7), leaf(2, 3, 8)], ([a, b]) => project(add(a, b), randoms(6, 9))],
    ['mul', [leaf(2, 3, 10), leaf(2, 3, 11)], ([a, b]) => project(mul(a, b), randoms(6, 9))],
    ['scale', [leaf(2, 3, 12)], ([a]) => project(scale(a, -1.7), randoms(6, 9))],
    ['relu', [leaf(4, 5, 13)], ([a]) => project(relu(a), randoms(20, 9))],
    ['silu', [leaf(4, 5, 14, 3)], ([a]) => project(silu(a), randoms(20, 9))],
    ['dropout', [leaf(4, 5, 15)], ([a]) => project(dropout(a, 0.3, 77), randoms(20, 9))],
    ['rmsNorm', [leaf(3, 6, 16), leaf(1, 6, 17)], ([x, w]) => project(rmsNorm(x, w, 1e-5), randoms(18, 9))],
    ['rope', [leaf(3, 8, 18)], ([x]) => project(rope(x, [0, 3, 7], 4, [1, 0.1]), randoms(24, 9))],
    [
      'causalAttention (GQA, 2 sequences)',
      [leaf(6, 8, 19), leaf(6, 4, 20), leaf(6, 4, 21)],
      ([q, k, v]) => project(causalAttention(q, k, v, { batch: 2, seqLen: 3, heads: 4, kvHeads: 2, headDim: 2 }), randoms(48, 9)),
    ],
    [
      'causalAttention (sliding window 2)',
      [leaf(4, 4, 22), leaf(4, 4, 23), leaf(4, 4, 24)],
      ([q, k, v]) =>
        project(causalAttention(q, k, v, { batch: 1, seqLen: 4, heads: 2, kvHeads: 2, headDim: 2, window: 2 }), randoms(16, 9)),
    ],
    ['embedding', [leaf(5, 3, 25)], ([t]) => project(embedding(t, [4, 0, 4, 2]), randoms(12, 9))],
    ['reshape (Gather → Reshape)', [leaf(5, 3, 33)], ([t]) => project(relu(reshape(embedding(t, [4, 0, 4, 2]), 2, 6)), randoms(12, 9))],
    ['crossEntropy', [leaf(4, 3, 26, 2)], ([z]) => crossEntropy(z, [2, 0, IGNORE_INDEX, 1])],
    ['softCrossEntropy (T = 2.5)', [leaf(4, 3, 34, 2)], ([z]) => softCrossEntropy(z, softRows(randoms(12, 35, 3), 3), 2.5)],
    [
      'a SwiGLU block with LoRA (composition)',
      [leaf(3, 4, 27), leaf(6, 4, 28), leaf(6, 4, 29), leaf(4, 6, 30), leaf(2, 4, 31), leaf(6, 2, 32)],
      ([x, wg, wu, wd, a, b]) => {
        const gate = add(matmul(x, wg, true), scale(matmul(matmul(x, a, true), b, true), 2));
        return project(matmul(mul(silu(gate), matmul(x, wu, true)), wd, true), randoms(12, 9));
      },
    ],
  ];
  for (const [name, leaves, f] of cases) {
    it(name, () => {
      const r = gradCheck(leaves, f);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.worst, r.where).toBeLessThan(TOL);
    });
  }
});

describe('matmul kernels', () => {
  it('blocked kernels give the bytes of the plain triple loop (sums in order, in doubles), with zeros, odd sizes and accumulation', () => {
    const [m, k, n] = [7, 9, 5];
    const a = Float32Array.from(randoms(m * k, 40), (v, i) => (i % 3 === 0 ? 0 : v));
    const b = Float32Array.from(randoms(k * n, 41));
    const c = Float32Array.from(randoms(m * n, 42));
    const start = Float32Array.from(randoms(m * n, 43));
    const plainNN = new Float32Array(m * n);
    const plainTN = new Float32Array(k * n);
    const plainNT = new Float32Array(m * k);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = start[i * n + j];
        for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
        plainNN[i * n + j] = s;
      }
    for (let p = 0; p < k; p++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < m; i++) s += a[i * k + p] * c[i * n + j];
        plainTN[p * n + j] = s;
      }
    for (let i = 0; i < m; i++)
      for (let p = 0; p < k; p++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += c[i * n + j] * b[p * n + j];
        plainNT[i * k + p] = s;
      }
    const nn = start.slice();
    mmNN(a, b, m, k, n, nn, true);
    const tn = new Float32Array(k * n);
    mmTN(a, c, m, k, n, tn);
    const nt = new Float32Array(m * k);
    mmNT(c, b, m, n, k, nt);
    expect(nn).toEqual(plainNN);
    expect(tn).toEqual(plainTN);
    expect(nt).toEqual(plainNT);
  });
});

describe('forward values', () => {
  it('matmul gives the textbook product in both layouts', () => {
    const t = new Tape('f64');
    const a = t.leaf([1, 2, 3, 4, 5, 6], 2, 3, false);
    const b = t.leaf([1, 0, 0, 1, 1, 1], 3, 2, false);
    expect([...matmul(a, b).data]).toEqual([4, 5, 10, 11]);
    const bt = t.leaf([1, 0, 1, 0, 1, 1], 2, 3, false);
    expect([...matmul(a, bt, true).data]).toEqual([4, 5, 10, 11]);
  });

  it('attention of a single position returns its value; the causal mask hides the future', () => {
    const t = new Tape('f64');
    const q = t.leaf([1, 0, 0, 1], 2, 2, false);
    const k = t.leaf([1, 0, 0, 1], 2, 2, false);
    const v = t.leaf([5, 6, 7, 8], 2, 2, false);
    const o = causalAttention(q, k, v, { batch: 1, seqLen: 2, heads: 1, kvHeads: 1, headDim: 2 });
    expect([...o.data.subarray(0, 2)]).toEqual([5, 6]);
    // Position 1 mixes both values, the one with the larger score (its own key) weighs more.
    expect(o.data[2]).toBeGreaterThan(6);
    expect(o.data[2]).toBeLessThan(7);
  });

  it('dropout keeps about 1 − p of the elements, scaled by 1/(1 − p), and is a pure function of its key', () => {
    const t = new Tape('f32');
    const x = t.leaf(new Float32Array(10_000).fill(1), 100, 100, false);
    const y = dropout(x, 0.25, 5);
    const kept = [...y.data].filter((v) => v !== 0);
    expect(kept.length / 10_000).toBeGreaterThan(0.73);
    expect(kept.length / 10_000).toBeLessThan(0.77);
    expect(kept.every((v) => Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
    expect(dropout(x, 0.25, 5).data).toEqual(y.data);
    expect(dropout(x, 0.25, 6).data).not.toEqual(y.data);
  });

  it('relu keeps NaN (as torch and onnxruntime do) and zeroes negatives', () => {
    const t = new Tape('f32');
    expect([...relu(t.leaf([Number.NaN, -1, 2], 1, 3, false)).data]).toEqual([Number.NaN, 0, 2]);
  });

  it('cross-entropy of uniform logits is log C', () => {
    const t = new Tape('f64');
    const z = t.leaf(new Float64Array(8), 2, 4, true);
    expect(crossEntropy(z, [1, 3]).data[0]).toBeCloseTo(Math.log(4), 12);
  });

  it('refuses shapes that do not chain, and labels out of range', () => {
    const t = new Tape();
    expect(() => matmul(t.leaf([1, 2], 1, 2, false), t.leaf([1, 2, 3], 3, 1, false))).toThrow(/do not chain/);
    expect(() => crossEntropy(t.leaf([0, 0], 1, 2, true), [2])).toThrow(/outside 0..1/);
    expect(() => embedding(t.leaf([0, 0], 2, 1, true), [2])).toThrow(/outside 0..1/);
  });
});
