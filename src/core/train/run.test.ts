import { describe, expect, it } from 'vitest';
import { charLmToTensors } from '../models/charlm.ts';
import { mlpToTensors } from '../models/mlp.ts';
import { runTraining } from './run.ts';
import { parseSpec } from './spec.ts';

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

  it('refuses a base that is not of the MLP classifier species (a char LM has fc1 and fc2 too)', () => {
    const z = (n: number) => new Float32Array(n);
    const lm = charLmToTensors({
      shape: { context: 2, embed: 2, hidden: 3, vocab: 50 },
      emb: z(100),
      w1: z(12),
      b1: z(3),
      w2: z(150),
      b2: z(50),
    });
    const data = { x: new Float32Array(4), y: new Int32Array(1), featureSize: 4, counts: [1], name: 't', hash: 'h' };
    const base = (tensors: ReturnType<typeof mlpToTensors>) => ({ name: 'b', hash: 'h', species: 's', tensors, labels: ['a', 'b'] });
    expect(() => runTraining({ spec: parseSpec(SPEC), base: base(lm), train: data, suites: [] })).toThrow(
      /not of the MLP classifier species \(tensors embed.weight, fc1.bias/,
    );
    const mlp = mlpToTensors({ shape: { inputs: 4, hidden: 3, classes: 2 }, w1: z(12), b1: z(3), w2: z(6), b2: z(2) });
    expect(runTraining({ spec: parseSpec(SPEC), base: base(mlp), train: data, suites: [] }).steps).toHaveLength(3);
  });
});
