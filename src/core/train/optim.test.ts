import { describe, expect, it } from 'vitest';
import { AdamW, learningRate } from './optim.ts';

describe('AdamW', () => {
  it('a run carried on from its state (another engine taking over) gives the bytes of the uninterrupted run; a wrong state is refused', () => {
    const grads = [0, 1, 2, 3, 4].map((s) => Float64Array.from({ length: 5 }, (_, i) => Math.sin(7 * s + i)));
    const whole = new Float64Array([1, -2, 3, 0.5, -0.25]);
    const one = new AdamW([{ name: 'w', data: whole, decay: true }]);
    grads.forEach((g, s) => one.step([g], 1e-2 * (s + 1)));
    const part = Float64Array.of(1, -2, 3, 0.5, -0.25);
    const first = new AdamW([{ name: 'w', data: part, decay: true }]);
    grads.slice(0, 2).forEach((g, s) => first.step([g], 1e-2 * (s + 1)));
    const rest = new AdamW([{ name: 'w', data: part, decay: true }], undefined, first.state());
    expect(rest.steps).toBe(2);
    grads.slice(2).forEach((g, s) => rest.step([g], 1e-2 * (s + 3)));
    expect(Array.from(part)).toEqual(Array.from(whole));
    expect(() => new AdamW([{ name: 'w', data: new Float64Array(4), decay: true }], undefined, first.state())).toThrow(
      'AdamW state of "w" has 5 values for 4',
    );
  });

  it('first step moves each weight by lr·sign(g) (bias-corrected m/√v = ±1), after the decoupled decay', () => {
    const w = new Float64Array([1, -2, 3]);
    const opt = new AdamW([{ name: 'w', data: w, decay: true }], { beta1: 0.9, beta2: 0.999, eps: 0, weightDecay: 0.1 });
    opt.step([new Float64Array([0.5, -4, 2])], 0.01);
    expect(w[0]).toBeCloseTo(1 * (1 - 0.001) - 0.01, 12);
    expect(w[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.01, 12);
    expect(w[2]).toBeCloseTo(3 * (1 - 0.001) - 0.01, 12);
  });

  it('decay is decoupled: a zero gradient shrinks decayed weights by exactly (1 − lr·λ) and leaves the others', () => {
    const a = new Float64Array([2, 4]);
    const b = new Float64Array([2, 4]);
    const opt = new AdamW(
      [
        { name: 'a', data: a, decay: true },
        { name: 'b', data: b, decay: false },
      ],
      { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 },
    );
    opt.step([new Float64Array(2), new Float64Array(2)], 0.1);
    expect([...a]).toEqual([2 * 0.95, 4 * 0.95]);
    expect([...b]).toEqual([2, 4]);
  });

  it('second step follows the bias-corrected moments', () => {
    const w = new Float64Array([0]);
    const opt = new AdamW([{ name: 'w', data: w, decay: false }], { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    opt.step([new Float64Array([1])], 0.1);
    opt.step([new Float64Array([3])], 0.1);
    const m = 0.9 * 0.1 + 0.1 * 3;
    const v = 0.999 * 0.001 + 0.001 * 9;
    const expected = -0.1 / (1 + 1e-8) - (0.1 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
    expect(w[0]).toBeCloseTo(expected, 12);
  });
});

describe('schedules (transformers get_*_schedule_with_warmup)', () => {
  const s = { lr: 1, warmupSteps: 10, totalSteps: 110 };
  it('warm-up rises linearly from 0', () => {
    expect(learningRate({ ...s, kind: 'cosine' }, 0)).toBe(0);
    expect(learningRate({ ...s, kind: 'cosine' }, 5)).toBe(0.5);
    expect(learningRate({ ...s, kind: 'cosine' }, 10)).toBe(1);
  });
  it('cosine is half way at the middle of the decay and 0 at the end; linear likewise', () => {
    expect(learningRate({ ...s, kind: 'cosine' }, 60)).toBeCloseTo(0.5, 12);
    expect(learningRate({ ...s, kind: 'cosine' }, 35)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(learningRate({ ...s, kind: 'cosine' }, 110)).toBeCloseTo(0, 12);
    expect(learningRate({ ...s, kind: 'linear' }, 60)).toBeCloseTo(0.5, 12);
    expect(learningRate({ ...s, kind: 'constant' }, 60)).toBe(1);
  });
  it('refuses an unknown schedule, listing the valid ones', () => {
    expect(() => learningRate({ ...s, kind: 'step' as never }, 0)).toThrow(/constant, linear, cosine/);
  });
});
