/**
 * The training loop shared by every species: seeded mini-batches (a fresh mulberry32 permutation
 * of the rows each epoch), one f32 tape per step, AdamW at the schedule's learning rate. Same
 * rows, parameters and seed give the same bytes.
 */
import { mulberry32 } from '../seeded.ts';
import { AdamW, ADAMW_DEFAULTS, learningRate, type AdamWConfig, type AdamWState, type Param, type Schedule } from './optim.ts';
import { Tape, type Value } from './tape.ts';

export interface Trainable extends Param {
  data: Float32Array;
  rows: number;
  cols: number;
}

export interface LoopOptions {
  steps: number;
  batch: number;
  schedule: Omit<Schedule, 'totalSteps'>;
  adamw?: Omit<AdamWConfig, 'lr'>;
  seed: number;
}

export interface StepReport {
  step: number;
  lr: number;
  loss: number;
}

/** A Fisher–Yates permutation of 0..n−1 from a seeded stream. */
export function permutation(n: number, rand: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Batches of row indices: consecutive slices of a permutation, a new permutation when one runs out. */
export function* batches(n: number, batch: number, seed: number): Generator<Uint32Array> {
  if (n < 1) throw new Error('no training rows');
  const rand = mulberry32(seed);
  let perm = permutation(n, rand);
  let at = 0;
  const size = Math.min(batch, n);
  for (;;) {
    const out = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      if (at === n) {
        perm = permutation(n, rand);
        at = 0;
      }
      out[i] = perm[at++];
    }
    yield out;
  }
}

/**
 * The optimizer steps one at a time: each `next()` runs one step and yields its report, so a
 * caller can pause between steps, stop early or give the event loop a turn (the app's worker).
 * `lossOf` builds the forward pass on the given tape from the parameter values (by name) for the
 * batch rows, and returns the scalar loss. `resume` carries on a run another engine took
 * `resume.steps` steps of (params hold its weights): the same batches and rates from there on.
 */
export function* trainSteps(
  params: readonly Trainable[],
  rows: number,
  lossOf: (tape: Tape, values: ReadonlyMap<string, Value>, batch: Uint32Array, step: number) => Value,
  opts: LoopOptions,
  resume?: AdamWState,
): Generator<StepReport, void, undefined> {
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error(`steps must be a positive integer, got ${opts.steps}`);
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new Error(`batch must be a positive integer, got ${opts.batch}`);
  const opt = new AdamW(params, opts.adamw ?? ADAMW_DEFAULTS, resume);
  const schedule: Schedule = { ...opts.schedule, totalSteps: opts.steps };
  const stream = batches(rows, opts.batch, opts.seed);
  for (let s = 0; s < opt.steps; s++) stream.next();
  for (let step = opt.steps; step < opts.steps; step++) {
    const tape = new Tape('f32');
    const values = new Map(params.map((p) => [p.name, tape.param(p.data, p.rows, p.cols, p.name)]));
    const loss = lossOf(tape, values, stream.next().value as Uint32Array, step);
    // A diverged run stops here, before AdamW spreads the NaN into every weight.
    if (!Number.isFinite(loss.data[0]))
      throw new Error(
        `the loss is ${loss.data[0]} at step ${step} (learning rate ${learningRate(schedule, step)}); lower lr or raise warmup_steps`,
      );
    tape.backward(loss);
    const lr = learningRate(schedule, step);
    opt.step(
      params.map((p) => values.get(p.name)!.grad),
      lr,
    );
    yield { step, lr, loss: loss.data[0] };
  }
}

/** Run `steps` optimizer steps (trainSteps to the end); returns the loss per step. */
export function trainLoop(
  params: readonly Trainable[],
  rows: number,
  lossOf: (tape: Tape, values: ReadonlyMap<string, Value>, batch: Uint32Array, step: number) => Value,
  opts: LoopOptions,
  onStep?: (r: StepReport) => void,
): StepReport[] {
  return runSteps(trainSteps(params, rows, lossOf, opts), onStep);
}

/** Every step of a step generator, in order; returns their reports. */
export function runSteps(steps: Iterable<StepReport>, onStep?: (r: StepReport) => void): StepReport[] {
  const reports: StepReport[] = [];
  for (const r of steps) {
    reports.push(r);
    onStep?.(r);
  }
  return reports;
}
