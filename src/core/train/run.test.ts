import { describe, expect, it } from 'vitest';
import { tinyCheckpoint } from '../models/llama-testing.ts';
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
});
