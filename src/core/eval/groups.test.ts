/**
 * Declared groups in a suite (a digit condition, a mail collection per row): they round-trip, are
 * checked on read, and the evaluator reports each group's accuracy and the worst group's.
 */
import { describe, expect, it } from 'vitest';
import { readSuite, writeSuite, SuiteError, SUITE_KEYS, type SuiteInfo } from './suite.ts';
import { evaluateClassifier } from './evaluate.ts';
import { groupAccuracies, worstGroup } from './metrics.ts';
import { sidecarBody } from './sidecar.ts';
import { parseSafetensors, serializeSafetensors } from '../format/safetensors.ts';

const info: SuiteInfo = {
  id: 'g-suite',
  name: 'G',
  family: 'toy',
  task: 'classify',
  perturbation: 'mixed(a | b | c)',
  description: 'toy with groups',
  classes: 2,
  scale: 1,
  groups: ['clean', 'rotated', 'noisy'],
};

// 12 rows, one feature: the row's own index. Labels alternate; groups are row % 3.
const n = 12;
const inputs = Float32Array.from({ length: n }, (_, i) => i);
const labels = Uint8Array.from({ length: n }, (_, i) => i % 2);
const groupIndex = Uint8Array.from({ length: n }, (_, i) => i % 3);

/** A model right on every row except rows 1 and 4 (group "rotated") and row 2 (group "noisy"). */
const wrong = new Set([1, 4, 2]);
const run = async (x: Float32Array, batch: number) => {
  const y = new Float32Array(batch * 2);
  for (let r = 0; r < batch; r++) {
    const i = x[r];
    const predicted = wrong.has(i) ? 1 - (i % 2) : i % 2;
    y[r * 2 + predicted] = 3;
  }
  return y;
};

describe('suite groups', () => {
  const bytes = writeSuite(info, { dtype: 'F32', data: inputs, featureSize: 1 }, labels, groupIndex);

  it('round-trip: names and each row’s group', () => {
    const s = readSuite(bytes);
    expect(s.groups).toEqual(['clean', 'rotated', 'noisy']);
    expect(Array.from(s.groupIndex!)).toEqual(Array.from(groupIndex));
  });

  it('the evaluator reports every group’s accuracy and the worst group, also in the sidecar metrics', async () => {
    const r = await evaluateClassifier(run, readSuite(bytes), { batch: 5 });
    // clean: rows 0,3,6,9 all right; rotated: 1,4,7,10 → 2/4; noisy: 2,5,8,11 → 3/4
    expect(r.groups!.accuracies).toEqual([
      { group: 'clean', count: 4, accuracy: 1 },
      { group: 'rotated', count: 4, accuracy: 0.5 },
      { group: 'noisy', count: 4, accuracy: 0.75 },
    ]);
    expect(r.groups!.worst).toBe('rotated');
    expect(r.metrics.worstGroupAccuracy).toBe(0.5);
    expect(r.metrics.accuracy).toBeCloseTo(9 / 12, 12);
    expect(sidecarBody('a'.repeat(64), r).metrics.worstGroupAccuracy).toBe(0.5);
  });

  it('a suite without groups has no groups tensor and no worst-group metric', async () => {
    const { groups: _g, ...plain } = info;
    const b = writeSuite(plain, { dtype: 'F32', data: inputs, featureSize: 1 }, labels);
    expect(parseSafetensors(b).tensors.map((t) => t.name)).toEqual(['inputs', 'labels']);
    expect(parseSafetensors(b).metadata[SUITE_KEYS.groups]).toBeUndefined();
    const r = await evaluateClassifier(run, readSuite(b));
    expect(r.metrics.worstGroupAccuracy).toBeUndefined();
    expect(r.groups).toBeUndefined();
  });

  it('refuses a group index outside the names, duplicate names, and names without indices', () => {
    const f = { dtype: 'F32' as const, data: inputs, featureSize: 1 };
    expect(() =>
      writeSuite(
        info,
        f,
        labels,
        Uint8Array.from(groupIndex, (g) => (g === 2 ? 3 : g)),
      ),
    ).toThrow(/group 3 at row 2 is outside/);
    expect(() => writeSuite({ ...info, groups: ['a', 'a', 'b'] }, f, labels, groupIndex)).toThrow(/distinct/);
    expect(() => writeSuite(info, f, labels)).toThrow(/go together/);
    // On read: a "groups" tensor without the names, and names that a row's index overruns.
    const p = parseSafetensors(bytes);
    const { [SUITE_KEYS.groups]: _names, ...meta } = p.metadata;
    expect(() => readSuite(serializeSafetensors(p.tensors, meta))).toThrow(SuiteError);
    expect(() => readSuite(serializeSafetensors(p.tensors, { ...p.metadata, [SUITE_KEYS.groups]: '["x","y"]' }))).toThrow(
      /group 2 at row 2 is outside 0..1/,
    );
  });
});

describe('groupAccuracies / worstGroup', () => {
  it('a group with no rows is listed (NaN) and never the worst; ties go to the first', () => {
    const logits = [1, 0, 0, 1, 1, 0, 1, 0];
    const labs = [0, 0, 0, 1];
    const g = groupAccuracies(logits, labs, 2, [0, 0, 2, 2], ['a', 'empty', 'b']);
    expect(g.map((x) => [x.group, x.count, x.accuracy])).toEqual([
      ['a', 2, 0.5],
      ['empty', 0, NaN],
      ['b', 2, 0.5],
    ]);
    expect(worstGroup(g)!.group).toBe('a');
    expect(worstGroup([{ count: 0, accuracy: NaN }])).toBeNull();
  });
});
