/**
 * The training worker: a thin Comlink adapter over the training engine (src/core/train). It is
 * handed the base tensors, the user's encoded examples and the frozen suites' bytes as data (it
 * holds no store), refuses data that shares a model input with a suite, trains one step at a time
 * on WebGPU's training kernels where a hardware adapter is present (src/gpu/train/run.ts
 * adapterSteps: a software adapter, or a trainer that cannot be built, trains on the CPU tape of
 * src/core/train; the manifest's `engine` names which ran), and between steps gives the event loop a turn so
 * that pause, resume and cancel arrive. Validation loss after every epoch; the run stops early when
 * `patience` epochs pass without a new lowest validation loss, and keeps the adapter of that epoch.
 *
 * trainLm is the language-model lab's run (src/app/lm-train.ts): a LoRA of a Llama-family base
 * (handed over as its one-shard .slm, the identity the lab's lineage names) on the user's text,
 * driven event by event through the core's llamaTrainingRun (the wall against the suite texts,
 * the seeded split, validation every `eval_every` steps and the early stop on it), on WebGPU's
 * kernels where the adapter is hardware (src/gpu/train/run.ts llamaAdapterEngine), else the CPU
 * tape; then the adapter merged into the candidate .slm (operator lora-merge) with its documents,
 * and the base and the candidate scored on a held-out text when one is given.
 */
import * as Comlink from 'comlink';
import { holdLife } from './life.ts';
import { readSuite } from '../src/core/eval/suite.ts';
import { mergeAdapter, type Adapter } from '../src/core/train/lora.ts';
import { adapterSteps, llamaAdapterEngine } from '../src/gpu/train/run.ts';
import { classifierScore, finishRun, prepareRun, type RunInputs, type RunResult } from '../src/core/train/run.ts';
import type { StepReport } from '../src/core/train/loop.ts';
import type { Tensor } from '../src/core/tensor.ts';
import { importSlm, loadTensors } from '../src/core/format/model.ts';
import { bytesSource } from '../src/core/format/source.ts';
import { causalLmFromModel } from '../src/core/format/hf.ts';
import { speciesId, speciesSignature } from '../src/core/format/slm.ts';
import { sha256Hex } from '../src/core/hash.ts';
import { manifestHash } from '../src/core/manifest/index.ts';
import { applyLlamaAdapter, llamaWindowLoss } from '../src/core/train/llama.ts';
import { llamaTrainingRun, type LlamaRunResult, type TextFile } from '../src/core/train/run-llama.ts';
import { refuseTextOverlap, WALL_WINDOW, type NamedText } from '../src/core/train/text-wall.ts';
import type { TrainSpec } from '../src/core/train/spec.ts';
import { trainedCandidateSlm, trainedParams, trainedRecords } from '../src/core/train/trained.ts';

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

export interface LmTrainJob {
  spec: TrainSpec;
  /** The base's one-shard .slm (its SHA-256 is the hash the lab's lineage names it by). */
  base: { name: string; slm: Uint8Array };
  train: TextFile[];
  validation: TextFile[];
  suiteTexts: NamedText[];
  /** Scored by base and candidate after the run (perplexity in windows of seq_len), when given. */
  heldOut?: NamedText;
}

export interface LmTrainProgress {
  step: number;
  total: number;
  losses: { step: number; loss: number }[];
  validation?: { step: number; loss: number };
  /** Once the data is set up: the windows of seq_len tokens and the suite texts it was kept apart from. */
  prepared?: { trainWindows: number; validationWindows: number; suiteTexts: number };
  elapsedMs: number;
  paused: boolean;
}

