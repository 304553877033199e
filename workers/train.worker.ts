/**
 * The training worker: a thin Comlink adapter over the training engine (src/core/train). It is
 * handed the base tensors, the user's encoded examples and the frozen suites' bytes as data (it
 * holds no store), refuses data that shares a model input with a suite, trains one step at a time
 * on WebGPU's training kernels where a hardware adapter is present (src/gpu/train/run.ts
 * adapterSteps: a software adapter, or a trainer that cannot be built, trains on the CPU tape of
 * src/core/train; the manifest's `engine` names which ran), and between steps gives the event loop a turn so
 * that pause, resume and cancel arrive. Validation loss after every epoch; the run stops early when
 * `patience` epochs pass without a new lowest validation loss, and keeps the adapter of that epoch.
 */
import * as Comlink from 'comlink';
import { holdLife } from './life.ts';
import { readSuite } from '../src/core/eval/suite.ts';
import { mergeAdapter, type Adapter } from '../src/core/train/lora.ts';
import { adapterSteps } from '../src/gpu/train/run.ts';
import { classifierScore, finishRun, prepareRun, type RunInputs, type RunResult } from '../src/core/train/run.ts';
import type { StepReport } from '../src/core/train/loop.ts';
import type { Tensor } from '../src/core/tensor.ts';

export interface TrainJob {
  inputs: Omit<RunInputs, 'suites'>;
  /** The frozen suites to keep the data apart from, each checked against its pin. */
  suites: { bytes: Uint8Array; hash: string }[];
  stepsPerEpoch: number;
  /** Epochs without a better validation loss before the run stops; 0: never stop early. */
  patience: number;
}

export interface TrainProgress {
  /** Steps done, of `total`. */
  step: number;
  total: number;
  epoch: number;
  /** The training loss of each step since the last report. */
  losses: { step: number; loss: number }[];
  /** The validation loss and accuracy, at the end of an epoch. */
  validation?: { step: number; loss: number; accuracy: number };
  elapsedMs: number;
  paused: boolean;
}

export interface TrainOutcome {
  config: string;
  weights: Uint8Array;
  merged: Tensor[];
  manifest: Record<string, unknown>;
  stepsRun: number;
  earlyStop: { epoch: number; bestEpoch: number } | null;
  ms: number;
  validation?: RunResult['validation'];
}

export class TrainCancelled extends Error {
  override name = 'TrainCancelled';
}

let running = false;
let cancelled = false;
let paused: { resume: () => void; promise: Promise<void> } | null = null;

/** The arrays an adapter trains in place (LoRA A and B, the saved tensors' bytes). */
function trained(a: Adapter): (Float32Array | Uint8Array)[] {
  return [...[...a.lora.values()].flatMap((p) => [p.a, p.b]), ...[...a.saved.values()].map((t) => t.data)];
}
/** A copy of them: the best epoch's adapter. */
const snapshot = (a: Adapter) => trained(a).map((x) => x.slice());
function restore(a: Adapter, s: (Float32Array | Uint8Array)[]): void {
  trained(a).forEach((arr, k) => (arr as Uint8Array).set(s[k] as Uint8Array));
}

/** The pause in force, read afresh (pause() and resume() arrive while the loop awaits). */
const pausedNow = () => paused;
const turn = () => new Promise<void>((r) => setTimeout(r, 0));

const api = {
  alive: holdLife,

  pause(): void {
    if (!running || paused) return;
    let resume!: () => void;
    const promise = new Promise<void>((r) => (resume = r));
    paused = { resume, promise };
  },

  resume(): void {
    const p = paused;
    paused = null;
    p?.resume();
  },

  /** Stop the run after its current step; train() rejects with TrainCancelled and returns nothing. */
  cancel(): void {
    cancelled = true;
    api.resume();
  },

  async train(job: TrainJob, onProgress: (p: TrainProgress) => void): Promise<TrainOutcome> {
    if (running) throw new Error('a training run is already going in this worker');
    running = true;
    cancelled = false;
    paused = null;
    try {
      const inp: RunInputs = { ...job.inputs, suites: job.suites.map((s) => readSuite(s.bytes, s.hash)) };
      const run = prepareRun(inp);
      const t0 = performance.now();
      const steps: StepReport[] = [];
      const total = inp.spec.train.steps;
      let pending: { step: number; loss: number }[] = [];
      let lastPost = 0;
      let best = { loss: Infinity, epoch: 0, weights: snapshot(run.adapter) };
      let earlyStop: TrainOutcome['earlyStop'] = null;
      const post = (validation?: TrainProgress['validation']) => {
        onProgress({
          step: steps.length,
          total,
          epoch: Math.floor(steps.length / job.stepsPerEpoch),
          losses: pending,
          ...(validation ? { validation } : {}),
          elapsedMs: performance.now() - t0,
          paused: !!paused,
        });
        pending = [];
        lastPost = performance.now();
      };
      const engine = await adapterSteps(inp, run); // WebGPU when available, CPU fallback
      try {
        for await (const r of engine.steps) {
          steps.push(r);
          pending.push({ step: r.step + 1, loss: r.loss });
          const epochEnd = steps.length % job.stepsPerEpoch === 0;
          if (epochEnd && inp.validation) {
            const epoch = steps.length / job.stepsPerEpoch;
            const v = classifierScore(mergeAdapter(inp.base.tensors, run.adapter), inp.validation);
            post({ step: steps.length, loss: v.loss, accuracy: v.accuracy });
            if (v.loss < best.loss) best = { loss: v.loss, epoch, weights: snapshot(run.adapter) };
            else if (job.patience > 0 && epoch - best.epoch >= job.patience) {
              earlyStop = { epoch, bestEpoch: best.epoch };
              break;
            }
          } else if (performance.now() - lastPost > 100) post();
          if (performance.now() - lastPost > 25 || pausedNow()) await turn();
          const hold = pausedNow();
          if (hold) {
            post();
            await hold.promise;
            post();
          }
          if (cancelled) throw new TrainCancelled(`cancelled at step ${steps.length} of ${total}: nothing was kept`);
        }
      } finally {
        engine.close();
      }
      if (pending.length) post();
      // An early stop keeps the adapter of the best epoch (its validation loss is the run's best).
      if (earlyStop) restore(run.adapter, best.weights);
      const ms = performance.now() - t0;
      const result = finishRun(inp, run, steps, {
        stepsRun: steps.length,
        ...(earlyStop ? { earlyStop } : {}),
        engine: engine.engine,
        seconds: Math.round(ms) / 1000,
        examplesPerSecond: Math.round((steps.length * Math.min(inp.spec.train.batch, inp.train.y.length)) / (ms / 1000)),
      });
      result.manifest.engine = engine.engine;
      const weights = result.files.weights;
      return Comlink.transfer(
        {
          config: result.files.config,
          weights,
          merged: result.merged,
          manifest: result.manifest,
          stepsRun: steps.length,
          earlyStop,
          ms,
          ...(result.validation ? { validation: result.validation } : {}),
        },
        [weights.buffer as ArrayBuffer],
      );
    } finally {
      running = false;
      paused = null;
    }
  },
};

export type TrainWorkerApi = typeof api;

Comlink.expose(api);
