/**
 * Evaluation and sampling for language models (task "lm" suites: inputs are the previous k token
 * ids, the label the next id). Like the classifier evaluator it knows nothing of onnxruntime: the
 * runtime hands it a run function over token ids (passed as floats, as the classifier's features).
 */
import { evaluateClassifier, EvaluationRefused } from './evaluate.ts';
import type { EvaluateOptions, EvaluationResult, RunFn } from './types.ts';
import type { Suite } from './suite.ts';

/**
 * Score a language model on an lm suite: perplexity (exp of the mean next-token NLL), accuracy of
 * the next-token argmax, ECE and latency. Refuses a suite of another task, or whose context width
 * or token ids do not fit the model (`contextWidth`, `vocabulary` = the model's input contract).
 */
export async function evaluateLanguageModel(
  run: RunFn,
  suite: Suite,
  opts: EvaluateOptions & { contextWidth?: number; vocabulary?: number } = {},
): Promise<EvaluationResult> {
  if (suite.task !== 'lm')
    throw new EvaluationRefused(`suite "${suite.id}" has task "${suite.task}"; a language model is scored on an "lm" suite`);
  if (opts.contextWidth !== undefined && suite.featureSize !== opts.contextWidth) {
    throw new EvaluationRefused(`suite "${suite.id}" has contexts of ${suite.featureSize} tokens; the model takes ${opts.contextWidth}`);
  }
  const V = opts.vocabulary ?? suite.classes;
  if (suite.classes !== V)
    throw new EvaluationRefused(`suite "${suite.id}" predicts over ${suite.classes} tokens; the model's vocabulary has ${V}`);
  const ids = suite.inputs.data;
  for (let i = 0; i < ids.length; i++)
    if (ids[i] >= V)
      throw new EvaluationRefused(`suite "${suite.id}" has token id ${ids[i]} at input ${i}, outside the vocabulary 0..${V - 1}`);
  const result = await evaluateClassifier(run, suite, opts);
  if (result.metrics.perplexity === null) throw new Error(`evaluateLanguageModel: no perplexity for lm suite "${suite.id}"`);
  return result;
}

/** Score a model on any suite: an "lm" suite through evaluateLanguageModel, every other through evaluateClassifier. */
export function evaluateSuite(
  run: RunFn,
  suite: Suite,
  opts: EvaluateOptions & { contextWidth?: number; vocabulary?: number } = {},
): Promise<EvaluationResult> {
  return suite.task === 'lm' ? evaluateLanguageModel(run, suite, opts) : evaluateClassifier(run, suite, opts);
}
