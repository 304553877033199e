import { describe, expect, it } from 'vitest';
import { checkCascade, confidence, evaluateCascade, routeCascade, type Cascade, type StageAnswer } from './cascade.ts';
import { ReleaseController } from './release.ts';
import { SelectorRouter } from './router.ts';
import { memoryLedger } from './test-helpers.ts';

const C: Cascade = {
  name: 'digits-cheap-first',
  stages: [
    { slot: 'small', threshold: 0.9 },
    { slot: 'large', threshold: 0 },
  ],
};

/** Rows x = [a, b, c, 1]: the label is argmax(a, b, c); the small model is sure only when one value stands far out, and wrong when unsure. */
function stages(calls: string[]): StageAnswer {
  return async (slot, _id, x) => {
    calls.push(slot);
    const truth = [x[0], x[1], x[2]];
    if (slot === 'large') return truth.map((v) => v * 10);
    const sure = Math.max(...truth) - Math.min(...truth) > 0.8;
    return sure ? truth.map((v) => v * 10) : [truth[1], truth[0], truth[2]];
  };
}

describe('cascades', () => {
  it('answers cheaply when the first stage is confident and escalates when it is not', async () => {
    const calls: string[] = [];
    const sure = await routeCascade(C, stages(calls), 'r1', Float32Array.from([1, 0, 0, 1]));
    expect(sure).toMatchObject({ stage: 0, slot: 'small' });
    expect(calls).toEqual(['small']);
    const unsure = await routeCascade(C, stages(calls), 'r2', Float32Array.from([0.5, 0.4, 0.3, 1]));
    expect(unsure).toMatchObject({ stage: 1, slot: 'large' });
    expect(unsure.confidences[0]).toBeLessThan(0.9);
    expect(calls).toEqual(['small', 'small', 'large']);
  });

  it('counts the share answered cheaply and the quality kept against the last stage', async () => {
    const rows = [
      [1, 0, 0],
      [0, 1, 0],
      [0.5, 0.4, 0.3],
      [0.2, 0.3, 0.1],
      [0, 0, 1],
    ].map((r) => Float32Array.from([...r, 1]));
    // The last row's label is one no stage gives: the last stage alone is right on 4 of 5.
    const labels = [0, 1, 0, 1, 0];
    const r = await evaluateCascade(C, stages([]), rows, labels);
    expect(r).toEqual({ rows: 5, answeredBy: [3, 2], cheapShare: 0.6, accuracy: 0.8, lastStageAccuracy: 0.8, qualityDelta: 0 });
    // A threshold too low answers everything cheaply and loses quality.
    const low = await evaluateCascade({ ...C, stages: [{ slot: 'small', threshold: 0.3 }, C.stages[1]] }, stages([]), rows, labels);
    expect(low).toMatchObject({ answeredBy: [5, 0], cheapShare: 1, accuracy: 0.4, lastStageAccuracy: 0.8 });
    expect(low.qualityDelta).toBeCloseTo(-0.4, 12);
  });

  it("a cascade is a recipe of slots: its stages route through each slot's selector router", async () => {
    const { ledger } = await memoryLedger();
    const release = ReleaseController.open(ledger);
    const contract = { inputLength: 4, outputLength: 3, timeoutMs: 200, compare: 'argmax' as const };
    await release.createSlot('small', contract, 'int4-model');
    await release.createSlot('large', contract, 'f32-model');
    const answer = stages([]);
    const router = new SelectorRouter({ release, invoke: (m, x) => answer(m === 'int4-model' ? 'small' : 'large', '', x) });
    const r = await routeCascade(
      C,
      async (slot, id, x) => (await router.route(slot, id, x)).output,
      'q',
      Float32Array.from([0.5, 0.4, 0.3, 1]),
    );
    expect(r.slot).toBe('large');
    expect(router.stats('small')['int4-model'].invocations).toBe(1);
  });

  it('checks its stages and computes confidence as the top softmax probability', () => {
    expect(() => checkCascade({ name: 'x', stages: [C.stages[0]] })).toThrow('needs at least two stages');
    expect(() => checkCascade({ name: 'x', stages: [C.stages[0], C.stages[0]] })).toThrow('names slot "small" twice');
    expect(confidence([0, 0])).toBeCloseTo(0.5, 12);
    expect(confidence([Math.log(3), 0])).toBeCloseTo(0.75, 12);
  });
});
