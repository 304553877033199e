/** The generation smoke passes a healthy model and catches NaN weights and an unreachable EOS. */
import { describe, expect, it } from 'vitest';
import { generationSmoke, honoursLengthLimit } from './lm-smoke.ts';
import { generate } from './generate.ts';
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

  it('the length limit: exactly maxNew tokens without EOS; stops at an EOS the rollout produces', async () => {
    const d = referenceDecoder(cfg, ck.tensors);
    const long = await generationSmoke(d, [0, 5, 9], { eosTokenIds: [cfg.vocabSize + 5], steps: 5 });
    expect(long.steps).toBe(5);
    expect(long.stop).toBe('length');
    expect(long.lengthLimitHonoured).toBe(true);
    // Declare the greedy third token an EOS: the rollout stops there, short of the limit, and still passes.
    const g = await generate(d, [0, 5, 9], { maxNew: 5, greedy: true });
    const eos = g.generated[2];
    const short = await generationSmoke(d, [0, 5, 9], { eosTokenIds: [eos], steps: 5 });
    expect(short.generated).toEqual(g.generated.slice(0, g.generated.indexOf(eos) + 1));
    expect(short.stop).toBe('eos');
    expect(short.lengthLimitHonoured).toBe(true);
    expect(short.eosReachable).toBe(true);
  });

  it('honoursLengthLimit refuses a run past the limit, a short run without EOS, and tokens after an EOS', () => {
    expect(honoursLengthLimit([3, 4, 5], 3, [1])).toBe(true);
    expect(honoursLengthLimit([3, 1], 3, [1])).toBe(true);
    expect(honoursLengthLimit([3, 4, 5, 6], 3, [1])).toBe(false);
    expect(honoursLengthLimit([3, 4], 3, [1])).toBe(false);
    expect(honoursLengthLimit([1, 4, 5], 3, [1])).toBe(false);
  });
});
