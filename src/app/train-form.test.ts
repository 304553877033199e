import { describe, expect, it } from 'vitest';
import { mlpToTensors } from '../core/models/mlp.ts';
import { readSuite, writeSuite } from '../core/eval/suite.ts';
import { runTraining } from '../core/train/run.ts';
import {
  checkForm,
  fieldProblem,
  MAIL_SET,
  refusedExample,
  splitExamples,
  stepsPerEpoch,
  trainSpec,
  TRAIN_FIELDS,
  type Example,
} from './train-form.ts';

const texts = () =>
  Object.fromEntries(Object.entries(TRAIN_FIELDS).map(([k, f]) => [k, f.initial])) as Record<keyof typeof TRAIN_FIELDS, string>;

function examples(n: number): Example[] {
  return Array.from({ length: n }, (_, i) => ({ id: `e${i}`, label: i % 2, input: Float32Array.from([i, 1, 0, i / 10]), at: i }));
}

describe('train form', () => {
  it('refuses a value outside its range, naming the range', () => {
    expect(fieldProblem('r', '4')).toBeNull();
    expect(fieldProblem('r', '0')).toBe('rank r must be an integer in 1…64, got "0"');
    expect(fieldProblem('r', '2.5')).toMatch(/an integer in 1…64/);
    expect(fieldProblem('dropout', '0.95')).toBe('lora_dropout must be a number in 0…0.9, got "0.95"');
    expect(fieldProblem('lr', '')).toMatch(/learning rate must be a number in 0.00001…1/);
    const bad = checkForm('lora', [], { ...texts(), epochs: '5000' });
    expect(bad.settings).toBeNull();
    expect(Object.keys(bad.problems!).sort()).toEqual(['epochs', 'targets']);
    expect(checkForm('head', [], texts()).settings?.values.epochs).toBe(30);
  });

  it('splits the examples by seed (a fifth held out) and makes the spec of the run', () => {
    const a = splitExamples(examples(10), 2, 17);
    expect(a.train.y.length).toBe(8);
    expect(a.validation!.y.length).toBe(2);
    expect(splitExamples(examples(10), 2, 17).train.hash).toBe(a.train.hash);
    expect(splitExamples(examples(10), 2, 18).train.hash).not.toBe(a.train.hash);
    expect(splitExamples(examples(4), 2, 1).validation).toBeUndefined();
    expect(() => splitExamples(examples(1), 2, 1)).toThrow(/at least 2 examples/);
    const s = checkForm('lora', ['fc1', 'fc2'], { ...texts(), epochs: '3', batch: '4' }).settings!;
    const spec = trainSpec(s, 8, 'b.slm', true);
    expect(stepsPerEpoch(8, 4)).toBe(2);
    expect(spec.train).toMatchObject({ steps: 6, batch: 4, warmupSteps: 0, schedule: 'cosine' });
    expect(spec.adapter).toMatchObject({ r: 4, alpha: 8, targetModules: ['fc1', 'fc2'], modulesToSave: [] });
    expect(trainSpec({ ...s, mode: 'head' }, 8, 'b.slm', true).adapter).toMatchObject({ targetModules: [], modulesToSave: ['fc2'] });
  });

  it('a set with a row of a frozen suite is refused by the run, naming the suite', () => {
    const z = (n: number) => new Float32Array(n).fill(0.1);
    const base = mlpToTensors({ shape: { inputs: 4, hidden: 3, classes: 2 }, w1: z(12), b1: z(3), w2: z(6), b2: z(2) });
    const ex = examples(10);
    const split = splitExamples(ex, 2, 17);
    const suite = (row: Float32Array) =>
      readSuite(
        writeSuite(
          {
            id: 'frozen',
            name: 'f',
            family: 'digits',
            task: 'classify',
            perturbation: 'none',
            description: '',
            classes: 2,
            scale: 1,
          },
          { dtype: 'F32', data: row, featureSize: 4 },
          Uint8Array.from([0]),
        ),
      );
    const s = checkForm('lora', ['fc1'], { ...texts(), epochs: '2' }).settings!;
    const inp = (suites: ReturnType<typeof suite>[]) => ({
      spec: trainSpec(s, split.train.y.length, 'b.slm', true),
      base: { name: 'b.slm', hash: 'h', species: 's', tensors: base, labels: ['a', 'b'] },
      ...split,
      suites,
    });
    const trainRow = split.train.x.slice(4, 8);
    let refusal = '';
    try {
      runTraining(inp([suite(trainRow)]));
    } catch (e) {
      refusal = (e as Error).message;
    }
    expect(refusal).toMatch(/^drawn digits \(training\) row 2 has the same model input as row 1 of frozen suite "frozen"/);
    // The refusal's row is the user's example of that input.
    const named = ex.find((e) => e.id === refusedExample(refusal, split.ids))!;
    expect(Array.from(named.input)).toEqual(Array.from(trainRow));
    expect(runTraining(inp([suite(Float32Array.from([9, 9, 9, 9]))])).manifest.suitesKeptApart).toHaveLength(1);
  });

  it("names a family's set in the data, the spec and the refusal it is read back from", () => {
    const ex = examples(10);
    const split = splitExamples(ex, 2, 17, MAIL_SET);
    expect([split.train.name, split.validation?.name]).toEqual(['your emails (training)', 'your emails (validation)']);
    const s = checkForm('head', [], texts()).settings!;
    expect(trainSpec(s, 8, 'b.slm', true, MAIL_SET).data).toEqual({
      train: 'your emails (training)',
      validation: 'your emails (validation)',
    });
    const msg = 'your emails (validation) row 2 has the same model input as row 5 of frozen suite "mail-later"';
    expect(refusedExample(msg, split.ids, MAIL_SET)).toBe(split.ids.validation[1]);
    // Another family's name does not match.
    expect(refusedExample(msg, split.ids)).toBeNull();
  });
});
