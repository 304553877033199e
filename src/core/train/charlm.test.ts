import { describe, expect, it } from 'vitest';
import { charLmToTensors, encodeText } from '../models/charlm.ts';
import { sha256Hex } from '../hash.ts';
import { mulberry32 } from '../seeded.ts';
import { toFloat32 } from '../tensor.ts';
import { charLmAdapterLoss, charLmSites, charLmTextLoss, trainCharLmAdapter } from './charlm.ts';
import { initAdapter, mergeAdapter, type LoraConfig } from './lora.ts';
import { adapterParams } from './mlp.ts';
import { exportPeft } from './peft.ts';
import { Tape } from './tape.ts';

function tinyLm(seed: number) {
  const g = mulberry32(seed);
  const f = (n: number, s = 0.5) => Float32Array.from({ length: n }, () => (g() - 0.5) * s);
  const shape = { context: 4, embed: 3, hidden: 16, vocab: 50 };
  return charLmToTensors({ shape, emb: f(150, 1), w1: f(12 * 16), b1: f(16, 0.1), w2: f(16 * 50), b2: f(50, 0.1) });
}

const CFG: LoraConfig = {
  r: 4,
  alpha: 8,
  dropout: 0,
  targetModules: ['fc1', 'fc2'],
  modulesToSave: [],
  useRslora: false,
  fanInFanOut: true,
  baseModel: 'tiny',
  taskType: 'CAUSAL_LM',
};

describe('the char LM on the training tape', () => {
  const base = tinyLm(1);
  const sites = charLmSites(base);
  const text = encodeText('the whale, the whale! call me ishmael. the sea, the sea. '.repeat(6));

  it('the tape loss with LoRA equals the oracle loss of the merged weights', () => {
    const a = initAdapter(CFG, sites, new Map(), 3);
    const g = mulberry32(4);
    for (const p of a.lora.values()) for (let i = 0; i < p.b.length; i++) p.b[i] = g() - 0.5;
    const tape = new Tape('f32');
    const values = new Map(adapterParams(a).map((p) => [p.name, tape.param(p.data, p.rows, p.cols, p.name)]));
    const f32 = new Map(base.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
    const ends = Uint32Array.from({ length: text.length - 1 }, (_, i) => i + 1);
    const loss = charLmAdapterLoss(tape, f32, { context: 4, embed: 3, vocab: 50 }, sites, a, values, text, ends, 0);
    expect(loss.data[0]).toBeCloseTo(charLmTextLoss(mergeAdapter(base, a), text), 5);
  });

  it('a LoRA lowers the perplexity of the text it learns, and repeats to the byte', () => {
    const run = (seed: number) => {
      const a = initAdapter(CFG, sites, new Map(), seed);
      trainCharLmAdapter(base, a, text, { steps: 120, batch: 32, seed, schedule: { kind: 'cosine', lr: 0.02, warmupSteps: 10 } });
      return a;
    };
    const a = run(5);
    const before = charLmTextLoss(base, text);
    const after = charLmTextLoss(mergeAdapter(base, a), text);
    expect(after).toBeLessThan(before * 0.7);
    expect(sha256Hex(exportPeft(run(5)).weights)).toBe(sha256Hex(exportPeft(a).weights));
  });
});
