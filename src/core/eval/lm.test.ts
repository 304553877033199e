import { describe, expect, it } from 'vitest';
import { readSuite, writeSuite, type SuiteInfo } from './suite.ts';
import { evaluateLanguageModel, evaluateSuite } from './lm.ts';
import { EvaluationRefused, type RunFn } from './evaluate.ts';
import { randomUnit, tensorKey } from '../operators/prng.ts';

const V = 50;
const K = 4;

/** A seeded token model: the logits are a sum of one random row of V per context position and id. */
function randomLm(seed: number): RunFn {
  const w = Float32Array.from({ length: K * V * V }, (_, i) => randomUnit(tensorKey(seed, 'w'), i) * 2 - 1);
  return async (x, b) => {
    const out = new Float32Array(b * V);
    for (let r = 0; r < b; r++)
      for (let k = 0; k < K; k++) {
        const row = (k * V + x[r * K + k]) * V;
        for (let v = 0; v < V; v++) out[r * V + v] += w[row + v];
      }
    return out;
  };
}

const info: SuiteInfo = {
  id: 'toy-lm',
  name: 'toy',
  family: 'toy',
  task: 'lm',
  perturbation: 'none',
  description: '',
  classes: V,
  scale: 1,
};
function lmSuite(text: string, rows = 60) {
  const ids = Uint8Array.from(text, (c) => c.charCodeAt(0) % V);
  const inputs = new Uint8Array(rows * K);
  const labels = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const end = K + ((r * 7) % (ids.length - K));
    inputs.set(ids.subarray(end - K, end), r * K);
    labels[r] = ids[end];
  }
  return readSuite(writeSuite(info, { dtype: 'U8', data: inputs, featureSize: K }, labels));
}

describe('language-model evaluation', () => {
  const suite = lmSuite('call me ishmael. some years ago, never mind how long precisely, having little money in my purse');

  it('reports perplexity = exp(mean NLL) for random models, 1 < perplexity, and ~1 for a model that knows the answer', async () => {
    for (let seed = 1; seed <= 4; seed++) {
      const r = await evaluateLanguageModel(randomLm(seed), suite, { contextWidth: K, vocabulary: V, batch: 13 });
      expect(r.metrics.perplexity).toBeCloseTo(Math.exp(r.metrics.nll), 9);
      expect(r.metrics.perplexity!).toBeGreaterThan(1);
      expect(r.metrics.count).toBe(60);
    }
    let cursor = 0;
    const oracle: RunFn = async (_x, b) => {
      const out = new Float32Array(b * V);
      for (let i = 0; i < b; i++) out[i * V + suite.labels[cursor + i]] = 30;
      cursor += b;
      return out;
    };
    const best = await evaluateLanguageModel(oracle, suite, { batch: 60 });
    expect(best.metrics.perplexity!).toBeLessThan(1.0001);
    expect(best.metrics.accuracy).toBe(1);
  });

  it('evaluateSuite scores an lm suite as a language model (its contract checked) and any other suite as a classifier', async () => {
    const run = randomLm(1);
    const lm = await evaluateSuite(run, suite, { contextWidth: K, vocabulary: V });
    expect(lm.metrics.perplexity).toBe((await evaluateLanguageModel(run, suite, { contextWidth: K, vocabulary: V })).metrics.perplexity);
    await expect(evaluateSuite(run, suite, { contextWidth: K + 1 })).rejects.toThrow(
      new EvaluationRefused(`suite "toy-lm" has contexts of ${K} tokens; the model takes ${K + 1}`),
    );
    const classify = readSuite(
      writeSuite(
        { ...info, id: 'toy-classify', task: 'classify' },
        { dtype: 'U8', data: suite.inputs.data as Uint8Array, featureSize: K },
        suite.labels,
      ),
    );
    const r = await evaluateSuite(run, classify, { contextWidth: K + 1 });
    expect(r.metrics.perplexity).toBeNull();
    expect(r.suite.task).toBe('classify');
  });

  it('refuses a classify suite, another context width and ids outside the vocabulary, before running', async () => {
    let ran = false;
    const run: RunFn = async (_x, b) => ((ran = true), new Float32Array(b * V));
    const cls = readSuite(
      writeSuite({ ...info, task: 'classify' }, { dtype: 'U8', data: new Uint8Array(K), featureSize: K }, Uint8Array.from([0])),
    );
    await expect(evaluateLanguageModel(run, cls)).rejects.toThrow(/task "classify"; a language model is scored on an "lm" suite/);
    await expect(evaluateLanguageModel(run, suite, { contextWidth: 8 })).rejects.toThrow(/contexts of 4 tokens; the model takes 8/);
    await expect(evaluateLanguageModel(run, suite, { vocabulary: 10 })).rejects.toThrow(EvaluationRefused);
    await expect(evaluateLanguageModel(run, suite, { expectedSuiteHash: '0'.repeat(64) })).rejects.toThrow(/pin/);
    expect(ran).toBe(false);
  });
});
