/**
 * The evaluator worker: smoke, evaluate and predict with onnxruntime-web. It is handed model
 * tensors, graph and suite bytes as data; suites are checked against the pinned hash before any
 * score is computed (trust zone: evaluation).
 */
import * as Comlink from 'comlink';
import { holdLife } from './life.ts';
import {
  createOrtSession,
  releaseSession,
  runSession,
  sessionExecutionProvider,
  type InferenceSession,
} from '../src/runtime/ort-session.ts';
import { evaluateSuite } from '../src/core/eval/lm.ts';
import { evaluateRobustness } from '../src/core/eval/robustness.ts';
import type { EvaluationResult } from '../src/core/eval/types.ts';
import { runtimeSmoke, type SmokeResult } from '../src/core/eval/smoke.ts';
import { readSuite } from '../src/core/eval/suite.ts';
import type { Tensor } from '../src/core/tensor.ts';

export interface ModelPayload {
  /** Content hash of the model; sessions are cached by it. */
  hash: string;
  species: string;
  graph: Uint8Array;
  tensors: Tensor[];
  featureSize: number;
  classes: number;
  /** onnxruntime execution provider: 'wasm' (CPU, the default) or 'webgpu' (falls back to wasm for unsupported nodes). */
  ep?: 'wasm' | 'webgpu';
}

const sessions = new Map<string, Promise<InferenceSession>>();
/** The evaluations running now (Cancel aborts them between batches). */
const evaluating = new Map<AbortController, string>();
/** The execution provider each session actually runs on (onnxruntime may drop a requested one). */
const ranOn = new Map<string, 'wasm' | 'webgpu'>();
/** The last run: which model, on which execution provider. */
let lastRun: { hash: string; ep: 'wasm' | 'webgpu' } | null = null;
const threads = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated
  ? Math.min(4, navigator.hardwareConcurrency || 1)
  : 1;

/** Sessions kept warm, least recently used first; older ones are released. */
const MAX_SESSIONS = 8;

const sessionKey = (hash: string, ep: ModelPayload['ep']) => `${hash}:${ep ?? 'wasm'}`;

function session(m: ModelPayload): Promise<InferenceSession> {
  const key = sessionKey(m.hash, m.ep);
  let s = sessions.get(key);
  if (s) {
    sessions.delete(key);
    sessions.set(key, s);
    return s;
  }
  if (!m.tensors.length) return Promise.reject(new Error(`no session for model ${m.hash.slice(0, 12)}; send its tensors`));
  const executionProviders = m.ep === 'webgpu' ? (['webgpu', 'wasm'] as const) : (['wasm'] as const);
  s = createOrtSession(m.graph, m.tensors, { numThreads: threads, executionProviders });
  void s.then(
    () => ranOn.set(key, sessionExecutionProvider(executionProviders)),
    () => undefined,
  );
  sessions.set(key, s);
  s.catch(() => sessions.delete(key));
  while (sessions.size > MAX_SESSIONS) {
    const [oldest, old] = sessions.entries().next().value as [string, Promise<InferenceSession>];
    sessions.delete(oldest);
    ranOn.delete(oldest);
    void old.then(releaseSession, () => undefined);
  }
  return s;
}

/**
 * The model's run function for the core: float features [batch × featureSize], or for a language
 * model (`tokens`) int32 token ids, which the core passes as floats.
 */
const runner =
  (m: ModelPayload, tokens = false) =>
  async (x: Float32Array, batch: number) => {
    const out = await runSession(await session(m), tokens ? Int32Array.from(x) : x, batch, m.featureSize);
    lastRun = { hash: m.hash, ep: ranOn.get(sessionKey(m.hash, m.ep)) ?? 'wasm' };
    return out;
  };

/** A language model's contract, for suites of task "lm": its context width and vocabulary. */
const lmContract = (m: ModelPayload) => ({ contextWidth: m.featureSize, vocabulary: m.classes });

const api = {
  /** Hold `lock` while this worker lives (the page learns of its death: src/app/worker-life.ts). */
  alive: holdLife,

  async smoke(m: ModelPayload): Promise<SmokeResult> {
    return runtimeSmoke(runner(m), { featureSize: m.featureSize, outputSize: m.classes });
  },

  /** A model on a pinned suite: a classifier's accuracy, ECE and latency, or (task "lm") a language model's perplexity too. */
  async evaluate(
    m: ModelPayload,
    suiteBytes: Uint8Array,
    pin: { suiteHash: string; species: string; family: string },
    onProgress?: (done: number, total: number) => void,
    /** A name that cancelEvaluations(job) stops this evaluation by. */
    job = '',
  ): Promise<EvaluationResult> {
    const suite = readSuite(suiteBytes, pin.suiteHash);
    const lm = suite.task === 'lm';
    const ctl = new AbortController();
    evaluating.set(ctl, job);
    try {
      return await evaluateSuite(runner(m, lm), suite, {
        expectedSuiteHash: pin.suiteHash,
        expectedSpecies: pin.species,
        modelSpecies: m.species,
        family: pin.family,
        ...(lm ? lmContract(m) : {}),
        onProgress,
        signal: ctl.signal,
      });
    } finally {
      evaluating.delete(ctl);
    }
  },

  /** Stop the evaluations of `job` running now, between two batches: each rejects with "evaluation cancelled". */
  cancelEvaluations(job: string): void {
    for (const [ctl, j] of evaluating) if (j === job) ctl.abort();
  },

  /** Runtime smoke of a language model: token-id probes in 0..classes-1. */
  async smokeLm(m: ModelPayload): Promise<SmokeResult> {
    return runtimeSmoke(runner(m, true), {
      featureSize: m.featureSize,
      outputSize: m.classes,
      inputRange: { min: 0, max: m.classes - 1, integer: true },
    });
  },

  /**
   * A robustness suite scored beside its clean baseline suite (both pinned): the robustness
   * suite's result, with accuracyDrop / nllIncrease / perplexityRatio in its metrics and the full
   * comparison under `robustness`. Classifier or language model, by the suites' task.
   */
  async evaluateRobustness(
    m: ModelPayload,
    suiteBytes: Uint8Array,
    baselineBytes: Uint8Array,
    pin: { suiteHash: string; baselineHash: string; species: string; family: string },
    onProgress?: (done: number, total: number) => void,
  ): Promise<EvaluationResult> {
    const suite = readSuite(suiteBytes, pin.suiteHash);
    const baseline = readSuite(baselineBytes, pin.baselineHash);
    const lm = suite.task === 'lm';
    return evaluateRobustness(runner(m, lm), suite, baseline, {
      expectedSuiteHash: pin.suiteHash,
      expectedBaselineHash: pin.baselineHash,
      expectedSpecies: pin.species,
      modelSpecies: m.species,
      family: pin.family,
      ...(lm ? lmContract(m) : {}),
      onProgress,
    });
  },

  /** Whether a session for this model is warm, so the caller may send it without tensors. */
  hasSession(hash: string, ep?: ModelPayload['ep']): boolean {
    return sessions.has(sessionKey(hash, ep));
  },

  /** The model and execution provider of the last run (null before any). */
  lastRun(): { hash: string; ep: 'wasm' | 'webgpu' } | null {
    return lastRun;
  },

  async predict(m: ModelPayload, input: Float32Array): Promise<Float32Array> {
    return runner(m)(input, 1);
  },
};

export type EvalWorkerApi = typeof api;
Comlink.expose(api);
