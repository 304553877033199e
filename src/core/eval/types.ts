/**
 * The evaluator's shared types: what a runtime hands the evaluator (RunFn, EvaluateOptions) and
 * what it gives back (EvaluationResult with its MetricVector, and a robustness comparison).
 * evaluate.ts, lm.ts and robustness.ts all import them from here, never from each other's types.
 */
import type { Sha256Hex } from '../hash.ts';
import type { GroupAccuracy } from './metrics.ts';

/** Maps `batch` rows of model inputs (row-major, batch × featureSize) to logits (batch × classes). */
export type RunFn = (inputs: Float32Array, batch: number) => Promise<Float32Array>;

export interface EvaluateOptions {
  /** Rows per run call (default 256). Latency is measured per call. */
  batch?: number;
  /** The suite hash pinned by policy; a suite with other bytes is refused. */
  expectedSuiteHash?: Sha256Hex;
  /** The species the slot or policy expects, and the species of the model under test. */
  expectedSpecies?: Sha256Hex;
  modelSpecies?: Sha256Hex;
  /** The model's family; a suite of another family is refused. */
  family?: string;
  /** Called after each batch. */
  onProgress?: (done: number, total: number) => void;
  signal?: { aborted: boolean };
  /** Clock, for tests; defaults to performance.now. */
  now?: () => number;
}

export interface MetricVector {
  /** Top-1 accuracy on the suite. */
  accuracy: number;
  /** Expected calibration error (15 equal-width bins over max softmax probability). */
  ece: number;
  /** Mean negative log-likelihood of the labels (nats). */
  nll: number;
  /** exp(nll); reported for language-model suites, null otherwise. */
  perplexity: number | null;
  count: number;
  /** Median wall time of one run call of `batch` rows, in milliseconds. */
  medianLatencyMs: number;
  /** Median time per row, in milliseconds. */
  medianLatencyPerRowMs: number;
  batch: number;
  /**
   * Robustness suites only (a suite that declares a perturbation and the clean suite it perturbs),
   * once scored beside that clean suite (see robustness.ts): how much quality the declared
   * perturbation costs. accuracyDrop = clean − perturbed accuracy; nllIncrease = perturbed − clean
   * NLL; perplexityRatio = perturbed / clean perplexity (language-model suites).
   */
  accuracyDrop?: number;
  nllIncrease?: number;
  perplexityRatio?: number;
  /**
   * Suites that declare groups only (suite.ts: a digit condition, a mail collection per row): the
   * lowest top-1 accuracy of any declared group with rows. `EvaluationResult.groups` has them all.
   */
  worstGroupAccuracy?: number;
}

export interface EvaluationResult {
  evaluator: { id: string; version: string };
  suite: { id: string; hash: Sha256Hex; family: string; task: string; perturbation: string; count: number; baseline?: string };
  metrics: MetricVector;
  /** Robustness suites scored beside their clean suite: the comparison in full (robustness.ts). */
  robustness?: Robustness;
  /** Suites that declare groups: each group's accuracy, in declared order, and the worst one's name. */
  groups?: { accuracies: GroupAccuracy[]; worst: string };
}

export interface Robustness {
  /** The robustness suite and its declared perturbation. */
  suite: { id: string; hash: Sha256Hex };
  perturbation: string;
  /** The clean suite it is compared with. */
  baseline: { id: string; hash: Sha256Hex };
  accuracy: number;
  baselineAccuracy: number;
  /** baseline − perturbed accuracy (positive: the perturbation costs accuracy). */
  accuracyDrop: number;
  nll: number;
  baselineNll: number;
  /** perturbed − baseline mean NLL, nats. */
  nllIncrease: number;
  /** Language-model suites: perplexity under the perturbation, the clean one, and their ratio. */
  perplexity: number | null;
  baselinePerplexity: number | null;
  perplexityRatio: number | null;
}
