import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getOperator, OPERATORS, OPERATOR_IDS, listOperators } from './registry.ts';
import { resolveParams } from './params.ts';
import { randomUnit, tensorKey } from './prng.ts';
import { crossoverSource, crossoverThresholds } from './crossover.cpu.ts';
import { tensorStd } from './mutate.cpu.ts';
import { slerpCoefficients, slerpFromSums } from './slerp.cpu.ts';
import { greedySoup, soupWeights } from './soup.cpu.ts';
import { randomModel, randomValues, tiedValues } from './test-data.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { KERNEL_IDS, isKernelId, type ParamValues, type TensorContext } from './types.ts';

const run = (id: keyof typeof OPERATORS, inputs: Float32Array[], params: ParamValues, c: TensorContext) => {
  const op = getOperator(id);
  return op.cpu(inputs, resolveParams(op, params, inputs.length - (op.needsBase ? 1 : 0)), c);
};

describe('registry', () => {
  it('declares every operator once, with its id as key, a version and valid parameter defaults', () => {
    for (const id of [
      'blend',
      'task-delta',
      'sparse-task-delta',
      'dare',
      'ties',
      'dare-ties',
      'breadcrumbs',
      'breadcrumbs-ties',
      'della',
      'della-linear',
      'federated',
      'crossover',
      'mutate',
      'prune',
      'slerp',
      'soup',
      'quantize',
    ]) {
      expect(OPERATOR_IDS).toContain(id);
    }
    expect(new Set(OPERATOR_IDS).size).toBe(OPERATOR_IDS.length);
    for (const op of listOperators()) {
      expect(op.id).toBe(OPERATOR_IDS.find((id) => OPERATORS[id] === op));
      expect(op.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(op.description.length).toBeGreaterThan(20);
      for (const p of op.params) {
        if (p.type === 'enum') expect(p.options).toContain(p.default);
        if (typeof p.default === 'number') {
          expect(p.default).toBeGreaterThanOrEqual(p.min ?? -Infinity);
          expect(p.default).toBeLessThanOrEqual(p.max ?? Infinity);
        }
      }
      // defaults alone are a valid parameter set
      expect(() => resolveParams(op, {}, op.parents.min)).not.toThrow();
    }
  });

  it('unknown ids and parameters fail listing the valid ones', () => {
    expect(() => getOperator('nope')).toThrow(/unknown operator "nope"; valid: blend, task-delta, .*quantize/);
    expect(() => resolveParams(getOperator('ties'), { dens: 0.3 }, 2)).toThrow(
      /unknown parameter "dens"; valid: weights, lambda, normalize, density, trimScope, rescale/,
    );
    expect(() => resolveParams(getOperator('ties'), { density: 2 }, 2)).toThrow(/"density" is 2, above the maximum 1/);
    expect(() => resolveParams(getOperator('crossover'), { granularity: 'col' }, 2)).toThrow(/valid: element, row, tensor/);
    expect(() => resolveParams(getOperator('blend'), { weights: [1] }, 2)).toThrow(/1 values for 2 parents/);
  });

  it('kernel ids are a closed set: every operator names one, and every kernel serves some operator', () => {
    expect(Object.isFrozen(KERNEL_IDS)).toBe(true);
    // An operator without a kernel runs on the CPU reference everywhere (the GPU backend refuses it).
    for (const op of listOperators()) if (op.kernel) expect(isKernelId(op.kernel.id), `${op.id}: kernel "${op.kernel.id}"`).toBe(true);
    for (const k of KERNEL_IDS)
      expect(
        listOperators().some((o) => o.kernel?.id === k),
        `kernel ${k} is used`,
      ).toBe(true);
    // What differs between the members of a shared kernel is declared on the operator's kernel settings.
    for (const op of listOperators()) {
      if (op.kernel?.id === 'blend') expect(op.kernel.weights, op.id).toBeTypeOf('function');
      if (op.kernel?.id === 'task-arithmetic') expect(op.kernel.cfg.sparsify, op.id).toBeTypeOf('string');
    }
  });

  it('operators on the blend kernel compute Σ fround(wᵢ·xᵢ) / divisor with the weights they declare (what the GPU kernel is given)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 2, max: 6 }),
        fc.constantFrom('blend', 'soup'),
        fc.constantFrom('uniform', 'seeded'),
        (seed, n, k, id, mode) => {
          const op = getOperator(id);
          const xs = Array.from({ length: k }, (_, p) => randomValues(seed + p, n));
          const raw: ParamValues = id === 'soup' ? { mode } : { weights: Array.from({ length: k }, (_, p) => p + 1) };
          const params = resolveParams(op, raw, k);
          if (op.kernel?.id !== 'blend') throw new Error(`${id} is not on the blend kernel`);
          const { weights: w, divisor } = op.kernel.weights(params, k, seed);
          const expected = new Float32Array(n);
          for (let p = 0; p < k; p++) for (let i = 0; i < n; i++) expected[i] = Math.fround(expected[i] + Math.fround(w[p] * xs[p][i]));
          for (let i = 0; i < n; i++) expected[i] = Math.fround(expected[i] / divisor);
          expect(op.cpu(xs, params, { name: 'w', shape: [n], seed })).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the task-arithmetic family shares one kernel, parameters following the settings', () => {
    const family = listOperators()
      .filter((o) => o.kernel?.id === 'task-arithmetic')
      .map((o) => o.id);
    expect(family).toEqual([
      'task-delta',
      'sparse-task-delta',
      'dare',
      'ties',
      'dare-ties',
      'breadcrumbs',
      'breadcrumbs-ties',
      'della',
      'della-linear',
      'federated',
    ]);
    const names = (id: string) => getOperator(id).params.map((p) => p.name);
    expect(names('task-delta')).not.toContain('density');
    expect(names('dare')).toContain('drop');
    expect(names('dare')).not.toContain('density');
    expect(names('federated')).toContain('clipNorm');
  });
});

describe('blend', () => {
  it('of identical parents is the parent (exactly for two halves, within an ulp otherwise)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 2, max: 6 }), (seed, n, k) => {
        const x = randomValues(seed, n);
        const c = { name: 'w', shape: [n], seed };
        expect(run('blend', [x, x], {}, c)).toEqual(x);
        const out = run('blend', new Array(k).fill(x), {}, c);
        for (let i = 0; i < n; i++) expect(Math.abs(out[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 4e-7);
      }),
      { numRuns: 50 },
    );
  });
});

