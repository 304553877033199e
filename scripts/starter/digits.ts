/**
 * The DIGITS family: an MLP 784 → hidden (ReLU) → 10 on MNIST. A base trained briefly on clean
 * digits, and specialists fine-tuned from it on one condition each (rotated, thick, noisy).
 * Suites come from the held-out MNIST test set, disjoint slices per suite.
 */
import { mlpGraph, mlpToTensors, MLP_INPUT, MLP_OUTPUT } from '../../src/core/models/mlp.ts';
import { applyCondition, DIGIT_CONDITIONS, type DigitCondition } from './augment.ts';
import { FamilyWriter, seconds, type FamilyBuild } from './family.ts';
import { loadMnist, MNIST_PIXELS, type MnistSet } from './mnist.ts';
import { Rng } from './rng.ts';
import { cloneMlp, initMlp, trainMlp } from './train-mlp.ts';

export interface DigitsConfig {
  hidden: number;
  seed: number;
  base: { rows: number; epochs: number; lr: number; batch: number };
  specialist: { rows: number; epochs: number; lr: number; batch: number };
  /** Rows per suite, taken from disjoint slices of a seeded permutation of the MNIST test set. */
  suites: Record<DigitSuiteId, number>;
}

export const DIGIT_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export const DIGIT_SPECIALISTS = Object.freeze(['rotated', 'thick', 'noisy'] as const satisfies readonly DigitCondition[]);

const SUITES = Object.freeze({
  test: { condition: 'none', name: 'Held-out digits', primary: true },
  rotated: { condition: 'rotated', name: 'Rotated digits', primary: false },
  thick: { condition: 'thick', name: 'Thick-stroke digits', primary: false },
  noisy: { condition: 'noisy', name: 'Noisy digits', primary: false },
  robust: { condition: 'robust', name: 'Robustness: noise + shift', primary: false },
  mixed: { condition: 'mixed', name: 'Mixed conditions (rotated / thick / noisy)', primary: false },
} as const);
export type DigitSuiteId = keyof typeof SUITES;

export const DIGITS_DEFAULT: DigitsConfig = Object.freeze({
  hidden: 64,
  seed: 20261123,
  base: { rows: 30000, epochs: 3, lr: 0.002, batch: 64 },
  specialist: { rows: 8000, epochs: 2, lr: 0.001, batch: 64 },
  suites: { test: 2000, rotated: 1000, thick: 1000, noisy: 1000, robust: 1000, mixed: 1500 },
});

/** A configuration small enough for a unit test (about a second). */
export const DIGITS_TINY: DigitsConfig = Object.freeze({
  hidden: 16,
  seed: 7,
  base: { rows: 600, epochs: 1, lr: 0.003, batch: 32 },
  specialist: { rows: 200, epochs: 1, lr: 0.002, batch: 32 },
  suites: { test: 50, rotated: 20, thick: 20, noisy: 20, robust: 20, mixed: 30 },
});

function toFloat(set: MnistSet, index: number): Float32Array {
  const out = new Float32Array(MNIST_PIXELS);
  const src = set.images.subarray(index * MNIST_PIXELS, (index + 1) * MNIST_PIXELS);
  for (let i = 0; i < MNIST_PIXELS; i++) out[i] = src[i] / 255;
  return out;
}

/** Rows `idx` of `set` under a condition, as float model inputs and labels. */
function conditioned(set: MnistSet, idx: Int32Array, cond: DigitCondition | 'mixed', rng: Rng): { x: Float32Array; y: Uint8Array } {
  const x = new Float32Array(idx.length * MNIST_PIXELS);
  const y = new Uint8Array(idx.length);
  const mix: DigitCondition[] = ['rotated', 'thick', 'noisy'];
  for (let r = 0; r < idx.length; r++) {
    const c = cond === 'mixed' ? mix[r % mix.length] : cond;
    x.set(applyCondition(toFloat(set, idx[r]), c, rng), r * MNIST_PIXELS);
    y[r] = set.labels[idx[r]];
  }
  return { x, y };
}

/** Quantise [0, 1] floats to bytes for a compact suite (the evaluator scales by 1/255). */
function quantise(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, x[i])) * 255);
  return out;
}

