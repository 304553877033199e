/**
 * Evaluation and sampling for language models (task "lm" suites: inputs are the previous k token
 * ids, the label the next id). Like the classifier evaluator it knows nothing of onnxruntime: the
 * runtime hands it a run function over token ids (passed as floats, as the classifier's features).
 */
import { CHARSET, sampleContinuation } from '../models/charlm.ts';
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

export interface SampleOptions {
  /** The model's context width (token ids per row). */
  context: number;
  length: number;
  seed: number;
  /** Softmax temperature (default 0.8). */
  temperature?: number;
}

export interface SampleResult {
  prompt: string;
  /** The sampled continuation (`length` characters). */
  text: string;
  seed: number;
  temperature: number;
  length: number;
}

export const MAX_SAMPLE_LENGTH = 4096;

/** A seeded continuation of `prompt`: the same model, prompt, length, seed and temperature give the same text. */
export async function sampleText(run: RunFn, prompt: string, opts: SampleOptions): Promise<SampleResult> {
  if (!Number.isInteger(opts.length) || opts.length < 0 || opts.length > MAX_SAMPLE_LENGTH)
    throw new Error(`sample length must be an integer in 0..${MAX_SAMPLE_LENGTH}, got ${opts.length}`);
  if (!Number.isInteger(opts.seed)) throw new Error(`sample seed must be an integer, got ${opts.seed}`);
  if (!Number.isInteger(opts.context) || opts.context < 1)
    throw new Error(`sample context must be a positive integer, got ${opts.context}`);
  const temperature = opts.temperature ?? 0.8;
  // The character LM's vocabulary is CHARSET: a model with another output size is not sampled.
  const checked: RunFn = async (x, batch) => {
    const y = await run(x, batch);
    if (y.length !== batch * CHARSET.length)
      throw new EvaluationRefused(`model returned ${y.length} logits for ${batch} rows; the character set has ${CHARSET.length} tokens`);
    for (let i = 0; i < y.length; i++)
      if (!Number.isFinite(y[i])) throw new EvaluationRefused(`model returned a non-finite logit (${y[i]}) while sampling`);
    return y;
  };
  const text = await sampleContinuation(checked, prompt, { context: opts.context, length: opts.length, seed: opts.seed, temperature });
  return { prompt, text, seed: opts.seed, temperature, length: opts.length };
}