export interface LmTrainOutcome {
  /** The candidate .slm (base + adapter merged; recipe operator lora-merge). */
  bytes: Uint8Array;
  hash: string;
  lineageKey: string;
  species: string;
  baseHash: string;
  params: ReturnType<typeof trainedParams>;
  /** manifestHash of the lineage template, operator receipt and candidate manifest. */
  records: { lineage: string; receipt: string; candidate: string };
  /** The documents themselves: lineage template, operator receipt, candidate manifest. */
  documents: ReturnType<typeof trainedRecords>;
  config: string;
  weights: Uint8Array;
  manifest: Record<string, unknown>;
  stepsRun: number;
  stoppedEarly: boolean;
  keptStep: number | null;
  validation?: LlamaRunResult['validation'];
  heldOut?: { name: string; windows: number; baseLoss: number; candidateLoss: number };
  engine: string;
  ms: number;
  tokensPerSecond: number;
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

/** Hold between steps while paused; throw when cancelled (nothing was kept). */
async function between(post: () => void, at: () => string): Promise<void> {
  await turn();
  const hold = pausedNow();
  if (hold) {
    post();
    await hold.promise;
    post();
  }
  if (cancelled) throw new TrainCancelled(`cancelled at ${at()}: nothing was kept`);
}

const lmApi = {
  async trainLm(job: LmTrainJob, onProgress: (p: LmTrainProgress) => void): Promise<LmTrainOutcome> {
    if (running) throw new Error('a training run is already going in this worker');
    running = true;
    cancelled = false;
    paused = null;
    try {
      const model = await importSlm([bytesSource(job.base.slm, job.base.name)]);
      const lm = causalLmFromModel(model);
      const tensors = await loadTensors(model);
      const baseHash = sha256Hex(job.base.slm);
      const spec = job.spec;
      const text = spec.text!;
      const t0 = performance.now();
      const total = spec.train.steps;
      let step = 0;
      let pending: LmTrainProgress['losses'] = [];
      let lastPost = 0;
      const post = (extra: Partial<LmTrainProgress> = {}) => {
        onProgress({ step, total, losses: pending, elapsedMs: performance.now() - t0, paused: !!paused, ...extra });
        pending = [];
        lastPost = performance.now();
      };
      // The held-out text, checked before the first step (a run is never lost to it afterwards): at
      // least one window, and no stretch shared with the training text (else its score is not held out).
      let heldOutIds: number[] | null = null;
      if (job.heldOut) {
        heldOutIds = lm.tokenizer.encode(job.heldOut.text);
        if (heldOutIds.length < text.seqLen)
          throw new Error(`the held-out text gives ${heldOutIds.length} tokens, not one window of ${text.seqLen}`);
        try {
          refuseTextOverlap([job.heldOut], [...job.train, ...job.validation]);
        } catch {
          throw new Error(
            `the held-out text shares a ${WALL_WINDOW}-byte stretch with the training text, so its score would not be held out`,
          );
        }
      }
      const run = llamaTrainingRun({
        spec,
        base: { name: job.base.name, hash: baseHash, species: model.species, config: lm.config, tensors },
        tokenize: (s) => lm.tokenizer.encode(s),
        train: job.train,
        validation: job.validation,
        suiteTexts: job.suiteTexts,
        // WebGPU's kernels on a hardware adapter (the CPU takes over if the GPU fails), else the CPU tape.
        engine: (adapter, tokens, seqLen, opts) => llamaAdapterEngine(lm.config, tensors, adapter, tokens, seqLen, opts),
      });
      let result: LlamaRunResult;
      try {
        for (;;) {
          const r = await run.next();
          if (r.done) {
            result = r.value;
            break;
          }
          const e = r.value;
          if (e.kind === 'prepared')
            post({ prepared: { trainWindows: e.trainWindows, validationWindows: e.validationWindows, suiteTexts: e.wall.checked.length } });
          else if (e.kind === 'step') {
            step = e.report.step + 1;
            pending.push({ step, loss: e.report.loss });
            if (performance.now() - lastPost > 100) post();
          } else post({ validation: { step: e.evaluation.step, loss: e.evaluation.loss } });
          await between(post, () => `step ${step} of ${total}`);
        }
      } finally {
        await run.return(undefined as never);
      }
      if (pending.length) post();
      if (cancelled) throw new TrainCancelled('cancelled after the last step: nothing was kept');
      const ms = performance.now() - t0;
      const merged = applyLlamaAdapter(lm.config, tensors, result.files, 'merged', model.species).tensors;
      const recomputable = speciesId(speciesSignature(model.tensors, model.graphHash, model.vocabulary)) === model.species;
      const params = trainedParams(result.files, spec);
      const file = trainedCandidateSlm(
        {
          hash: baseHash,
          species: model.species,
          ...(recomputable ? { graph: model.graphHash, vocabulary: model.vocabulary } : {}),
          metadata: model.metadata,
        },
        merged,
        params,
        spec.train.seed,
      );
      const records = trainedRecords(file, baseHash, tensors, merged, params, spec.train.seed, {
        ...result.engine,
        ms,
        steps: result.steps.length,
      });
      let heldOut: LmTrainOutcome['heldOut'];
      if (job.heldOut && heldOutIds) {
        const ids = heldOutIds;
        const windows = Math.floor(ids.length / text.seqLen);
        heldOut = {
          name: job.heldOut.name,
          windows,
          baseLoss: llamaWindowLoss(lm.config, tensors, undefined, ids, text.seqLen, spec.train.batch),
          candidateLoss: llamaWindowLoss(lm.config, tensors, result.adapter, ids, text.seqLen, spec.train.batch),
        };
      }
      const d = result.manifest.data as { trainWindows: number };
      const tokensPerSecond = Math.round((result.steps.length * Math.min(spec.train.batch, d.trainWindows) * text.seqLen) / (ms / 1000));
      const manifest = { ...result.manifest, seconds: Math.round(ms) / 1000, tokensPerSecond };
      const res = result.manifest.result as { keptStep?: number };
      const out: LmTrainOutcome = {
        bytes: file.bytes,
        hash: file.hash,
        lineageKey: file.lineageKey,
        species: file.species,
        baseHash,
        params,
        records: {
          lineage: manifestHash(records.lineage),
          receipt: manifestHash(records.receipt),
          candidate: manifestHash(records.candidate),
        },
        documents: records,
        config: result.files.config,
        weights: result.files.weights,
        manifest,
        stepsRun: result.steps.length,
        stoppedEarly: result.stoppedEarly,
        keptStep: res.keptStep ?? null,
        ...(result.validation ? { validation: result.validation } : {}),
        ...(heldOut ? { heldOut } : {}),
        engine: result.engine.engine,
        ms,
        tokensPerSecond,
      };
      // A Cancel that came while the candidate was merged and scored: nothing is handed back.
      if (cancelled) throw new TrainCancelled('cancelled after the last step: nothing was kept');
      return Comlink.transfer(out, [file.bytes.buffer as ArrayBuffer]);
    } finally {
      running = false;
      paused = null;
    }
  },
};

export type TrainWorkerApi = typeof api & typeof lmApi;

Comlink.expose({ ...api, ...lmApi });