describe('crossover', () => {
  const a = new Float32Array(12).fill(1);
  const b = new Float32Array(12).fill(2);
  it('element: parent 0 exactly where randomUnit(key, i, 0) < 0.5', () => {
    const out = run('crossover', [a, b], { granularity: 'element' }, { name: 'w', shape: [3, 4], seed: 11 });
    const key = tensorKey(11, 'w');
    expect([...out]).toEqual(Array.from({ length: 12 }, (_, i) => (randomUnit(key, i, 0) < 0.5 ? 1 : 2)));
  });
  it('row: one draw per row (index = row), whole rows from one parent', () => {
    const out = run('crossover', [a, b], { granularity: 'row' }, { name: 'w', shape: [3, 4], seed: 11 });
    const key = tensorKey(11, 'w');
    expect([...out]).toEqual(Array.from({ length: 12 }, (_, i) => (randomUnit(key, Math.floor(i / 4), 0) < 0.5 ? 1 : 2)));
  });
  it('tensor: one draw (index 0) for the whole tensor', () => {
    const out = run('crossover', [a, b], { granularity: 'tensor' }, { name: 'w', shape: [3, 4], seed: 11 });
    expect(new Set(out).size).toBe(1);
    expect(out[0]).toBe(randomUnit(tensorKey(11, 'w'), 0, 0) < 0.5 ? 1 : 2);
  });
  it('weights set the odds through float32 cumulative thresholds; chunks with offsets match the whole', () => {
    expect([...crossoverThresholds([1, 1, 2])]).toEqual([0.25, 0.5, 1]);
    const n = 20000;
    const c = { name: 'big', shape: [100, 200], seed: 5 };
    const src = crossoverSource({ weights: [1, 3] }, c, 2, n);
    const frac0 = src.reduce((s, p) => s + (p === 0 ? 1 : 0), 0) / n;
    expect(frac0).toBeGreaterThan(0.23);
    expect(frac0).toBeLessThan(0.27);
    for (const granularity of ['element', 'row']) {
      const whole = crossoverSource({ granularity }, c, 2, n);
      const h = 7777;
      const parts = [
        ...crossoverSource({ granularity }, { ...c, offset: 0 }, 2, h),
        ...crossoverSource({ granularity }, { ...c, offset: h }, 2, n - h),
      ];
      expect(parts).toEqual([...whole]);
    }
  });
  it('same seed same mask, another seed another mask', () => {
    const c = { name: 'w', shape: [64], seed: 1 };
    expect(crossoverSource({}, c, 2, 64)).toEqual(crossoverSource({}, c, 2, 64));
    expect(crossoverSource({}, c, 2, 64)).not.toEqual(crossoverSource({}, { ...c, seed: 2 }, 2, 64));
  });
});