export function buildDigits(cfg: DigitsConfig = DIGITS_DEFAULT): FamilyBuild {
  const timings: Record<string, number> = {};
  let t0 = performance.now();
  const train = loadMnist('train');
  const test = loadMnist('t10k');
  timings.load = seconds(t0);

  const shape = { inputs: MNIST_PIXELS, hidden: cfg.hidden, classes: 10 };
  const w = new FamilyWriter('digits', mlpGraph(shape, 'digits'), DIGIT_LABELS);

  // Training rows: a seeded permutation of the training set, base first, then one slice per specialist.
  const trainOrder = new Rng(cfg.seed).permutation(train.count);
  const need = cfg.base.rows + DIGIT_SPECIALISTS.length * cfg.specialist.rows;
  if (need > train.count) throw new Error(`digits config needs ${need} training rows; MNIST has ${train.count}`);

  t0 = performance.now();
  const base = initMlp(shape, cfg.seed + 1);
  const baseData = conditioned(train, trainOrder.subarray(0, cfg.base.rows), 'none', new Rng(cfg.seed + 2));
  trainMlp(base, baseData.x, baseData.y, { ...cfg.base, seed: cfg.seed + 3, decay: 0.7 });
  timings.base = seconds(t0);
  w.addModel(
    {
      id: 'digits-base',
      name: 'Digits base',
      role: 'base',
      description: `MLP 784→${cfg.hidden}→10 trained for ${cfg.base.epochs} epochs on ${cfg.base.rows} clean MNIST digits`,
    },
    'base.slm',
    mlpToTensors(base),
  );

  DIGIT_SPECIALISTS.forEach((cond, k) => {
    t0 = performance.now();
    const start = cfg.base.rows + k * cfg.specialist.rows;
    const data = conditioned(train, trainOrder.subarray(start, start + cfg.specialist.rows), cond, new Rng(cfg.seed + 10 + k));
    const p = cloneMlp(base);
    trainMlp(p, data.x, data.y, { ...cfg.specialist, seed: cfg.seed + 20 + k, decay: 0.7 });
    timings[cond] = seconds(t0);
    w.addModel(
      {
        id: `digits-${cond}`,
        name: `Digits ${cond} specialist`,
        role: 'specialist',
        speciality: `digits-${cond}`,
        description: `the base fine-tuned for ${cfg.specialist.epochs} epochs on ${cfg.specialist.rows} ${DIGIT_CONDITIONS[cond].description}`,
      },
      `${cond}.slm`,
      mlpToTensors(p),
    );
  });

  t0 = performance.now();
  const testOrder = new Rng(cfg.seed + 100).permutation(test.count);
  let offset = 0;
  (Object.keys(SUITES) as DigitSuiteId[]).forEach((id, k) => {
    const s = SUITES[id];
    const n = cfg.suites[id];
    if (offset + n > test.count) throw new Error(`digits suites need more than the ${test.count} MNIST test rows`);
    const data = conditioned(test, testOrder.subarray(offset, offset + n), s.condition, new Rng(cfg.seed + 200 + k));
    offset += n;
    const perturbation = s.condition === 'mixed' ? 'mixed(rotate | dilate | noise)' : DIGIT_CONDITIONS[s.condition].perturbation;
    const description =
      s.condition === 'mixed'
        ? `${n} held-out MNIST test digits, a third each rotated, thickened and noisy (the specialists' conditions combined)`
        : `${n} held-out MNIST test digits: ${DIGIT_CONDITIONS[s.condition].description}`;
    w.addSuite(
      {
        id: `digits-${id}`,
        name: s.name,
        family: 'digits',
        task: 'classify',
        perturbation,
        description,
        classes: 10,
        scale: 1 / 255,
        ...(id === 'robust' ? { baseline: 'digits-test' } : {}),
      },
      { dtype: 'U8', data: quantise(data.x), featureSize: MNIST_PIXELS },
      data.y,
      s.primary,
      `${id}.suite`,
    );
  });
  timings.suites = seconds(t0);

  return {
    files: w.files,
    timings,
    notes: [],
    entry: w.entry({
      id: 'digits',
      name: 'Handwritten digits',
      description: 'Classify a 28×28 handwritten digit (MNIST). A small MLP; specialists for rotated, thick-stroke and noisy digits.',
      input: { name: MLP_INPUT, shape: [MNIST_PIXELS], kind: 'image28' },
      output: { name: MLP_OUTPUT, labels: DIGIT_LABELS },
    }),
  };
}
