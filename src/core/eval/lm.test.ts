import { describe, expect, it } from 'vitest';
import { readSuite, writeSuite, type SuiteInfo } from './suite.ts';
import { evaluateLanguageModel, evaluateSuite, sampleText } from './lm.ts';
import { EvaluationRefused, type RunFn } from './evaluate.ts';
import { CHARSET, charLmForward, contextAt, encodeText, type CharLmParams } from '../models/charlm.ts';
import { randomUnit, tensorKey } from '../operators/prng.ts';
import { charLmGraph, charLmToTensors } from '../models/charlm.ts';
import { createOrtSession, releaseSession, runTokens } from '../../runtime/ort-session.ts';

const V = CHARSET.length;
const K = 4;

function randomLm(seed: number): CharLmParams {
  const shape = { context: K, embed: 3, hidden: 7, vocab: V };
  const r = (name: string, n: number) => Float32Array.from({ length: n }, (_, i) => randomUnit(tensorKey(seed, name), i) * 2 - 1);
  return { shape, emb: r('emb', V * 3), w1: r('w1', K * 3 * 7), b1: r('b1', 7), w2: r('w2', 7 * V), b2: r('b2', V) };
}
const cpu =
  (p: CharLmParams): RunFn =>
  async (x, b) =>
    charLmForward(p, x, b);

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
  const ids = encodeText(text);
  const inputs = new Uint8Array(rows * K);
  const labels = new Uint8Array(rows);
  const ctx = new Int32Array(K);
  for (let r = 0; r < rows; r++) {
    const end = K + ((r * 7) % (ids.length - K));
    contextAt(ids, end, K, ctx);
    inputs.set(ctx, r * K);
    labels[r] = ids[end];
  }
  return readSuite(writeSuite(info, { dtype: 'U8', data: inputs, featureSize: K }, labels));
}

describe('language-model evaluation', () => {
  const suite = lmSuite('call me ishmael. some years ago, never mind how long precisely, having little money in my purse');

  it('reports perplexity = exp(mean NLL) for random models, 1 < perplexity, and ~1 for a model that knows the answer', async () => {
    for (let seed = 1; seed <= 4; seed++) {
      const r = await evaluateLanguageModel(cpu(randomLm(seed)), suite, { contextWidth: K, vocabulary: V, batch: 13 });
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
    const run = cpu(randomLm(1));
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

  it('scores the same perplexity and samples the same text through onnxruntime (runTokens) as on the CPU', async () => {
    const p = randomLm(3);
    const session = await createOrtSession(charLmGraph(p.shape, 'toy'), charLmToTensors(p));
    const ort: RunFn = (x, b) => runTokens(session, Int32Array.from(x), b, K);
    const a = await evaluateLanguageModel(ort, suite, { contextWidth: K, vocabulary: V });
    const b = await evaluateLanguageModel(cpu(p), suite, { contextWidth: K, vocabulary: V });
    expect(a.metrics.perplexity!).toBeCloseTo(b.metrics.perplexity!, 4);
    expect((await sampleText(ort, 'the sea', { context: K, length: 30, seed: 5, temperature: 0.5 })).text).toBe(
      (await sampleText(cpu(p), 'the sea', { context: K, length: 30, seed: 5, temperature: 0.5 })).text,
    );
    await releaseSession(session);
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

  it('samples seeded text: same seed same text, another seed other text, only characters of the set', async () => {
    const run = cpu(randomLm(2));
    const a = await sampleText(run, 'Call me', { context: K, length: 40, seed: 7 });
    expect(a).toEqual(await sampleText(run, 'Call me', { context: K, length: 40, seed: 7 }));
    expect(a.text).toHaveLength(40);
    expect([...a.text].every((c) => CHARSET.includes(c))).toBe(true);
    expect(a.temperature).toBe(0.8);
    expect((await sampleText(run, 'Call me', { context: K, length: 40, seed: 8 })).text).not.toBe(a.text);
    await expect(sampleText(async (_x, b) => new Float32Array(b * 3), 'x', { context: K, length: 2, seed: 1 })).rejects.toThrow(
      /the character set has 50 tokens/,
    );
    await expect(sampleText(run, 'x', { context: K, length: -1, seed: 1 })).rejects.toThrow(/sample length/);
  });
});
