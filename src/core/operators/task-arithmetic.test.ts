import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { outlierCounts, parentDelta, sparsifyDelta, tiesCombine } from './task-arithmetic.cpu.ts';
import { OPERATORS, getOperator } from './registry.ts';
import { resolveParams } from './params.ts';
import { randomUnit, streamKey, tensorKey, unitAt } from './prng.ts';
import { randomValues } from './test-data.ts';
import type { ParamValues, TensorContext } from './types.ts';

const ctx = (name = 't', seed = 1, extra: Partial<TensorContext> = {}): TensorContext => ({ name, shape: [5], seed, ...extra });
const f32 = (xs: number[]) => Float32Array.from(xs);
const run = (id: keyof typeof OPERATORS, inputs: Float32Array[], params: ParamValues, c: TensorContext = ctx()) => {
  const op = getOperator(id);
  return op.cpu(inputs, resolveParams(op, params, inputs.length - 1), c);
};

describe('TIES, step by step (hand-worked)', () => {
  // base 1 everywhere; deltas chosen by hand, density 0.6 of 5 elements → keep 3 per parent.
  const base = f32([1, 1, 1, 1, 1]);
  const d1 = [3, -1, 2, 0.5, -4];
  const d2 = [-2, 1, 1, -3, 5];
  const d3 = [1, 0, 4, -1, 0.25];
  const parents = [d1, d2, d3].map((d) => f32(d.map((x) => x + 1)));
  const params = { density: 0.6, normalize: true };

  it('1. trim: each delta keeps its 3 largest magnitudes (a tie goes to the lower index)', () => {
    const trimmed = parents.map((x, i) => {
      const d = parentDelta(base, x, params, i);
      sparsifyDelta(d, { sparsify: 'magnitude', consensus: 'ties' }, params, ctx(), i);
      return [...d];
    });
    expect(trimmed).toEqual([
      [3, 0, 2, 0, -4],
      [-2, 0, 0, -3, 5],
      [1, 0, 4, -1, 0], // |1| at index 0 and |−1| at index 3 tie; both fit, 0.25 is dropped
    ]);
  });

  it('2. elect: the sign of the summed mass; 3. disjoint mean of the agreeing deltas', () => {
    const trimmed = [f32([3, 0, 2, 0, -4]), f32([-2, 0, 0, -3, 5]), f32([1, 0, 4, -1, 0])];
    const r = tiesCombine(trimmed, [1, 1, 1], true);
    expect([...r.elected]).toEqual([1, 1, 1, -1, 1]); // sums 2, 0 (elects +, as mergekit's sum >= 0), 6, −4, 1
    expect([...r.merged]).toEqual([2, 0, 3, -2, 5]); // (3+1)/2, nothing positive, (2+4)/2, (−3−1)/2, 5/1
    expect(r.signConflicts).toBe(2); // elements 0 and 4 have both signs
  });

  it('a summed mass of exactly 0 elects + and averages the positive deltas (mergekit get_mask: sum >= 0)', () => {
    const r = tiesCombine([f32([2, -1]), f32([-2, 1])], [1, 1], true);
    expect([...r.elected]).toEqual([1, 1]);
    expect([...r.merged]).toEqual([2, 1]); // only the positive delta agrees: 2/1 and 1/1
    expect(r.signConflicts).toBe(2);
  });

  it('agreeing weights that sum to 0 divide by 1, as mergekit replaces a zero divisor', () => {
    // weighted deltas 2·1 and (−1)·(−3): both positive, their weights 1 + (−1) = 0.
    const r = tiesCombine([f32([2]), f32([3])], [1, -1], true);
    expect([...r.merged]).toEqual([5]);
  });

  it('the operator gives base + merged, and reports the sign conflicts', () => {
    const c = ctx('t', 1, { stats: {} });
    expect([...run('ties', [base, ...parents], params, c)]).toEqual([3, 1, 4, -1, 6]);
    expect(c.stats!.signConflicts).toBe(2);
  });

  it('weights enter the election and the mean: weights [2, 1, 1]', () => {
    // element 0: weighted 6, −2, 1 → + ; mean (6 + 1) / (2 + 1)
    const out = run('ties', [base, ...parents], { ...params, weights: [2, 1, 1] });
    expect(out[0]).toBe(Math.fround(1 + Math.fround(7 / 3)));
    // without normalize the agreeing weighted deltas are summed
    const raw = run('ties', [base, ...parents], { ...params, weights: [2, 1, 1], normalize: false });
    expect(raw[0]).toBe(1 + 7);
  });

  it('property: TIES of copies of one parent is that parent’s trimmed delta; density 1 keeps it whole', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 2, max: 4 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, n, copies, d) => {
          const density = Math.floor(d * n) > 0 ? d : 1; // a density that keeps nothing is refused (tested below)
          const base = new Float32Array(n);
          const x = randomValues(seed, n);
          const c = { name: 'w', shape: [n], seed };
          const expected = run('sparse-task-delta', [base, x], { density }, c);
          expect(run('ties', [base, x, x], { density }, c)).toEqual(expected); // (d + d) / 2 is exact
          // with more copies the float32 sum rounds: within a few ulps, zeros exactly where trimmed
          const out = run('ties', [base, ...new Array<Float32Array>(copies).fill(x)], { density }, c);
          out.forEach((v, i) => {
            expect(v === 0).toBe(expected[i] === 0);
            expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(Math.abs(expected[i]) * 4e-7);
          });
          expect(run('ties', [base, x, x], { density: 1 }, c)).toEqual(x);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('model-wide trimming differs from per-tensor trimming and is refused with a density gradient', () => {
    expect(() =>
      getOperator('ties').prepare!(
        { names: ['a'], shapes: [[1]], inputs: () => [f32([0]), f32([1]), f32([2])] },
        { density: [0.1, 0.5], trimScope: 'model' },
        0,
      ),
    ).toThrow(/one density/);
  });
});

describe('DARE', () => {
  it('drops exactly where randomUnit(key, j, parent) < fround(p) and rescales survivors by 1/(1−p)', () => {
    const n = 2000;
    const base = new Float32Array(n);
    const x = new Float32Array(n).fill(1);
    const out = run('dare', [base, x], { drop: 0.75, rescale: 'inverse' }, { name: 'w', shape: [n], seed: 9 });
    const key = tensorKey(9, 'w');
    for (let j = 0; j < n; j++) expect(out[j]).toBe(randomUnit(key, j, 0) < Math.fround(0.75) ? 0 : 4);
  });

  it('each parent draws its own mask (stream = parent index)', () => {
    const n = 64;
    const base = new Float32Array(n);
    const a = new Float32Array(n).fill(1);
    const b = new Float32Array(n).fill(2);
    const out = run('dare', [base, a, b], { drop: 0.5, rescale: 'none' }, { name: 'w', shape: [n], seed: 3 });
    const key = tensorKey(3, 'w');
    for (let j = 0; j < n; j++) expect(out[j]).toBe((randomUnit(key, j, 0) >= 0.5 ? 1 : 0) + (randomUnit(key, j, 1) >= 0.5 ? 2 : 0));
  });

  it('p = 0 is the identity on the delta (same bytes as task delta)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 400 }), (seed, n) => {
        const base = randomValues(seed, n);
        const x = randomValues(seed + 1, n);
        const c = { name: 'w', shape: [n], seed };
        expect(run('dare', [base, x], { drop: 0 }, c)).toEqual(run('task-delta', [base, x], {}, c));
        const d = parentDelta(base, x, {}, 0);
        const kept = d.slice();
        sparsifyDelta(kept, { sparsify: 'random', consensus: 'none' }, { drop: 0, rescale: 'inverse' }, c, 0);
        expect(kept).toEqual(d);
      }),
      { numRuns: 50 },
    );
  });

  it('inverse rescale keeps the expected sum; l1 rescale keeps the L1 norm', () => {
    const n = 200_000;
    const base = new Float32Array(n);
    const x = randomValues(5, n).map((v) => v + 0.5); // mean 0.5
    const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
    const l1 = (a: Float32Array) => a.reduce((s, v) => s + Math.abs(v), 0);
    const inv = run('dare', [base, x], { drop: 0.6, rescale: 'inverse' }, { name: 'w', shape: [n], seed: 1 });
    expect(Math.abs(sum(inv) / sum(x) - 1)).toBeLessThan(0.02);
    const none = run('dare', [base, x], { drop: 0.6, rescale: 'none' }, { name: 'w', shape: [n], seed: 1 });
    expect(Math.abs(sum(none) / sum(x) - 0.4)).toBeLessThan(0.01);
    const byL1 = run('dare', [base, x], { drop: 0.6, rescale: 'l1' }, { name: 'w', shape: [n], seed: 1 });
    expect(Math.abs(l1(byL1) / l1(x) - 1)).toBeLessThan(1e-5);
    // mergekit's dare_linear and dare_ties rescale by L1 by default.
    expect(run('dare', [base, x], { drop: 0.6 }, { name: 'w', shape: [n], seed: 1 })).toEqual(byL1);
    expect(getOperator('dare-ties').params.find((p) => p.name === 'rescale')?.default).toBe('l1');
    expect(getOperator('dare-ties').params.find((p) => p.name === 'normalize')?.default).toBe(false);
  });

  it('is chunk independent: computing two halves with offsets equals the whole', () => {
    const n = 1001;
    const base = randomValues(1, n);
    const x = randomValues(2, n);
    const p = { drop: 0.4, rescale: 'inverse' }; // L1 needs the whole tensor's norms
    const whole = run('dare', [base, x], p, { name: 'w', shape: [n], seed: 4 });
    const h = 400;
    const a = run('dare', [base.subarray(0, h), x.subarray(0, h)], p, { name: 'w', shape: [n], seed: 4, offset: 0 });
    const b = run('dare', [base.subarray(h), x.subarray(h)], p, { name: 'w', shape: [n], seed: 4, offset: h });
    expect([...a, ...b]).toEqual([...whole]);
  });

  it('another seed drops another set', () => {
    const n = 300;
    const base = new Float32Array(n);
    const x = new Float32Array(n).fill(1);
    expect(run('dare', [base, x], {}, { name: 'w', shape: [n], seed: 1 })).not.toEqual(
      run('dare', [base, x], {}, { name: 'w', shape: [n], seed: 2 }),
    );
  });
});

