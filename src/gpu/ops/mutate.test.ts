import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getOperator } from '../../core/operators/registry.ts';
import { resolveParams } from '../../core/operators/params.ts';
import { tensorStd } from '../../core/operators/mutate.cpu.ts';
import { randomModel } from '../../core/operators/test-data.ts';
import { breed } from '../../core/operators/breed.ts';
import { cpuBackend, type KernelBackend } from '../../core/operators/backend.ts';
import { toFloat32 } from '../../core/tensor.ts';
import { ulpDiff } from '../compare.ts';
import { preparedStd } from './mutate.gpu.ts';

const op = getOperator('mutate');
const mutate = (x: Float32Array, params: Record<string, number>, seed: number, name = 'w') =>
  op.cpu([x], { ...resolveParams(op, params, 1) }, { name, shape: [x.length], seed });

describe('GPU mutate takes std only as a prepared parameter', () => {
  it('refuses a missing, non-finite or negative std with a message naming the tensor', () => {
    expect(() => preparedStd({}, 'layers.0.w')).toThrow(
      /^mutate on the GPU needs the prepared parameter std for "layers\.0\.w" \(got none\): run it through breed/,
    );
    expect(() => preparedStd({ std: Number.NaN }, 'w')).toThrow(/\(got null\)/);
    expect(() => preparedStd({ std: -1 }, 'w')).toThrow(/\(got -1\)/);
    expect(() => preparedStd({ std: '0.3' }, 'w')).toThrow(/\(got "0\.3"\)/);
    fc.assert(fc.property(fc.double({ min: 0, max: 1e30, noNaN: true }), (s) => preparedStd({ std: s }, 'w') === s));
  });

  // The population standard deviation, restated here from its definition: mean and squared
  // deviations summed in float64 in element order, divided by n (not n - 1).
  const restatedStd = (x: Float32Array) => {
    if (x.length === 0) return 0;
    let sum = 0;
    for (const v of x) sum += v;
    const mean = sum / x.length;
    let sq = 0;
    for (const v of x) sq += (v - mean) ** 2;
    return Math.sqrt(sq / x.length);
  };

  it('the std is the population standard deviation (known values)', () => {
    expect(tensorStd(Float32Array.from([1, 2, 3, 4]))).toBe(Math.sqrt(1.25));
    expect(tensorStd(Float32Array.from([2, 4, 4, 4, 5, 5, 7, 9]))).toBe(2);
    expect(tensorStd(new Float32Array(5).fill(0.3))).toBe(0);
    expect(tensorStd(new Float32Array(0))).toBe(0);
  });

  it("breed hands every mutate call its tensor's std, as the restatement computes it, and mutateCpu's own fallback agrees", async () => {
    const seen = new Map<string, unknown>();
    const spy: KernelBackend = {
      ...cpuBackend,
      run: (o, inputs, params, ctx) => {
        seen.set(ctx.name, params.std);
        return cpuBackend.run(o, inputs, params, ctx);
      },
    };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1e6 }), async (seed) => {
        const model = randomModel(seed, 7, 5, 3, 0.2);
        seen.clear();
        const r = await breed({ operator: 'mutate', params: { strength: 0.5, epsilon: 0.5 }, seed, parents: [model] }, spy);
        for (const [i, t] of model.entries()) {
          const x = toFloat32(t);
          expect(seen.get(t.name), t.name).toBe(restatedStd(x));
          // Without a prepared std, mutateCpu computes its own: the same bytes as breed's.
          expect(toFloat32(r.tensors[i])).toEqual(mutate(x, { strength: 0.5, epsilon: 0.5 }, seed, t.name));
        }
      }),
      { numRuns: 30 },
    );
  });

  it('why it is required: a std one float32 ULP off moves outputs by far more than 4 ULP where x + noise nearly cancels', () => {
    const n = 4096;
    const std = 0.3;
    const params = { strength: 1, epsilon: 10 };
    // The noise itself: mutate zeros.
    const noise = op.cpu([new Float32Array(n)], { ...resolveParams(op, params, 1), std }, { name: 'w', shape: [n], seed: 7 });
    // Weights that nearly cancel it.
    const x = Float32Array.from(noise, (v) => -v * (1 - 2 ** -18));
    const run = (s: number) => op.cpu([x], { ...resolveParams(op, params, 1), std: s }, { name: 'w', shape: [n], seed: 7 });
    const exact = run(std);
    const nudged = run(std * (1 + 2 ** -23));
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, ulpDiff(exact[i], nudged[i]));
    expect(worst).toBeGreaterThan(65_536);
    expect(run(std)).toEqual(exact);
  });
});
