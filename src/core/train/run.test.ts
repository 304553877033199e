import { describe, expect, it } from 'vitest';
import { tinyCheckpoint } from '../models/llama-testing.ts';
import { mlpToTensors } from '../models/mlp.ts';
import { readSuite, writeSuite, type SuiteInfo } from '../eval/suite.ts';
import { readCalibration, writeCalibration } from '../operators/calibration.ts';
import { runTraining } from './run.ts';
import { parseSpec, refuseSuiteOverlap } from './spec.ts';

const SPEC = JSON.stringify({
  base: 'b.slm',
  data: { train: 't.jsonl' },
  adapter: { r: 2, lora_alpha: 4, target_modules: ['fc1'] },
  train: { steps: 3, lr: 0.01 },
});

describe('runTraining', () => {
  it('fills the spec defaults PEFT and transformers use', () => {
    expect(parseSpec(SPEC)).toMatchObject({
      adapter: { dropout: 0, modulesToSave: [], useRslora: false },
      train: { batch: 16, schedule: 'cosine', warmupSteps: 0, weightDecay: 0, seed: 0 },
      suites: [],
    });
    expect(() => parseSpec(SPEC.replace('"steps":3', '"steps":3,"steps":4'))).toThrow(/duplicate key "steps"/);
  });

  it('refuses a base that is not of the MLP classifier species (a Llama; an MLP with an extra tensor)', () => {
    const z = (n: number) => new Float32Array(n);
    const llama = tinyCheckpoint({ layers: 1 }).tensors;
    const mlp = mlpToTensors({ shape: { inputs: 4, hidden: 3, classes: 2 }, w1: z(12), b1: z(3), w2: z(6), b2: z(2) });
    const extra = [...mlp, { name: 'embed.weight', dtype: 'F32' as const, shape: [2, 2], data: new Uint8Array(16) }];
    const data = { x: new Float32Array(4), y: new Int32Array(1), featureSize: 4, counts: [1], name: 't', hash: 'h' };
    const base = (tensors: ReturnType<typeof mlpToTensors>) => ({ name: 'b', hash: 'h', species: 's', tensors, labels: ['a', 'b'] });
    expect(() => runTraining({ spec: parseSpec(SPEC), base: base(llama), train: data, suites: [] })).toThrow(
      /not of the MLP classifier species \(tensors lm_head.weight, model.embed_tokens.weight/,
    );
    expect(() => runTraining({ spec: parseSpec(SPEC), base: base(extra), train: data, suites: [] })).toThrow(
      /not of the MLP classifier species \(tensors embed.weight, fc1.bias/,
    );
    expect(runTraining({ spec: parseSpec(SPEC), base: base(mlp), train: data, suites: [] }).steps).toHaveLength(3);
  });

  describe('the wall against the suites and the calibration split', () => {
    const info = (id: string): SuiteInfo => ({
      id,
      name: id,
      family: 'tiny',
      task: 'classify',
      perturbation: 'none',
      description: '',
      classes: 2,
      scale: 1,
    });
    const rows = (...r: number[][]) => ({ dtype: 'F32' as const, data: Float32Array.from(r.flat()), featureSize: 4 });
    const frozen = readSuite(writeSuite(info('frozen'), rows([9, 9, 9, 9]), Uint8Array.from([0])));
    const cal = (...r: number[][]) => readCalibration(writeCalibration(info('my-cal'), rows(...r), new Uint8Array(r.length)));
    const data = { x: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), y: Int32Array.from([0, 1]), featureSize: 4, counts: [1, 1] };

    it('refuses a row equal to a calibration row, in one line naming the check, the row and the split', () => {
      expect(() => refuseSuiteOverlap(data, [frozen], 'mine.jsonl', [cal([0, 0, 0, 0], [5, 6, 7, 8])])).toThrow(
        /^mine\.jsonl row 2 has the same model input as row 2 of calibration split "my-cal" \([0-9a-f]{12}…\); training data must be kept apart from the calibration split \(the data-informed merges fit on it\)$/,
      );
      // The frozen suites are still checked first, and apart: their refusal names the suite.
      const leak = { ...data, x: Float32Array.from([9, 9, 9, 9, 5, 6, 7, 8]) };
      expect(() => refuseSuiteOverlap(leak, [frozen], 'mine.jsonl', [cal([5, 6, 7, 8])])).toThrow(/row 1 of frozen suite "frozen"/);
      const kept = refuseSuiteOverlap(data, [frozen], 'mine.jsonl', [cal([0, 0, 0, 0])]);
      expect(kept.checked.map((s) => s.id)).toEqual(['frozen']);
      expect(kept.calibration).toMatchObject([{ id: 'my-cal', rows: 1 }]);
    });

    it('runTraining refuses the run (training or validation rows) and records the splits kept apart in the manifest', () => {
      const z = (n: number) => new Float32Array(n).fill(0.1);
      const mlp = mlpToTensors({ shape: { inputs: 4, hidden: 3, classes: 2 }, w1: z(12), b1: z(3), w2: z(6), b2: z(2) });
      const base = { name: 'b', hash: 'h', species: 's', tensors: mlp, labels: ['a', 'b'] };
      const spec = parseSpec(SPEC.replace('"data":{"train":"t.jsonl"}', '"data":{"train":"t.jsonl","validation":"v.jsonl"}'));
      const train = { ...data, name: 't', hash: 'h' };
      const validation = { ...data, x: Float32Array.from([3, 3, 3, 3, 4, 4, 4, 4]), name: 'v', hash: 'h' };
      const inp = { spec, base, train, validation, suites: [frozen] };
      expect(() => runTraining({ ...inp, calibration: [cal([1, 2, 3, 4])] })).toThrow(/^t\.jsonl row 1 .* calibration split "my-cal"/);
      expect(() => runTraining({ ...inp, calibration: [cal([4, 4, 4, 4])] })).toThrow(/^v\.jsonl row 2 .* calibration split "my-cal"/);
      const ok = runTraining({ ...inp, calibration: [cal([0, 0, 0, 1])] });
      expect(ok.manifest.calibrationKeptApart).toMatchObject([{ id: 'my-cal', rows: 1 }]);
      expect(runTraining(inp).manifest).not.toHaveProperty('calibrationKeptApart');
    });

    it('parses "calibration" in a classifier spec, refuses it in a text spec', () => {
      expect(parseSpec(SPEC).calibration).toBeUndefined();
      expect(parseSpec(SPEC.replace('"base"', '"calibration":["c.calibration"],"base"')).calibration).toEqual(['c.calibration']);
      expect(() => parseSpec(SPEC.replace('"base"', '"calibration":"c","base"'))).toThrow(/spec.calibration must be a list of names/);
      const text = { ...JSON.parse(SPEC), data: { train: ['a.txt'] }, text: { seq_len: 8 }, calibration: ['c.calibration'] };
      expect(() => parseSpec(JSON.stringify(text))).toThrow(/spec.calibration holds classifier suites; a "text" spec/);
    });
  });
});
