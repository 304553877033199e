import { describe, expect, it } from 'vitest';
import { readSuite, writeSuite, SuiteError, type SuiteInfo } from './suite.ts';
import { evaluateClassifier, type RunFn } from './evaluate.ts';
import { attachRobustness, evaluateRobustness, robustnessOf, withRobustness, RobustnessError } from './robustness.ts';
import { sidecarBody, sidecarChecksumOk } from './sidecar.ts';
import { randomU32, randomUnit, tensorKey } from '../operators/prng.ts';

const F = 5;
const C = 3;
const base: SuiteInfo = {
  id: 'toy-test',
  name: 'clean',
  family: 'toy',
  task: 'classify',
  perturbation: 'none',
  description: '',
  classes: C,
  scale: 1,
};

/** Rows whose label is the argmax of the first C features; `noise` flips that many features' order at random. */
function suite(info: SuiteInfo, n: number, seed: number, noise: number) {
  const key = tensorKey(seed, 'rows');
  const x = new Float32Array(n * F);
  const y = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    y[r] = randomU32(key, r) % C;
    for (let j = 0; j < F; j++) x[r * F + j] = (j === y[r] ? 1 : 0) + noise * randomUnit(key, r * F + j, 1);
  }
  return readSuite(writeSuite(info, { dtype: 'F32', data: x, featureSize: F }, y));
}

/** The model: logits = 4 × the first C features. */
const model: RunFn = async (x, batch) => {
  const out = new Float32Array(batch * C);
  for (let r = 0; r < batch; r++) for (let c = 0; c < C; c++) out[r * C + c] = 4 * x[r * F + c];
  return out;
};

describe('robustness in the metric vector', () => {
  it('reports quality under the declared perturbation and the drop from the clean baseline, for any noise level', async () => {
    const clean = await evaluateClassifier(model, suite(base, 200, 1, 0.2));
    for (const noise of [0, 0.8, 1.5, 3]) {
      const perturbed = await evaluateClassifier(
        model,
        suite({ ...base, id: 'toy-robust', perturbation: `noise(${noise})`, baseline: 'toy-test' }, 200, 2, noise),
      );
      expect(perturbed.suite.baseline).toBe('toy-test');
      const r = withRobustness(perturbed, clean);
      expect(r.metrics.accuracy).toBe(perturbed.metrics.accuracy);
      expect(r.metrics.accuracyDrop).toBeCloseTo(clean.metrics.accuracy - perturbed.metrics.accuracy, 12);
      expect(r.metrics.nllIncrease).toBeCloseTo(perturbed.metrics.nll - clean.metrics.nll, 12);
      expect(r.metrics.perplexityRatio).toBeUndefined();
      expect(r.robustness).toMatchObject({
        perturbation: `noise(${noise})`,
        baseline: { id: 'toy-test', hash: clean.suite.hash },
        suite: { id: 'toy-robust', hash: perturbed.suite.hash },
      });
      // The existing fields are untouched, and the input result is not mutated.
      expect(perturbed.metrics.accuracyDrop).toBeUndefined();
      // Sidecars carry the drop among their numbers and still verify.
      const body = sidecarBody('c'.repeat(64), r);
      expect(body.metrics.accuracyDrop).toBe(r.metrics.accuracyDrop);
      expect(sidecarChecksumOk(body)).toBe(true);
    }
    // Heavy noise costs accuracy (the check above can see a drop).
    const heavy = await evaluateClassifier(
      model,
      suite({ ...base, id: 'toy-robust', perturbation: 'noise(3)', baseline: 'toy-test' }, 200, 2, 3),
    );
    expect(withRobustness(heavy, clean).metrics.accuracyDrop!).toBeGreaterThan(0.1);
  });

  it('attaches only where the baseline was scored too, keeping order; refuses a mismatched baseline', async () => {
    const clean = await evaluateClassifier(model, suite(base, 50, 1, 0.5));
    const other = await evaluateClassifier(model, suite({ ...base, id: 'toy-other' }, 50, 3, 0.5));
    const robust = await evaluateClassifier(
      model,
      suite({ ...base, id: 'toy-robust', perturbation: 'noise(1)', baseline: 'toy-test' }, 50, 2, 1),
    );
    const all = attachRobustness([robust, other, clean]);
    expect(all.map((r) => r.suite.id)).toEqual(['toy-robust', 'toy-other', 'toy-test']);
    expect(all[0].robustness?.baseline.id).toBe('toy-test');
    expect(all[1].robustness).toBeUndefined();
    expect(attachRobustness([robust, other])[0].robustness).toBeUndefined();
    expect(() => robustnessOf(robust, other)).toThrow(RobustnessError);
    expect(() => robustnessOf(robust, other)).toThrow(/compared with "toy-test", not "toy-other"/);
    expect(() => robustnessOf(other, clean)).toThrow(/declares no baseline suite/);
  });

  it('suites keep the baseline in their metadata; a suite without one has the same bytes as before', () => {
    const x = { dtype: 'F32' as const, data: new Float32Array(F), featureSize: F };
    const y = Uint8Array.from([1]);
    expect(readSuite(writeSuite({ ...base, id: 'r', perturbation: 'p', baseline: 'toy-test' }, x, y)).baseline).toBe('toy-test');
    expect(readSuite(writeSuite(base, x, y)).baseline).toBeUndefined();
    expect(writeSuite({ ...base, baseline: undefined }, x, y)).toEqual(writeSuite(base, x, y));
    expect(() => writeSuite({ ...base, baseline: 'toy-test' }, x, y)).toThrow(SuiteError);
    expect(() => writeSuite({ ...base, id: 'r', baseline: 'toy-test' }, x, y)).toThrow(/declares no perturbation/);
  });

  it('evaluateRobustness scores both suites and checks the pairing and both pins before running', async () => {
    const clean = suite(base, 60, 1, 0.5);
    const robust = suite({ ...base, id: 'toy-robust', perturbation: 'noise(2)', baseline: 'toy-test' }, 60, 2, 2);
    const r = await evaluateRobustness(model, robust, clean, {
      expectedSuiteHash: robust.hash,
      expectedBaselineHash: clean.hash,
      batch: 7,
    });
    const expected = withRobustness(await evaluateClassifier(model, robust), await evaluateClassifier(model, clean));
    expect(r.metrics.accuracyDrop).toBe(expected.metrics.accuracyDrop);
    expect(r.robustness).toEqual(expected.robustness);
    let ran = false;
    const spy: RunFn = async (x, b) => ((ran = true), model(x, b));
    const other = suite({ ...base, id: 'toy-other' }, 10, 3, 0.5);
    await expect(evaluateRobustness(spy, robust, other)).rejects.toThrow(/compared with "toy-test", not "toy-other"/);
    await expect(evaluateRobustness(spy, robust, clean, { expectedBaselineHash: '0'.repeat(64) })).rejects.toThrow(
      /baseline suite "toy-test" hashes to .* but the pin is 0{64}/,
    );
    await expect(evaluateRobustness(spy, clean, robust)).rejects.toThrow(/not a robustness suite/);
    expect(ran).toBe(false);
  });
});
