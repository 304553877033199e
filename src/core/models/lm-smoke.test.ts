/** The generation smoke passes a healthy model and catches NaN weights and an unreachable EOS. */
import { describe, expect, it } from 'vitest';
import { generationSmoke } from './lm-smoke.ts';
import { referenceDecoder } from './decoder.ts';
import { parseCausalLmConfig } from './llama-config.ts';
import { tinyCheckpoint } from './llama-testing.ts';
import { fromFloat32, toFloat32 } from '../tensor.ts';

const ck = tinyCheckpoint({ scale: 1 });
const cfg = parseCausalLmConfig(ck.config);

describe('generation smoke', () => {
  it('a healthy model passes: finite logits, EOS with a positive probability', async () => {
    const s = await generationSmoke(referenceDecoder(cfg, ck.tensors), [0, 5, 9], { eosTokenIds: [1], steps: 6 });
    expect(s.finite).toBe(true);
    expect(s.eosMaxProbability).toBeGreaterThan(0);
    expect(s.passed).toBe(true);
    expect(s.generated.length).toBeGreaterThan(0);
  });

  it('one NaN weight makes logits non-finite and fails it', async () => {
    const bad = ck.tensors.map((t) => {
      if (t.name !== 'model.layers.1.mlp.down_proj.weight') return t;
      const v = toFloat32(t).slice();
      v[3] = NaN;
      return fromFloat32(t.name, t.shape, v);
    });
    const s = await generationSmoke(referenceDecoder(cfg, bad), [0, 5, 9], { eosTokenIds: [1], steps: 4 });
    expect(s.finite).toBe(false);
    expect(s.nonFinite).toBeGreaterThan(0);
    expect(s.passed).toBe(false);
  });

  it('no end-of-sequence token, or one outside the vocabulary, is unreachable', async () => {
    const d = referenceDecoder(cfg, ck.tensors);
    for (const eosTokenIds of [[], [cfg.vocabSize + 5]]) {
      const s = await generationSmoke(d, [0, 5], { eosTokenIds, steps: 3 });
      expect(s.finite).toBe(true);
      expect(s.eosMaxProbability).toBe(0);
      expect(s.eosReachable).toBe(false);
      expect(s.passed).toBe(false);
    }
  });
});
