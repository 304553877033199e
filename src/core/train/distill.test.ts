import { describe, expect, it } from 'vitest';
import { mlpForward, mlpFromTensors, mlpToTensors } from '../models/mlp.ts';
import { distill, distillLoss, initStudent, mlpParamCount, teacherTargets } from './distill.ts';
import { ADAMW_DEFAULTS } from './optim.ts';
import { softCrossEntropy } from './loss.ts';
import { Tape } from './tape.ts';
import { gradCheck, randoms } from './test-helpers.ts';

const shape = { inputs: 12, hidden: 8, classes: 3 };
const teacher = (seed: number) => {
  const p = initStudent(shape, seed);
  p.w1 = p.w1.map((v) => v * 4);
  p.w2 = p.w2.map((v) => v * 4);
  return mlpToTensors(p);
};
const x = Float32Array.from(randoms(200 * shape.inputs, 5));
const loop = (steps: number) => ({
  steps,
  batch: 32,
  seed: 3,
  schedule: { kind: 'cosine' as const, lr: 0.02, warmupSteps: 10 },
  adamw: ADAMW_DEFAULTS,
});

describe('distillation', () => {
  it("the student's whole soft cross-entropy agrees with central finite differences (float64, every parameter)", () => {
    const s = { inputs: 5, hidden: 4, classes: 3 };
    const xs = Float32Array.from(randoms(6 * 5, 11));
    const targets = teacherTargets([mlpToTensors(initStudent(s, 9))], xs, 6, 2);
    const leaves = [
      { data: randoms(20, 12), rows: 5, cols: 4 },
      { data: randoms(4, 13, 0.5), rows: 1, cols: 4 },
      { data: randoms(12, 14), rows: 4, cols: 3 },
      { data: randoms(3, 15), rows: 1, cols: 3 },
    ];
    const names = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'];
    const r = gradCheck(leaves, (vs) =>
      distillLoss(vs[0].tape, new Map(vs.map((v, k) => [names[k], v])), xs, targets, s, Uint32Array.from([0, 1, 2, 3, 4, 5]), 2),
    );
    expect(r.checked).toBe(39);
    expect(r.worst, r.where).toBeLessThan(1e-7);
  });

  it('the soft cross-entropy is T²·KL(p ‖ softmax(z/T)): zero when the student matches the targets', () => {
    const z = [1, -2, 0.5, 3, 0, -1];
    const T = 2;
    const tape = new Tape('f64');
    const soft = (row: number[]) => {
      const e = row.map((v) => Math.exp(v / T));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    const q = [...soft(z.slice(0, 3)), ...soft(z.slice(3))];
    expect(softCrossEntropy(tape.leaf(z, 2, 3, true), q, T).data[0]).toBeCloseTo(0, 12);
    const p = [0.2, 0.3, 0.5, 0.6, 0.3, 0.1];
    const kl = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]), 0) / 2;
    expect(softCrossEntropy(tape.leaf(z, 2, 3, true), p, T).data[0]).toBeCloseTo(T * T * kl, 12);
    expect(() => softCrossEntropy(tape.leaf(z, 2, 3, true), p.slice(1), T)).toThrow(/5 target values/);
  });

  it('an ensemble target is the mean of the teachers’ softmaxes at T, each row a distribution', () => {
    const [a, b] = [teacher(1), teacher(2)];
    const T = 3;
    const p = teacherTargets([a, b], x, 200, T);
    const soft = (t: typeof a, r: number) => {
      const z = Array.from(mlpForward(mlpFromTensors(t), x.subarray(r * 12, r * 12 + 12), 1), (v) => Math.exp(v / T));
      const s = z.reduce((u, v) => u + v, 0);
      return z.map((v) => v / s);
    };
    for (const r of [0, 7, 199]) {
      const [pa, pb] = [soft(a, r), soft(b, r)];
      for (let c = 0; c < 3; c++) expect(p[r * 3 + c]).toBeCloseTo((pa[c] + pb[c]) / 2, 6);
      expect(p[r * 3] + p[r * 3 + 1] + p[r * 3 + 2]).toBeCloseTo(1, 6);
    }
    expect(() => teacherTargets([a, mlpToTensors(initStudent({ ...shape, classes: 4 }, 1))], x, 200, T)).toThrow(/teacher 2/);
  });

  it('trains a smaller student that follows its teacher, the same bytes from the same seed', () => {
    const t = [teacher(1)];
    const opts = { hidden: 3, temperature: 2, loop: loop(150) };
    const r = distill(t, x, opts);
    expect(r.shape).toEqual({ inputs: 12, hidden: 3, classes: 3 });
    expect(r.studentParams).toBe(mlpParamCount(r.shape));
    expect(r.teacherParams[0] / r.studentParams).toBeGreaterThan(2);
    const first = r.steps.slice(0, 10).reduce((s, v) => s + v.loss, 0);
    const last = r.steps.slice(-10).reduce((s, v) => s + v.loss, 0);
    expect(last).toBeLessThan(first / 2);
    // An untrained student of the same shape agrees with the teacher on about a third of the rows.
    const fresh = distill(t, x, { ...opts, loop: { ...loop(1), schedule: { kind: 'constant' as const, lr: 1e-9, warmupSteps: 0 } } });
    expect(r.agreement).toBeGreaterThan(0.8);
    expect(r.agreement).toBeGreaterThan(fresh.agreement + 0.2);
    expect(distill(t, x, opts).student.map((s) => s.data)).toEqual(r.student.map((s) => s.data));
  });
});
