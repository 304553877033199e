import { describe, expect, it } from 'vitest';
import { readSuite, suiteRows, writeSuite, SuiteError, type SuiteInfo } from './suite.ts';
import { sha256Hex } from '../hash.ts';
import { evaluateClassifier, EvaluationRefused } from './evaluate.ts';
import { runtimeSmoke } from './smoke.ts';
import { randomU32, tensorKey } from '../operators/prng.ts';

const info: SuiteInfo = {
  id: 't-suite',
  name: 'T',
  family: 'toy',
  task: 'classify',
  perturbation: 'none',
  description: 'toy',
  classes: 3,
  scale: 1 / 255,
};

function toySuite(n: number, f: number, seed: number) {
  const key = tensorKey(seed, 'toy');
  const inputs = Uint8Array.from({ length: n * f }, (_, i) => randomU32(key, i) & 0xff);
  const labels = Uint8Array.from({ length: n }, (_, i) => randomU32(key, i, 1) % 3);
  return writeSuite(info, { dtype: 'U8', data: inputs, featureSize: f }, labels);
}

describe('suites', () => {
  it('round-trips inputs, labels and metadata; hash is SHA-256 of the bytes', () => {
    for (let seed = 0; seed < 5; seed++) {
      const n = 3 + seed * 4;
      const bytes = toySuite(n, 6, seed);
      const s = readSuite(bytes, sha256Hex(bytes));
      expect(s.count).toBe(n);
      expect(s.featureSize).toBe(6);
      expect(s.id).toBe('t-suite');
      expect(s.hash).toBe(sha256Hex(bytes));
      const rows = suiteRows(s, 1, 3);
      expect(rows.length).toBe(12);
      expect(rows[0]).toBeCloseTo(s.inputs.data[6] / 255, 6);
    }
  });

  it('refuses a suite whose hash does not match the pin, naming both hashes', () => {
    const bytes = toySuite(5, 4, 1);
    const tampered = bytes.slice();
    tampered[tampered.length - 1] ^= 1;
    expect(() => readSuite(tampered, sha256Hex(bytes))).toThrow(SuiteError);
    expect(() => readSuite(tampered, sha256Hex(bytes))).toThrow(/suite hash mismatch/);
  });

  it('refuses malformed suites with one-line reasons', () => {
    expect(() => readSuite(new Uint8Array(3))).toThrow(/not a valid safetensors file/);
    expect(() => writeSuite(info, { dtype: 'U8', data: new Uint8Array(4), featureSize: 2 }, Uint8Array.from([0, 5]))).toThrow(
      /label 5 at row 1/,
    );
  });
});

describe('evaluator', () => {
  const bytes = toySuite(40, 4, 3);
  const suite = readSuite(bytes);
  // A "model" that reads the label back from a lookup: first feature → class by position.
  const oracle = (s: typeof suite) => {
    let cursor = 0;
    return async (_x: Float32Array, batch: number) => {
      const out = new Float32Array(batch * 3);
      for (let r = 0; r < batch; r++) out[r * 3 + s.labels[cursor + r]] = 10;
      cursor += batch;
      return out;
    };
  };

  it('scores a perfect model at accuracy 1 and a constant model at the class frequency', async () => {
    const r = await evaluateClassifier(oracle(suite), suite, { batch: 7, expectedSuiteHash: suite.hash });
    expect(r.metrics.accuracy).toBe(1);
    expect(r.metrics.count).toBe(40);
    expect(r.metrics.perplexity).toBeNull();
    const zeros = await evaluateClassifier(async (_x, b) => new Float32Array(b * 3), suite, { batch: 16 });
    expect(zeros.metrics.accuracy).toBeCloseTo(suite.labels.filter((y) => y === 0).length / 40, 12);
    expect(zeros.metrics.nll).toBeCloseTo(Math.log(3), 6);
  });

  it('refuses an unpinned suite and a model of the wrong species before running', async () => {
    let ran = false;
    const run = async (_x: Float32Array, b: number) => ((ran = true), new Float32Array(b * 3));
    await expect(evaluateClassifier(run, suite, { expectedSuiteHash: '0'.repeat(64) })).rejects.toThrow(
      /hashes to .* but the pin is 0{64}/,
    );
    await expect(evaluateClassifier(run, suite, { expectedSpecies: 'a'.repeat(64), modelSpecies: 'b'.repeat(64) })).rejects.toThrow(
      EvaluationRefused,
    );
    await expect(evaluateClassifier(run, suite, { family: 'digits' })).rejects.toThrow(/belongs to family "toy", not "digits"/);
    expect(ran).toBe(false);
  });

  it('refuses outputs of the wrong shape or non-finite values', async () => {
    await expect(evaluateClassifier(async (_x, b) => new Float32Array(b * 2), suite)).rejects.toThrow(/contract is/);
    await expect(evaluateClassifier(async (_x, b) => new Float32Array(b * 3).fill(NaN), suite)).rejects.toThrow(/non-finite/);
  });

  it('runtime smoke passes a finite model of the right shape and fails others', async () => {
    const good = await runtimeSmoke(async (x, b) => Float32Array.from({ length: b * 3 }, (_, i) => x[i % x.length]), {
      featureSize: 4,
      outputSize: 3,
    });
    expect(good.ok).toBe(true);
    const shape = await runtimeSmoke(async (_x, b) => new Float32Array(b * 2), { featureSize: 4, outputSize: 3 });
    expect(shape.ok).toBe(false);
    expect(shape.message).toMatch(/shape check failed/);
    const inf = await runtimeSmoke(async (_x, b) => new Float32Array(b * 3).fill(Infinity), { featureSize: 4, outputSize: 3 });
    expect(inf.message).toMatch(/finite check failed/);
    const throws = await runtimeSmoke(
      async () => {
        throw new Error('boom');
      },
      { featureSize: 4, outputSize: 3 },
    );
    expect(throws.message).toMatch(/runs check failed: run failed: boom/);
  });
});
