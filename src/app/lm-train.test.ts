import { describe, expect, it } from 'vitest';
import { parseSpec } from '../core/train/spec.ts';
import { checkLmForm, lmTrainSpec, LM_TARGETS, LM_TRAIN_FIELDS, userTexts, type LmTrainField } from './lm-train.ts';

const initial = () => Object.fromEntries(Object.entries(LM_TRAIN_FIELDS).map(([k, f]) => [k, f.initial])) as Record<LmTrainField, string>;

describe('the LM train form', () => {
  it('refuses values out of range (never clamps them) and a LoRA without a target', () => {
    const f = checkLmForm([], { ...initial(), lr: '5', r: '0', seqLen: '600', evalEvery: '61' });
    expect(f.settings).toBeNull();
    expect(f.problems).toMatchObject({
      lr: 'learning rate must be a number in 0.00001…0.1, got "5"',
      r: 'rank r must be an integer in 1…64, got "0"',
      seqLen: 'window (tokens) must be an integer in 8…512, got "600"',
      evalEvery: 'validate every must be at most the steps (60), got "61"',
      targets: expect.stringContaining('at least one target module'),
    });
  });

  it('gives the spec garden train would parse from the same settings', () => {
    const f = checkLmForm([...LM_TARGETS], initial());
    expect(f.problems).toBeNull();
    const spec = lmTrainSpec(f.settings!, 'base', ['pasted.txt']);
    const json = JSON.stringify({
      base: 'base',
      data: { train: 'pasted.txt' },
      text: { seq_len: 64, validation_split: 0.2, eval_every: 10, patience: 3 },
      adapter: { r: 8, lora_alpha: 16, lora_dropout: 0, target_modules: [...LM_TARGETS] },
      train: { steps: 60, batch: 8, lr: 0.01, schedule: 'cosine', warmup_steps: 6, weight_decay: 0.01, seed: 1 },
    });
    expect(spec).toEqual(parseSpec(json));
  });

  it('takes the box and the files as named texts with their hashes; a blank box is no text', () => {
    expect(userTexts('  \n', [{ name: 'a.md', text: 'x' }]).map((t) => t.name)).toEqual(['a.md']);
    expect(userTexts('abc', [])[0]).toEqual({
      name: 'pasted.txt',
      text: 'abc',
      hash: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    });
  });
});