describe('task delta and sparse task delta', () => {
  it('task delta: base + λ·Σ wᵢ(xᵢ − base), hand-checked', () => {
    const base = f32([1, 2, 3]);
    const a = f32([2, 2, 5]); // delta 1, 0, 2
    const b = f32([0, 4, 3]); // delta −1, 2, 0
    expect([...run('task-delta', [base, a, b], { weights: [1, 0.5], lambda: 2 }, { name: 't', shape: [3], seed: 0 })]).toEqual([
      1 + 2 * (1 - 0.5),
      2 + 2 * 1,
      3 + 2 * 2,
    ]);
    expect([...run('task-delta', [base, a, b], { weights: [1, 0.5], normalize: true }, { name: 't', shape: [3], seed: 0 })]).toEqual([
      Math.fround(1 + Math.fround(0.5 / 1.5)),
      Math.fround(2 + Math.fround(1 / 1.5)),
      Math.fround(3 + Math.fround(2 / 1.5)),
    ]);
  });

  it('density 1 is identical to task delta; density d leaves exactly int(d·n) changed elements', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, n, d) => {
          const density = Math.floor(d * n) > 0 ? d : 1;
          const base = new Float32Array(n);
          const x = randomValues(seed, n);
          const c = { name: 'w', shape: [n], seed };
          expect(run('sparse-task-delta', [base, x], { density: 1 }, c)).toEqual(run('task-delta', [base, x], {}, c));
          const out = run('sparse-task-delta', [base, x], { density }, c);
          expect(out.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0)).toBe(Math.floor(density * n));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses a density that keeps nothing of a tensor, as mergekit asserts, naming the tensor', () => {
    const base = new Float32Array(3);
    const x = f32([1, 2, 3]);
    const c = { name: 'fc2.bias', shape: [3], seed: 0 };
    expect(() => run('sparse-task-delta', [base, x], { density: 0.2 }, c)).toThrow(
      /^density 0.2 keeps nothing of "fc2.bias" \(3 elements: int\(density·n\) = 0\); raise density to at least 0.333$/,
    );
    expect(() => run('ties', [base, x, x], { density: 0 }, c)).toThrow(
      /^density 0 keeps nothing of "fc2.bias" \(3 elements: int\(density·n\) = 0\); raise density to at least 0.333$/,
    );
    expect([...run('sparse-task-delta', [base, x], { density: 0.34 }, c)]).toEqual([0, 0, 3]);
  });

  it('inverse rescale divides the survivors by the density', () => {
    const base = new Float32Array(4);
    const x = f32([4, -1, 2, 0.5]);
    expect([...run('sparse-task-delta', [base, x], { density: 0.5, rescale: 'inverse' }, { name: 't', shape: [4], seed: 0 })]).toEqual([
      8, 0, 4, 0,
    ]);
  });
});

