/**
 * The evaluator core. It knows nothing of onnxruntime: the runtime (a worker, the CLI) hands it a
 * `run` function that maps a batch of model inputs to logits. It refuses a suite whose bytes do
 * not hash to the pinned value and a model of the wrong species, before anything runs.
 */
import { accuracy, expectedCalibrationError, groupAccuracies, meanNll, median, worstGroup, ECE_BINS } from './metrics.ts';
import { suiteRows, type Suite } from './suite.ts';
import type { EvaluateOptions, EvaluationResult, RunFn } from './types.ts';

export type { EvaluateOptions, EvaluationResult, MetricVector, RunFn } from './types.ts';

export const EVALUATOR_ID = 'slm-garden/evaluate-classifier';
export const EVALUATOR_VERSION = '1.0.0';

export class EvaluationRefused extends Error {
  override name = 'EvaluationRefused';
}

/** The pin and species checks, on their own (the UI shows them before a run). */
export function checkEvaluationInputs(suite: Suite, opts: EvaluateOptions): void {
  if (opts.expectedSuiteHash !== undefined && suite.hash !== opts.expectedSuiteHash) {
    throw new EvaluationRefused(
      `suite "${suite.id}" hashes to ${suite.hash} but the pin is ${opts.expectedSuiteHash}; refusing to score against an unpinned suite`,
    );
  }
  if (opts.expectedSpecies !== undefined || opts.modelSpecies !== undefined) {
    if (!opts.expectedSpecies || !opts.modelSpecies)
      throw new EvaluationRefused('species check needs both the expected species and the model species');
    if (opts.expectedSpecies !== opts.modelSpecies) {
      throw new EvaluationRefused(
        `model species ${opts.modelSpecies} is not the expected species ${opts.expectedSpecies}; refusing to evaluate a model of another species`,
      );
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
    if (y.length !== rows * C)
      throw new EvaluationRefused(`model returned ${y.length} values for ${rows} rows; the contract is ${rows} × ${C}`);
    for (let i = 0; i < y.length; i++)
      if (!Number.isFinite(y[i]))
        throw new EvaluationRefused(`model returned a non-finite value (${y[i]}) at row ${start + Math.floor(i / C)}`);
    logits.set(y, start * C);
    times.push(dt);
    perRow.push(dt / rows);
    opts.onProgress?.(end, suite.count);
  }
  const labels = suite.labels.subarray(0, suite.count);
  const nll = meanNll(logits, labels, C);
  const groups = suite.groups && suite.groupIndex ? groupAccuracies(logits, labels, C, suite.groupIndex, suite.groups) : null;
  const worst = groups && worstGroup(groups);
  return {
    evaluator: { id: EVALUATOR_ID, version: EVALUATOR_VERSION },
    suite: {
      id: suite.id,
      hash: suite.hash,
      family: suite.family,
      task: suite.task,
      perturbation: suite.perturbation,
      count: suite.count,
      ...(suite.baseline ? { baseline: suite.baseline } : {}),
    },
    metrics: {
      accuracy: accuracy(logits, labels, C),
      ece: expectedCalibrationError(logits, labels, C, ECE_BINS),
      nll,
      perplexity: suite.task === 'lm' ? Math.exp(nll) : null,
      count: suite.count,
      medianLatencyMs: median(times),
      medianLatencyPerRowMs: median(perRow),
      batch,
      ...(worst ? { worstGroupAccuracy: worst.accuracy } : {}),
    },
    ...(groups && worst ? { groups: { accuracies: groups, worst: worst.group } } : {}),
  };
}
