/**
 * The evaluator core. It knows nothing of onnxruntime: the runtime (a worker, the CLI) hands it a
 * `run` function that maps a batch of model inputs to logits. It refuses a suite whose bytes do
 * not hash to the pinned value and a model of the wrong species, before anything runs.
 */
import type { Sha256Hex } from '../hash.ts';
import { accuracy, expectedCalibrationError, meanNll, median, ECE_BINS } from './metrics.ts';
import { suiteRows, type Suite } from './suite.ts';
import type { Robustness } from './robustness.ts';

export const EVALUATOR_ID = 'slm-garden/evaluate-classifier';
export const EVALUATOR_VERSION = '1.0.0';

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
}

export interface EvaluationResult {
  evaluator: { id: string; version: string };
  suite: { id: string; hash: Sha256Hex; family: string; task: string; perturbation: string; count: number; baseline?: string };
  metrics: MetricVector;
  /** Robustness suites scored beside their clean suite: the comparison in full (robustness.ts). */
  robustness?: Robustness;
}

export class EvaluationRefused extends Error {
  override name = 'EvaluationRefused';
}

/** The pin and species checks, on their own (the UI shows them before a run). */
export function checkEvaluationInputs(suite: Suite, opts: EvaluateOptions): void {
  if (opts.expectedSuiteHash !== undefined && suite.hash !== opts.expectedSuiteHash) {
    throw new EvaluationRefused(`suite "${suite.id}" hashes to ${suite.hash} but the pin is ${opts.expectedSuiteHash}; refusing to score against an unpinned suite`);
  }
  if (opts.expectedSpecies !== undefined || opts.modelSpecies !== undefined) {
    if (!opts.expectedSpecies || !opts.modelSpecies) throw new EvaluationRefused('species check needs both the expected species and the model species');
    if (opts.expectedSpecies !== opts.modelSpecies) {
      throw new EvaluationRefused(`model species ${opts.modelSpecies} is not the expected species ${opts.expectedSpecies}; refusing to evaluate a model of another species`);
    }
  }
  if (opts.family !== undefined && opts.family !== suite.family) {
    throw new EvaluationRefused(`suite "${suite.id}" belongs to family "${suite.family}", not "${opts.family}"`);
  }
}

export async function evaluateClassifier(run: RunFn, suite: Suite, opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  checkEvaluationInputs(suite, opts);
  const batch = opts.batch ?? 256;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`evaluate: batch must be a positive integer, got ${batch}`);
  const now = opts.now ?? (() => performance.now());
  const C = suite.classes;
  const logits = new Float32Array(suite.count * C);
  const times: number[] = [];
  const perRow: number[] = [];
  for (let start = 0; start < suite.count; start += batch) {
    if (opts.signal?.aborted) throw new Error('evaluation cancelled');
    const end = Math.min(suite.count, start + batch);
    const rows = end - start;
    const x = suiteRows(suite, start, end);
    const t0 = now();
    const y = await run(x, rows);
    const dt = now() - t0;
    if (y.length !== rows * C) throw new EvaluationRefused(`model returned ${y.length} values for ${rows} rows; the contract is ${rows} × ${C}`);
    for (let i = 0; i < y.length; i++) if (!Number.isFinite(y[i])) throw new EvaluationRefused(`model returned a non-finite value (${y[i]}) at row ${start + Math.floor(i / C)}`);
    logits.set(y, start * C);
    times.push(dt);
    perRow.push(dt / rows);
    opts.onProgress?.(end, suite.count);
  }
  const labels = suite.labels.subarray(0, suite.count);
  const nll = meanNll(logits, labels, C);
  return {
    evaluator: { id: EVALUATOR_ID, version: EVALUATOR_VERSION },
    suite: { id: suite.id, hash: suite.hash, family: suite.family, task: suite.task, perturbation: suite.perturbation, count: suite.count, ...(suite.baseline ? { baseline: suite.baseline } : {}) },
    metrics: {
      accuracy: accuracy(logits, labels, C),
      ece: expectedCalibrationError(logits, labels, C, ECE_BINS),
      nll,
      perplexity: suite.task === 'lm' ? Math.exp(nll) : null,
      count: suite.count,
      medianLatencyMs: median(times),
      medianLatencyPerRowMs: median(perRow),
      batch,
    },
  };
}
