import { describe, expect, it } from 'vitest';
import { fisherStatistics, gramStatistics, type CalibrationRows } from './statistics.ts';
import { breedWithStatistics } from './data-informed.ts';
import type { DataInformedStat } from './data-informed.ts';
import { cpuBackend } from './backend.ts';
import { calibrationOverlap, calibrationRows, CalibrationRefused, readCalibration, writeCalibration } from './calibration.ts';
import { readSuite, writeSuite, type SuiteInfo } from '../eval/suite.ts';
import { mlpForward, mlpToTensors, type MlpParams } from '../models/mlp.ts';
import { toFloat32 } from '../tensor.ts';

const shape = { inputs: 3, hidden: 2, classes: 2 };
function mlp(k: number): MlpParams {
  const v = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(1 + i * 1.7 + s * 3.1) * 0.8);
  return { shape, w1: v(6, k), b1: v(2, k + 10), w2: v(4, k + 20), b2: v(2, k + 30) };
}
const rows: CalibrationRows = {
  inputs: Float32Array.from([1, 0, 2, 0.5, 1, 0, 0, 3, 1, 2, 2, 2]),
  labels: Uint8Array.from([0, 1, 1, 0]),
  count: 4,
  featureSize: 3,
};

describe('data-informed statistics', () => {
  it('Grams: fc1 is XᵀX of the inputs, fc2 that of the parent’s hidden activations', () => {
    const p = mlp(1);
    const st = gramStatistics([mlpToTensors(p)], [rows]);
    const g1 = st.tensors['fc1.weight'].perParent[0];
    expect(g1[0 * 3 + 2]).toBe(1 * 2 + 0.5 * 0 + 0 * 1 + 2 * 2);
    const h = new Float32Array(8);
    mlpForward(p, rows.inputs, 4, h);
    const g2 = st.tensors['fc2.weight'].perParent[0];
    let s01 = 0;
    for (let r = 0; r < 4; r++) s01 += h[r * 2] * h[r * 2 + 1];
    expect(g2[1]).toBeCloseTo(s01, 5);
    expect(st.tensors['fc1.bias']).toBeUndefined();
  });

  it('Fisher of fc2.bias is the mean of (softmax − one-hot(label))², through the tape’s backward pass', () => {
    const p = mlp(2);
    const st = fisherStatistics([mlpToTensors(p)], [rows], 'empirical', 0);
    const logits = mlpForward(p, rows.inputs, 4);
    const want = [0, 0];
    for (let r = 0; r < 4; r++) {
      const e = [Math.exp(logits[2 * r]), Math.exp(logits[2 * r + 1])];
      for (let c = 0; c < 2; c++) want[c] += (e[c] / (e[0] + e[1]) - (rows.labels[r] === c ? 1 : 0)) ** 2 / 4;
    }
    const got = st.tensors['fc2.bias'].perParent[0];
    expect(got[0]).toBeCloseTo(want[0], 5);
    expect(got[1]).toBeCloseTo(want[1], 5);
    // sampled labels are seeded: the same seed gives the same Fisher
    const a = fisherStatistics([mlpToTensors(p)], [rows], 'sampled', 5).tensors['fc1.weight'].perParent[0];
    const b = fisherStatistics([mlpToTensors(p)], [rows], 'sampled', 5).tensors['fc1.weight'].perParent[0];
    expect([...a]).toEqual([...b]);
  });

  it('refuses a species other than the MLP, and a calibration set per parent that does not match', () => {
    const t = mlpToTensors(mlp(1));
    expect(() => gramStatistics([t.slice(0, 3)], [rows])).toThrow(/MLP species/);
    expect(() => gramStatistics([t, t, t], [rows, rows])).toThrow(/one per parent/);
  });

  it('breed: regmean of two parents with one calibration set; the receipt stats carry the conditioning', async () => {
    const parents = [mlpToTensors(mlp(1)), mlpToTensors(mlp(2))];
    const st = gramStatistics(parents, [rows]);
    const r = await breedWithStatistics({ operator: 'regmean', params: {}, seed: 1, parents }, st, cpuBackend);
    const w1: DataInformedStat = r.stats.find((s) => s.name === 'fc1.weight')!;
    expect(w1.conditionNumber).toBeGreaterThan(1);
    expect(w1.unseenInputs).toBe(0);
    expect(r.statistics).toEqual({ kind: 'gram', rows: [4, 4] });
    // biases are averaged
    const b1 = toFloat32(r.tensors.find((t) => t.name === 'fc1.bias')!);
    expect(b1[0]).toBeCloseTo((mlp(1).b1[0] + mlp(2).b1[0]) / 2, 6);
    const f = await breedWithStatistics(
      { operator: 'fisher', params: {}, seed: 1, parents },
      fisherStatistics(parents, [rows], 'empirical', 1),
      cpuBackend,
    );
    const w2: DataInformedStat = f.stats.find((s) => s.name === 'fc2.weight')!;
    expect(w2.fisherMean).toHaveLength(2);
  });
});

describe('calibration splits', () => {
  const info = (id: string): SuiteInfo => ({
    id,
    name: id,
    family: 'f',
    task: 'classify',
    perturbation: 'none',
    description: '',
    classes: 2,
    scale: 1 / 255,
  });
  const bytes = (xs: number[]) => ({ dtype: 'U8' as const, data: Uint8Array.from(xs), featureSize: 3 });
  const frozen = readSuite(writeSuite(info('frozen'), bytes([1, 2, 3, 4, 5, 6]), Uint8Array.from([0, 1])));

  it('a declared split with no shared rows is accepted; a shared row is refused with one line naming it', () => {
    const ok = readCalibration(writeCalibration(info('cal'), bytes([7, 8, 9, 1, 2, 4]), Uint8Array.from([1, 0])));
    expect(calibrationOverlap(ok, [frozen])).toBeNull();
    expect(calibrationRows(ok, [frozen]).count).toBe(2);
    // the same pixels under another label still count: the row is the frozen suite's row 1
    const bad = readCalibration(writeCalibration(info('cal'), bytes([7, 8, 9, 4, 5, 6]), Uint8Array.from([1, 1])));
    const reason = calibrationOverlap(bad, [frozen])!;
    expect(reason).toMatch(/shares 1 of 2 rows .*its row 1 is row 1 of "frozen"/);
    expect(reason).not.toContain('\n');
    expect(() => calibrationRows(bad, [frozen])).toThrow(CalibrationRefused);
    expect(() => calibrationRows(ok, [])).toThrow(/no frozen suites/);
  });

  it('a frozen suite (not declared a calibration split) is refused', () => {
    expect(() => readCalibration(writeSuite(info('frozen'), bytes([1, 2, 3, 4, 5, 6]), Uint8Array.from([0, 1])))).toThrow(
      /not a declared calibration split/,
    );
  });
});