describe('bounded mutation', () => {
  it('never moves a weight by more than ε, uses noise of the tensor’s scale, and is seeded', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.double({ min: 0, max: 0.1, noNaN: true }), (seed, eps) => {
        const x = randomValues(seed, 500, 0.3);
        const c = { name: 'w', shape: [500], seed };
        const out = run('mutate', [x], { strength: 0.5, epsilon: eps }, c);
        for (let i = 0; i < x.length; i++)
          expect(Math.abs(out[i] - x[i])).toBeLessThanOrEqual(Math.fround(eps) * (1 + 1e-6) + Math.abs(x[i]) * 1.2e-7);
        expect(run('mutate', [x], { strength: 0.5, epsilon: eps }, c)).toEqual(out);
      }),
      { numRuns: 30 },
    );
  });
  it('unclipped noise has standard deviation strength·σ; rate mutates that fraction', () => {
    const n = 100_000;
    const x = randomValues(3, n, 2);
    const out = run('mutate', [x], { strength: 0.1, epsilon: 100 }, { name: 'w', shape: [n], seed: 1 });
    const noise = Float32Array.from(out, (v, i) => v - x[i]);
    expect(tensorStd(noise) / (0.1 * tensorStd(x))).toBeCloseTo(1, 1);
    const some = run('mutate', [x], { strength: 0.1, epsilon: 100, rate: 0.25 }, { name: 'w', shape: [n], seed: 1 });
    const changed = some.reduce((s, v, i) => s + (v !== x[i] ? 1 : 0), 0) / n;
    expect(changed).toBeGreaterThan(0.24);
    expect(changed).toBeLessThan(0.26);
    expect(run('mutate', [x], { strength: 0.1 }, { name: 'w', shape: [n], seed: 2 })).not.toEqual(
      run('mutate', [x], { strength: 0.1 }, { name: 'w', shape: [n], seed: 1 }),
    );
  });
});

