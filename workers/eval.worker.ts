/**
 * The evaluator worker: smoke, evaluate and predict with onnxruntime-web. It is handed model
 * tensors, graph and suite bytes as data; suites are checked against the pinned hash before any
 * score is computed (trust zone: evaluation).
 */
import * as Comlink from 'comlink';
import { createOrtSession, releaseSession, runClassifier, runTokens, type InferenceSession } from '../src/runtime/ort-session.ts';
import { evaluateLanguageModel, sampleText, type SampleResult } from '../src/core/eval/lm.ts';
import { evaluateRobustness } from '../src/core/eval/robustness.ts';
import { evaluateClassifier, type EvaluationResult } from '../src/core/eval/evaluate.ts';
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
const threads = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

function session(m: ModelPayload): Promise<InferenceSession> {
  const key = `${m.hash}:${m.ep ?? 'wasm'}`;
  let s = sessions.get(key);
  if (!s) {
    s = createOrtSession(m.graph, m.tensors, { numThreads: threads, executionProviders: m.ep === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'] });
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

const runner = (m: ModelPayload) => async (inputs: Float32Array, batch: number) => runClassifier(await session(m), inputs, batch, m.featureSize);

/** Language models take int32 token ids [batch × featureSize]; the core passes them as floats. */
const tokenRunner = (m: ModelPayload) => async (ids: Float32Array, batch: number) => runTokens(await session(m), Int32Array.from(ids), batch, m.featureSize);

const api = {
  async smoke(m: ModelPayload): Promise<SmokeResult> {
    return runtimeSmoke(runner(m), { featureSize: m.featureSize, outputSize: m.classes });
  },

  async evaluate(
    m: ModelPayload,
    suiteBytes: Uint8Array,
    pin: { suiteHash: string; species: string; family: string },
    onProgress?: (done: number, total: number) => void,
  ): Promise<EvaluationResult> {
    const suite = readSuite(suiteBytes, pin.suiteHash);
    return evaluateClassifier(runner(m), suite, {
      expectedSuiteHash: pin.suiteHash,
      expectedSpecies: pin.species,
      modelSpecies: m.species,
      family: pin.family,
      onProgress,
    });
  },

  /** Perplexity (and accuracy, ECE, latency) of a language model on a pinned "lm" suite. */
  async evaluateLm(
    m: ModelPayload,
    suiteBytes: Uint8Array,
    pin: { suiteHash: string; species: string; family: string },
    onProgress?: (done: number, total: number) => void,
  ): Promise<EvaluationResult> {
    const suite = readSuite(suiteBytes, pin.suiteHash);
    return evaluateLanguageModel(tokenRunner(m), suite, {
      expectedSuiteHash: pin.suiteHash,
      expectedSpecies: pin.species,
      modelSpecies: m.species,
      family: pin.family,
      contextWidth: m.featureSize,
      vocabulary: m.classes,
      onProgress,
    });
  },

  /** Runtime smoke of a language model: token-id probes in 0..classes-1. */
  async smokeLm(m: ModelPayload): Promise<SmokeResult> {
    return runtimeSmoke(tokenRunner(m), { featureSize: m.featureSize, outputSize: m.classes, inputRange: { min: 0, max: m.classes - 1, integer: true } });
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
    return evaluateRobustness(suite.task === 'lm' ? tokenRunner(m) : runner(m), suite, baseline, {
      expectedSuiteHash: pin.suiteHash,
      expectedBaselineHash: pin.baselineHash,
      expectedSpecies: pin.species,
      modelSpecies: m.species,
      family: pin.family,
      ...(suite.task === 'lm' ? { contextWidth: m.featureSize, vocabulary: m.classes } : {}),
      onProgress,
    });
  },

  /** A seeded continuation of `prompt` (`length` characters; temperature 0.8 unless given). */
  async sampleText(m: ModelPayload, prompt: string, length: number, seed: number, temperature?: number): Promise<SampleResult> {
    return sampleText(tokenRunner(m), prompt, { context: m.featureSize, length, seed, temperature });
  },

  async predict(m: ModelPayload, input: Float32Array): Promise<Float32Array> {
    return runner(m)(input, 1);
  },

  async forget(hash: string): Promise<void> {
    for (const key of [...sessions.keys()].filter((k) => k.startsWith(`${hash}:`))) {
      const s = sessions.get(key);
      sessions.delete(key);
      if (s) await releaseSession(await s);
    }
  },
};

export type EvalWorkerApi = typeof api;
Comlink.expose(api);
