/**
 * One training run of a classifier adapter, from a parsed spec and encoded data to the adapter,
 * its PEFT files and the run's manifest; the CLI (cli/commands/train.ts) and the app only read
 * and write files around it. The manifest is the private data manifest: hashes, counts and the
 * names of the data files, never a row of the data.
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { mlpForward, mlpFromTensors } from '../models/mlp.ts';
import type { Suite } from '../eval/suite.ts';
import type { Tensor } from '../tensor.ts';
import { initAdapter, mergeAdapter, type Adapter } from './lora.ts';
import { mlpSites, trainMlpAdapter } from './mlp.ts';
import { ADAMW_DEFAULTS } from './optim.ts';
import { exportPeft, type PeftFiles } from './peft.ts';
import { refuseSuiteOverlap, specLoraConfig, type EncodedData, type KeptApart, type TrainSpec } from './spec.ts';
import type { LoopOptions, StepReport } from './loop.ts';

/** The training engine of the core: the autodiff tape on the CPU, in f32 (the manifests' `engine`). */
export const CPU_ENGINE = 'garden tape (CPU, f32)';

export const TRAINING_MANIFEST = 'garden_training.json';

export interface RunInputs {
  spec: TrainSpec;
  base: { name: string; hash: Sha256Hex; species: Sha256Hex; tensors: readonly Tensor[]; labels: readonly string[] };
  train: EncodedData & { name: string; hash: Sha256Hex };
  validation?: EncodedData & { name: string; hash: Sha256Hex };
  suites: readonly Suite[];
  /** Declared calibration splits (operators/calibration.ts readCalibration) the data must be kept apart from too. */
  calibration?: readonly Suite[];
}

export interface RunResult {
  adapter: Adapter;
  files: PeftFiles;
  merged: Tensor[];
  steps: StepReport[];
  validation?: { rows: number; baseAccuracy: number; adapterAccuracy: number; baseLoss: number; adapterLoss: number };
  manifest: Record<string, unknown>;
}

/** Accuracy and mean cross-entropy of an MLP on encoded rows. */
export function classifierScore(tensors: readonly Tensor[], data: EncodedData): { accuracy: number; loss: number } {
  const p = mlpFromTensors(tensors);
  const n = data.y.length;
  const C = p.shape.classes;
  const logits = mlpForward(p, data.x, n);
  let right = 0;
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const z = logits.subarray(r * C, r * C + C);
    let best = 0;
    for (let c = 1; c < C; c++) if (z[c] > z[best]) best = c;
    if (best === data.y[r]) right++;
    const m = z[best];
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(z[c] - m);
    loss += Math.log(s) + m - z[data.y[r]];
  }
  return { accuracy: right / n, loss: loss / n };
}

const counts = (d: EncodedData, labels: readonly string[]) => Object.fromEntries(labels.map((l, k) => [l, d.counts[k]]));

/** The tensors of the MLP classifier species, exactly (a char LM also has fc1/fc2, and an embedding). */
export const MLP_TENSORS = ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight'];

/** A run set up: the data checked against the suites and a fresh adapter on the base (prepareRun). */
export interface PreparedRun {
  adapter: Adapter;
  /** The suites the data was kept apart from. */
  checked: KeptApart['checked'];
  /** The calibration splits it was kept apart from. */
  calibration: KeptApart['calibration'];
}

/** Check the base and the data (refused when a row equals a frozen suite's or a calibration split's) and make the fresh adapter. */
export function prepareRun(inp: RunInputs): PreparedRun {
  const { spec, base } = inp;
  const names = base.tensors.map((t) => t.name).sort();
  if (names.join() !== MLP_TENSORS.join())
    throw new Error(
      `the base is not of the MLP classifier species (tensors ${names.join(', ')}; expected ${MLP_TENSORS.join(', ')}); garden train trains classifier adapters, or a language model from a "text" spec`,
    );
  const { checked, calibration } = refuseSuiteOverlap(inp.train, inp.suites, spec.data.train, inp.calibration);
  if (inp.validation) refuseSuiteOverlap(inp.validation, inp.suites, spec.data.validation, inp.calibration);
  const sites = mlpSites(base.tensors);
  const byName = new Map(base.tensors.map((t) => [t.name, t]));
  const adapter = initAdapter(specLoraConfig(spec.adapter, base.name, true, null), sites, byName, spec.train.seed, base.species);
  return { adapter, checked, calibration };
}

/** The loop options of a spec's training settings. */
export function loopOptions(t: TrainSpec['train']): LoopOptions {
  return {
    steps: t.steps,
    batch: t.batch,
    seed: t.seed,
    schedule: { kind: t.schedule, lr: t.lr, warmupSteps: t.warmupSteps },
    adamw: { ...ADAMW_DEFAULTS, weightDecay: t.weightDecay },
  };
}

/**
 * The trained adapter merged, in PEFT's files, scored on the validation data, and the manifest of
 * the run; `result` adds fields to the manifest's result (an early stop, say).
 */
export function finishRun(inp: RunInputs, run: PreparedRun, steps: StepReport[], result: Record<string, unknown> = {}): RunResult {
  const { spec, base } = inp;
  const { adapter, checked, calibration } = run;
  if (steps.length === 0) throw new Error('the run took no step');
  const merged = mergeAdapter(base.tensors, adapter);
  const files = exportPeft(adapter);
  let validation: RunResult['validation'];
  if (inp.validation) {
    const b = classifierScore(base.tensors, inp.validation);
    const a = classifierScore(merged, inp.validation);
    validation = {
      rows: inp.validation.y.length,
      baseAccuracy: b.accuracy,
      adapterAccuracy: a.accuracy,
      baseLoss: b.loss,
      adapterLoss: a.loss,
    };
  }
  const data = (d: EncodedData & { name: string; hash: Sha256Hex }) => ({
    file: d.name,
    sha256: d.hash,
    rows: d.y.length,
    labels: counts(d, base.labels),
  });
  const manifest = {
    kind: 'garden-training',
    version: 1,
    engine: CPU_ENGINE,
    base: { file: base.name, sha256: base.hash, species: base.species },
    data: { train: data(inp.train), ...(inp.validation ? { validation: data(inp.validation) } : {}) },
    suitesKeptApart: checked,
    ...(calibration.length ? { calibrationKeptApart: calibration } : {}),
    adapter: spec.adapter,
    train: spec.train,
    result: {
      firstLoss: steps[0].loss,
      lastLoss: steps[steps.length - 1].loss,
      ...(validation ? { validation } : {}),
      adapterWeightsSha256: sha256Hex(files.weights),
      ...result,
    },
  };
  return { adapter, files, merged, steps, ...(validation ? { validation } : {}), manifest };
}

export function runTraining(inp: RunInputs, onStep?: (r: StepReport) => void): RunResult {
  const run = prepareRun(inp);
  const steps = trainMlpAdapter(inp.base.tensors, run.adapter, inp.train.x, inp.train.y, loopOptions(inp.spec.train), onStep);
  return finishRun(inp, run, steps);
}