describe('magnitude pruning', () => {
  it('zeros round(f·n) smallest, lower index first at a tie (hand-checked)', () => {
    const x = Float32Array.from([0.5, -2, 2, 0.25, -0.25, 1, 2, -0.5]);
    // f = 0.5 → 4 pruned: ±0.25 (indices 3, 4), then the 0.5s at indices 0 and 7
    expect([...run('prune', [x], { fraction: 0.5 }, { name: 'w', shape: [2, 4], seed: 0 })]).toEqual([0, -2, 2, 0, 0, 1, 2, 0]);
    // f = 0.7 → round(5.6) = 6: also 1 (index 5), then the first 2 (index 1)
    expect([...run('prune', [x], { fraction: 0.7 }, { name: 'w', shape: [2, 4], seed: 0 })]).toEqual([0, 0, 2, 0, 0, 0, 2, 0]);
  });
  it('prunes exactly n − int((1 − f)·n) of the non-zero elements on random data', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, n, f) => {
          const x = tiedValues(seed, n, 3).map((v) => (v === 0 ? 4 : v)); // no zeros, so the count is visible
          const out = run('prune', [x], { fraction: f }, { name: 'w', shape: [n, 1], seed: 0 });
          expect(out.reduce((s, v) => s + (v === 0 ? 1 : 0), 0)).toBe(n - Math.floor((1 - f) * n));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('blend is mergekit linear', () => {
  it('is Σ fround(wᵢxᵢ) / Σ wᵢ with one division at the end, not a sum over pre-normalised weights', () => {
    const a = randomValues(3, 500);
    const b = randomValues(4, 500);
    const c = randomValues(5, 500);
    const out = run('blend', [a, b, c], { weights: [0.1, 0.2, 0.3] }, { name: 'w', shape: [500], seed: 0 });
    const f = Math.fround;
    const div = f(f(f(0.1) + f(0.2)) + f(0.3));
    let differs = 0;
    for (let i = 0; i < 500; i++) {
      const acc = f(f(f(0 + f(f(0.1) * a[i])) + f(f(0.2) * b[i])) + f(f(0.3) * c[i]));
      expect(out[i]).toBe(f(acc / div));
      const preNormalised = f(f(f(0 + f(f(0.1 / 0.6) * a[i])) + f(f(0.2 / 0.6) * b[i])) + f(f(0.3 / 0.6) * c[i]));
      if (preNormalised !== out[i]) differs++;
    }
    expect(differs).toBeGreaterThan(0); // the two orders really differ on these inputs
    expect([...run('blend', [a, b], { weights: [1, 2], normalize: false }, { name: 'w', shape: [500], seed: 0 }).slice(0, 3)]).toEqual(
      [0, 1, 2].map((i) => f(f(0 + a[i]) + f(2 * b[i]))),
    );
  });
});

describe('slerp', () => {
  it('goes along the arc: halfway between orthogonal unit vectors is (√½, √½)', () => {
    const out = run('slerp', [Float32Array.from([1, 0]), Float32Array.from([0, 1])], { t: 0.5 }, { name: 'w', shape: [2], seed: 0 });
    expect(out[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(out[1]).toBeCloseTo(Math.SQRT1_2, 6);
    const third = slerpCoefficients(Float32Array.from([1, 0]), Float32Array.from([0, 1]), 1 / 3);
    expect(third.s0).toBeCloseTo(Math.cos(Math.PI / 6), 12);
    expect(third.s1).toBeCloseTo(Math.sin(Math.PI / 6), 12);
  });
  it('t = 0 and t = 1 give the parents; nearly colinear parents fall back to a straight line', () => {
    const x = randomValues(1, 50);
    const y = randomValues(2, 50);
    const c = { name: 'w', shape: [50], seed: 0 };
    expect(run('slerp', [x, y], { t: 0 }, c)).toEqual(x);
    for (const [i, v] of run('slerp', [x, y], { t: 1 }, c).entries()) expect(v).toBeCloseTo(y[i], 5);
    const y2 = x.map((v) => v * 2);
    const co = slerpCoefficients(x, y2, 0.25);
    expect(co).toEqual({ s0: 0.75, s1: 0.25, linear: true });
  });
});

describe('slerp coefficients', () => {
  it('come from one function of the sums (the GPU feeds it its reduced sums), invariant to scaling the parents', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 2, max: 500 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, n, t) => {
          const x = randomValues(seed, n);
          const y = randomValues(seed + 1, n);
          let d = 0;
          let a = 0;
          let b = 0;
          for (let i = 0; i < n; i++) {
            d += x[i] * y[i];
            a += x[i] * x[i];
            b += y[i] * y[i];
          }
          const co = slerpFromSums(d, a, b, t);
          expect(slerpCoefficients(x, y, t)).toEqual(co);
          // Scaling both parents by 4 (sums by 16) leaves the angle, and so the coefficients, alone.
          const scaled = slerpFromSums(16 * d, 16 * a, 16 * b, t);
          expect(scaled.linear).toBe(co.linear);
          expect(scaled.s0).toBeCloseTo(co.s0, 12);
          expect(scaled.s1).toBeCloseTo(co.s1, 12);
          if (!co.linear) expect(co.s0 * co.s0 + co.s1 * co.s1 + 2 * co.s0 * co.s1 * (d / Math.sqrt(a * b))).toBeCloseTo(1, 9);
        },
      ),
      { numRuns: 80 },
    );
    expect(slerpFromSums(0, 0, 4, 0.3)).toEqual({ s0: 0.7, s1: 0.3, linear: true });
  });
});

describe('soups', () => {
  it('uniform, weighted and seeded weights', () => {
    const a = Float32Array.from([0, 4]);
    const b = Float32Array.from([2, 0]);
    const c = { name: 'w', shape: [2], seed: 8 };
    expect([...run('soup', [a, b], {}, c)]).toEqual([1, 2]);
    expect([...run('soup', [a, b], { mode: 'weighted', weights: [3, 1] }, c)]).toEqual([0.5, 3]);
    const w = soupWeights({ mode: 'seeded' }, 2, 8);
    expect(w).toEqual([randomUnit(tensorKey(8, 'soup'), 0, 0), randomUnit(tensorKey(8, 'soup'), 1, 0)]);
  });
  it('greedy soup adds a model only when the soup scores at least as well', async () => {
    // score = −distance of fc2.bias[0] to 0.5; candidates hold 0, 1 and 10 there
    const mk = (v: number): Tensor[] =>
      randomModel(1).map((t) => (t.name === 'fc2.bias' ? { ...t, data: new Uint8Array(Float32Array.from([v, 0, 0]).buffer) } : t));
    const models = [mk(10), mk(0), mk(1)];
    const score = (ts: Tensor[]) => -Math.abs(toFloat32(ts.find((t) => t.name === 'fc2.bias')!)[0] - 0.5);
    const r = await greedySoup(models, [0.1, 0.9, 0.5], score);
    expect(r.trials.map((t) => [t.candidate, t.kept])).toEqual([
      [1, true],
      [2, true],
      [0, false],
    ]);
    expect(r.members).toEqual([1, 2]);
    expect(r.score).toBe(-0); // the soup of 0 and 1 sits exactly at 0.5
  });
});
