import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getOperator } from '../../core/operators/registry.ts';
import { resolveParams } from '../../core/operators/params.ts';
import { tensorStd } from '../../core/operators/mutate.cpu.ts';
import { randomValues } from '../../core/operators/test-data.ts';
import { ulpDiff } from '../compare.ts';
import { preparedStd } from './mutate.gpu.ts';

const op = getOperator('mutate');
const mutate = (x: Float32Array, params: Record<string, number>, seed: number) =>
  op.cpu([x], { ...resolveParams(op, params, 1) }, { name: 'w', shape: [x.length], seed });

describe('GPU mutate takes std only as a prepared parameter', () => {
  it('refuses a missing, non-finite or negative std with a message naming the tensor', () => {
    expect(() => preparedStd({}, 'layers.0.w')).toThrow(/^mutate on the GPU needs the prepared parameter std for "layers\.0\.w" \(got none\): run it through breed/);
    expect(() => preparedStd({ std: Number.NaN }, 'w')).toThrow(/\(got null\)/);
    expect(() => preparedStd({ std: -1 }, 'w')).toThrow(/\(got -1\)/);
    expect(() => preparedStd({ std: '0.3' }, 'w')).toThrow(/\(got "0\.3"\)/);
    fc.assert(fc.property(fc.double({ min: 0, max: 1e30, noNaN: true }), (s) => preparedStd({ std: s }, 'w') === s));
  });

  it("breed's pre-pass gives the std mutateCpu would compute itself (so GPU breeds are byte-exact)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 3000 }), (seed, n) => {
        const x = randomValues(seed, n, 0.2);
        const derived = op.prepare!({ names: ['w'], shapes: [[n]], inputs: () => [x] }, {}, seed).w;
        expect(derived.std).toBe(tensorStd(x));
        const params = { strength: 0.5, epsilon: 0.5 };
        expect(op.cpu([x], { ...resolveParams(op, params, 1), ...derived }, { name: 'w', shape: [n], seed })).toEqual(mutate(x, params, seed));
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