describe('breadcrumbs (mergekit magnitude_outliers)', () => {
  const d10 = f32([5, -1, 3, 0.5, -4, 2, 10, 0.1, -0.2, 7]);
  const zero = new Float32Array(10);
  const c = { name: 'w', shape: [10], seed: 0 };

  it('keeps int(density·n) after dropping the int(gamma·n) largest and the smallest (hand-worked)', () => {
    // target 5, nTop 1, nBot 4. Ascending |d|: 0.1, −0.2, 0.5, −1 (dropped) 2, 3, −4, 5, 7 (kept) 10 (dropped).
    expect([...run('breadcrumbs', [zero, d10], { density: 0.5, gamma: 0.1 }, c)]).toEqual([5, 0, 3, 0, -4, 2, 0, 0, 0, 7]);
    // density + gamma > 1: fewer outliers are dropped to reach the density (target 9, nTop 2 → 1, nBot 0).
    expect([...run('breadcrumbs', [zero, d10], { density: 0.9, gamma: 0.2 }, c)]).toEqual([
      5,
      -1,
      3,
      0.5,
      -4,
      2,
      0,
      Math.fround(0.1),
      Math.fround(-0.2),
      7,
    ]);
    // density 1 leaves the delta whole, whatever gamma (mergekit returns the tensor)
    expect([...run('breadcrumbs', [zero, d10], { density: 1, gamma: 0.3 }, c)]).toEqual([...d10]);
  });

  it('ties at the cutoffs go by position: lower indices count as smaller', () => {
    const flat = f32([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    // nBot = 10 − 5 − 2 = 3: indices 0–2 are the smallest; nTop 2: indices 8, 9 the largest.
    expect([...run('breadcrumbs', [zero, flat], { density: 0.5, gamma: 0.2 }, c)]).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 0, 0]);
  });

  it('breadcrumbs-ties elects signs over the breadcrumb-trimmed deltas and sums the agreeing ones (normalize off, as mergekit)', () => {
    const a = f32([4, 3, 2, 1, 10]);
    const b = f32([-1, -2, 3, -4, 10]);
    const z = new Float32Array(5);
    const cc = { name: 'v', shape: [5], seed: 0 };
    // density 0.6 → keep 3; gamma 0.2 → drop the largest 1, nBot 1.
    // a: ascending 1, 2, 3, 4, 10 → keeps 2, 3, 4 → [4, 3, 2, 0, 0]; b: |−1| 1, |−2| 2, 3, |−4| 4, 10 → keeps −2, 3, −4 → [0, −2, 3, −4, 0]
    // sums 4, 1, 5, −4, 0 → signs +, +, +, −, + → 4, 3, 2 + 3, −4, 0
    expect([...run('breadcrumbs-ties', [z, a, b], { density: 0.6, gamma: 0.2 }, cc)]).toEqual([4, 3, 5, -4, 0]);
  });

  it('refuses a density that keeps nothing, and a gamma outside [0, 1]', () => {
    expect(() => run('breadcrumbs', [zero, d10], { density: 0.05 }, c)).toThrow(/^density 0.05 keeps nothing of "w"/);
    expect(() => outlierCounts(0.5, 1.5, 10, 'w')).toThrow(/^gamma 1.5 is outside \[0, 1\]$/);
  });
});

