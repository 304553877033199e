/**
 * Robustness: quality under a declared perturbation. A robustness suite declares its perturbation
 * and the clean suite it is compared with (`suite.perturbation`, `suite.baseline` in its metadata,
 * bound by its hash). Scored beside that clean suite, the model's result on it gains the drop:
 * accuracyDrop, nllIncrease and, for language models, perplexityRatio — in the metric vector (so
 * sidecars and rankings see them) and in full under `robustness`.
 */
import type { Sha256Hex } from '../hash.ts';
import { EvaluationRefused } from './evaluate.ts';
import { evaluateSuite } from './lm.ts';
import type { EvaluateOptions, EvaluationResult, MetricVector, Robustness, RunFn } from './types.ts';

export type { Robustness } from './types.ts';
import type { Suite } from './suite.ts';

export class RobustnessError extends Error {
  override name = 'RobustnessError';
}

/** True when a result's suite is a robustness suite (declares a clean baseline suite). */
export function isRobustnessResult(r: EvaluationResult): boolean {
  return typeof r.suite.baseline === 'string' && r.suite.baseline !== '';
}

/** Compare a robustness-suite result with the result of the same model on its clean baseline suite. */
export function robustnessOf(perturbed: EvaluationResult, clean: EvaluationResult): Robustness {
  if (!isRobustnessResult(perturbed))
    throw new RobustnessError(`suite "${perturbed.suite.id}" declares no baseline suite; it is not a robustness suite`);
  if (perturbed.suite.baseline !== clean.suite.id)
    throw new RobustnessError(`suite "${perturbed.suite.id}" is compared with "${perturbed.suite.baseline}", not "${clean.suite.id}"`);
  if (perturbed.suite.task !== clean.suite.task)
    throw new RobustnessError(
      `suite "${perturbed.suite.id}" (task ${perturbed.suite.task}) and its baseline "${clean.suite.id}" (task ${clean.suite.task}) differ in task`,
    );
  if (perturbed.suite.family !== clean.suite.family)
    throw new RobustnessError(
      `suite "${perturbed.suite.id}" (family ${perturbed.suite.family}) and its baseline "${clean.suite.id}" (family ${clean.suite.family}) differ in family`,
    );
  if (perturbed.evaluator.id !== clean.evaluator.id || perturbed.evaluator.version !== clean.evaluator.version) {
    throw new RobustnessError(`results on "${perturbed.suite.id}" and "${clean.suite.id}" come from different evaluators`);
  }
  const p = perturbed.metrics;
  const c = clean.metrics;
  const ratio = p.perplexity !== null && c.perplexity !== null ? p.perplexity / c.perplexity : null;
  return {
    suite: { id: perturbed.suite.id, hash: perturbed.suite.hash },
    perturbation: perturbed.suite.perturbation,
    baseline: { id: clean.suite.id, hash: clean.suite.hash },
    accuracy: p.accuracy,
    baselineAccuracy: c.accuracy,
    accuracyDrop: c.accuracy - p.accuracy,
    nll: p.nll,
    baselineNll: c.nll,
    nllIncrease: p.nll - c.nll,
    perplexity: p.perplexity,
    baselinePerplexity: c.perplexity,
    perplexityRatio: ratio,
  };
}

/** The robustness-suite result with the comparison attached (a new object; the input is not changed). */
export function withRobustness(perturbed: EvaluationResult, clean: EvaluationResult): EvaluationResult {
  const r = robustnessOf(perturbed, clean);
  const metrics: MetricVector = { ...perturbed.metrics, accuracyDrop: r.accuracyDrop, nllIncrease: r.nllIncrease };
  if (r.perplexityRatio !== null) metrics.perplexityRatio = r.perplexityRatio;
  return { ...perturbed, metrics, robustness: r };
}

/**
 * Results of one model on several suites: every robustness suite whose baseline suite is among
 * them gets its comparison attached; the others are returned as they are, in the same order.
 */
export function attachRobustness(results: readonly EvaluationResult[]): EvaluationResult[] {
  const byId = new Map<string, EvaluationResult>();
  for (const r of results) byId.set(r.suite.id, r);
  return results.map((r) => {
    if (!isRobustnessResult(r)) return r;
    const clean = byId.get(r.suite.baseline!);
    return clean ? withRobustness(r, clean) : r;
  });
}

/**
 * Score a model on a robustness suite and on its clean baseline suite, and return the robustness
 * suite's result with the drop attached. Both pins are checked, and the pairing (the suite names
 * this baseline), before anything runs. Each suite is scored by evaluateSuite (lm.ts).
 */
export async function evaluateRobustness(
  run: RunFn,
  suite: Suite,
  baseline: Suite,
  opts: EvaluateOptions & { expectedBaselineHash?: Sha256Hex; contextWidth?: number; vocabulary?: number } = {},
): Promise<EvaluationResult> {
  if (!suite.baseline) throw new EvaluationRefused(`suite "${suite.id}" declares no baseline suite; it is not a robustness suite`);
  if (suite.baseline !== baseline.id)
    throw new EvaluationRefused(`suite "${suite.id}" is compared with "${suite.baseline}", not "${baseline.id}"`);
  if (opts.expectedBaselineHash !== undefined && baseline.hash !== opts.expectedBaselineHash) {
    throw new EvaluationRefused(`baseline suite "${baseline.id}" hashes to ${baseline.hash} but the pin is ${opts.expectedBaselineHash}`);
  }
  const { expectedBaselineHash, onProgress, ...rest } = opts;
  const one = (s: Suite, pin: Sha256Hex | undefined, offset: number) => {
    const o = {
      ...rest,
      expectedSuiteHash: pin,
      onProgress: onProgress && ((done: number) => onProgress(offset + done, suite.count + baseline.count)),
    };
    return evaluateSuite(run, s, o);
  };
  const perturbed = await one(suite, opts.expectedSuiteHash, 0);
  const clean = await one(baseline, expectedBaselineHash, suite.count);
  return withRobustness(perturbed, clean);
}
