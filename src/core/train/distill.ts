/**
 * Distillation (Hinton et al., 2015) on the garden's training engine: a teacher (one MLP, or an
 * ensemble: the mean of several MLPs' softmaxes) labels unlabelled inputs with soft targets at a
 * temperature T, and a smaller student of the MLP species (fewer hidden units: a new species)
 * is trained from scratch on them with the soft cross-entropy T²·KL(p ‖ softmax(z/T)) (loss.ts).
 * Pure TypeScript: the CLI (cli/commands/distill.ts) reads and writes the files around it.
 */
import { mlpForward, mlpFromTensors, mlpToTensors, type MlpParams, type MlpShape } from '../models/mlp.ts';
import { mulberry32 } from '../seeded.ts';
import type { Tensor } from '../tensor.ts';
import { relu } from './ops.ts';
import { softCrossEntropy } from './loss.ts';
import { loraLinear } from './mlp.ts';
import { trainLoop, type LoopOptions, type StepReport, type Trainable } from './loop.ts';
import type { Tape, Value } from './tape.ts';

/** Parameters of an MLP (weights and biases), the number a resource objective counts. */
export function mlpParamCount(s: MlpShape): number {
  return s.inputs * s.hidden + s.hidden + s.hidden * s.classes + s.classes;
}

/**
 * The teachers' soft targets for x [n, inputs]: the mean over teachers of softmax(logits / T),
 * [n, classes]. Every teacher must be an MLP with the same inputs and classes.
 */
export function teacherTargets(teachers: readonly (readonly Tensor[])[], x: Float32Array, n: number, temperature: number): Float32Array {
  if (teachers.length === 0) throw new Error('distill needs at least one teacher');
  if (!(temperature > 0)) throw new Error(`temperature must be positive, got ${temperature}`);
  const ps = teachers.map((t) => mlpFromTensors(t));
  const { inputs, classes: C } = ps[0].shape;
  ps.forEach((p, k) => {
    if (p.shape.inputs !== inputs || p.shape.classes !== C)
      throw new Error(`teacher ${k + 1} is an MLP ${p.shape.inputs}→…→${p.shape.classes}; teacher 1 is ${inputs}→…→${C}`);
  });
  const out = new Float64Array(n * C);
  for (const p of ps) {
    const z = mlpForward(p, x, n);
    for (let r = 0; r < n; r++) {
      const o = r * C;
      let max = -Infinity;
      for (let c = 0; c < C; c++) max = Math.max(max, z[o + c] / temperature);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(z[o + c] / temperature - max);
      for (let c = 0; c < C; c++) out[o + c] += Math.exp(z[o + c] / temperature - max) / sum / ps.length;
    }
  }
  return Float32Array.from(out);
}

/** A fresh student, initialised as torch's nn.Linear: weights and biases U(−1/√fan_in, 1/√fan_in), seeded. */
export function initStudent(shape: MlpShape, seed: number): MlpParams {
  const rand = mulberry32(seed);
  const uniform = (n: number, fanIn: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) / Math.sqrt(fanIn));
  return {
    shape,
    w1: uniform(shape.inputs * shape.hidden, shape.inputs),
    b1: uniform(shape.hidden, shape.inputs),
    w2: uniform(shape.hidden * shape.classes, shape.hidden),
    b2: uniform(shape.classes, shape.hidden),
  };
}

/** The student's parameters as trainables over its own arrays (trained in place); biases are not decayed. */
export function studentParams(p: MlpParams): Trainable[] {
  const { inputs: I, hidden: H, classes: C } = p.shape;
  return [
    { name: 'fc1.weight', data: p.w1, rows: I, cols: H, decay: true },
    { name: 'fc1.bias', data: p.b1, rows: 1, cols: H, decay: false },
    { name: 'fc2.weight', data: p.w2, rows: H, cols: C, decay: true },
    { name: 'fc2.bias', data: p.b2, rows: 1, cols: C, decay: false },
  ];
}

/** The MLP's logits relu(x·W1 + b1)·W2 + b2 on the tape, from parameter values by tensor name. */
export function mlpLogits(values: ReadonlyMap<string, Value>, x: Value): Value {
  const v = (name: string) => values.get(name)!;
  const h = relu(loraLinear(x, v('fc1.weight'), 'in-out', v('fc1.bias'), null));
  return loraLinear(h, v('fc2.weight'), 'in-out', v('fc2.bias'), null);
}

/** The soft cross-entropy of the student on rows `batch` of x [n, inputs] against targets [n, classes]. */
export function distillLoss(
  tape: Tape,
  values: ReadonlyMap<string, Value>,
  x: Float32Array,
  targets: Float32Array,
  shape: MlpShape,
  batch: Uint32Array,
  temperature: number,
): Value {
  const { inputs: I, classes: C } = shape;
  const xb = new Float32Array(batch.length * I);
  const pb = new Float32Array(batch.length * C);
  batch.forEach((r, i) => {
    xb.set(x.subarray(r * I, r * I + I), i * I);
    pb.set(targets.subarray(r * C, r * C + C), i * C);
  });
  return softCrossEntropy(mlpLogits(values, tape.leaf(xb, batch.length, I, false, 'x')), pb, temperature);
}

export interface DistillOptions {
  /** Hidden units of the student (the teacher's shape gives inputs and classes). */
  hidden: number;
  temperature: number;
  loop: LoopOptions;
}

export interface DistillResult {
  student: Tensor[];
  shape: MlpShape;
  steps: StepReport[];
  /** Fraction of the inputs on which the student's top class is the top class of the teachers' soft targets. */
  agreement: number;
  teacherParams: number[];
  studentParams: number;
}

/** Distil the teachers into a fresh student MLP on unlabelled inputs x [n, inputs]. */
export function distill(
  teachers: readonly (readonly Tensor[])[],
  x: Float32Array,
  opts: DistillOptions,
  onStep?: (r: StepReport) => void,
): DistillResult {
  const t0 = mlpFromTensors(teachers[0] ?? []).shape;
  const n = x.length / t0.inputs;
  if (!Number.isInteger(n) || n < 1) throw new Error(`${x.length} input values are not whole rows of ${t0.inputs}`);
  if (!Number.isInteger(opts.hidden) || opts.hidden < 1) throw new Error(`hidden must be a positive integer, got ${opts.hidden}`);
  const targets = teacherTargets(teachers, x, n, opts.temperature);
  const shape: MlpShape = { inputs: t0.inputs, hidden: opts.hidden, classes: t0.classes };
  const p = initStudent(shape, opts.loop.seed);
  const steps = trainLoop(
    studentParams(p),
    n,
    (tape, values, batch) => distillLoss(tape, values, x, targets, shape, batch, opts.temperature),
    opts.loop,
    onStep,
  );
  const z = mlpForward(p, x, n);
  const C = shape.classes;
  const argmax = (a: ArrayLike<number>, o: number) => {
    let best = 0;
    for (let c = 1; c < C; c++) if (a[o + c] > a[o + best]) best = c;
    return best;
  };
  let agree = 0;
  for (let r = 0; r < n; r++) if (argmax(z, r * C) === argmax(targets, r * C)) agree++;
  return {
    student: mlpToTensors(p),
    shape,
    steps,
    agreement: agree / n,
    teacherParams: teachers.map((t) => mlpParamCount(mlpFromTensors(t).shape)),
    studentParams: mlpParamCount(shape),
  };
}