describe('DELLA (mergekit della_magprune)', () => {
  it('keeps each element with probability (density − ε) + rank/(cols − 1)·2ε, ranked by magnitude within its row', () => {
    const rows = 3;
    const cols = 40;
    const n = rows * cols;
    const x = randomValues(11, n);
    const zero = new Float32Array(n);
    const c = { name: 'mlp.weight', shape: [rows, cols], seed: 21 };
    const out = run('della-linear', [zero, x], { density: 0.4, epsilon: 0.2, rescale: 'none' }, c);
    const sk = streamKey(tensorKey(21, 'mlp.weight'), 0);
    const f = Math.fround;
    for (let r = 0; r < rows; r++) {
      for (let j = r * cols; j < (r + 1) * cols; j++) {
        // rank restated: how many in the row are smaller, or equal and earlier
        let rank = 0;
        for (let k = r * cols; k < (r + 1) * cols; k++)
          if (Math.abs(x[k]) < Math.abs(x[j]) || (Math.abs(x[k]) === Math.abs(x[j]) && k < j)) rank++;
        const p = f(f(0.4 - 0.2) + f(f(f(rank / (cols - 1)) * 2) * f(0.2)));
        expect(out[j], `element ${j}`).toBe(unitAt(sk, j) < p ? x[j] : 0);
      }
    }
  });

  it('keeps larger changes more often, about density overall, and rescales to the L1 norm by default', () => {
    const n = 20_000;
    const x = randomValues(3, n);
    const zero = new Float32Array(n);
    const c = { name: 'w', shape: [n], seed: 5 };
    const kept = run('della-linear', [zero, x], { density: 0.5, epsilon: 0.3, rescale: 'none' }, c);
    const frac = kept.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0) / n;
    expect(Math.abs(frac - 0.5)).toBeLessThan(0.02);
    const mags = [...x].map(Math.abs).sort((a, b) => a - b);
    const median = mags[n >> 1];
    let big = 0;
    let small = 0;
    kept.forEach((v, j) => {
      if (v === 0) return;
      if (Math.abs(x[j]) > median) big++;
      else small++;
    });
    expect(big / small).toBeGreaterThan(1.5); // p runs from 0.2 to 0.8 with the rank
    const l1 = (a: Float32Array) => a.reduce((s, v) => s + Math.abs(v), 0);
    const byDefault = run('della-linear', [zero, x], { density: 0.5, epsilon: 0.3 }, c);
    expect(Math.abs(l1(byDefault) / l1(x) - 1)).toBeLessThan(1e-5);
  });

  it('refuses an epsilon that takes density ± epsilon outside (0, 1), as mergekit does', () => {
    const x = randomValues(1, 10);
    expect(() => run('della', [new Float32Array(10), x, x], { density: 0.5, epsilon: 0.5 }, { name: 'w', shape: [10], seed: 0 })).toThrow(
      /^della: epsilon 0.5 must keep density ± epsilon inside \(0, 1\) \(density 0.5\)$/,
    );
  });

  it('runs on the family’s GPU kernel (host keep probabilities, GPU draws; e2e/kernels.spec.ts)', () => {
    expect(getOperator('della').kernel).toEqual({ id: 'task-arithmetic', cfg: { sparsify: 'della', consensus: 'ties' } });
    expect(getOperator('breadcrumbs').kernel).toEqual({ id: 'task-arithmetic', cfg: { sparsify: 'outliers', consensus: 'none' } });
  });
});

describe('federated update', () => {
  it('is base + Σ nᵢΔᵢ / Σ nᵢ', () => {
    const base = f32([0, 10]);
    const u1 = f32([1, 10]); // Δ 1, 0
    const u2 = f32([4, 14]); // Δ 4, 4
    expect([...run('federated', [base, u1, u2], { weights: [3, 1] }, { name: 't', shape: [2], seed: 0 })]).toEqual([
      (3 * 1 + 4) / 4,
      10 + 4 / 4,
    ]);
  });

  it('per-tensor clipping bounds each update’s norm', () => {
    const base = f32([0, 0]);
    const u = f32([3, 4]); // norm 5 → clipped to 1
    const out = run('federated', [base, u], { clipNorm: 1, clipScope: 'tensor' }, { name: 't', shape: [2], seed: 0 });
    expect(out[0]).toBeCloseTo(0.6, 6);
    expect(out[1]).toBeCloseTo(0.8, 6);
  });
});
