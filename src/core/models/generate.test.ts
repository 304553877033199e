/** Next-token choice (temperature, top-k, top-p, seeded draws) and the generation loop on the reference decoder. */
import { describe, expect, it } from 'vitest';
import { argmax, generate, nextTokenDistribution, sampleToken } from './generate.ts';
import { referenceDecoder } from './decoder.ts';
import { parseCausalLmConfig } from './llama-config.ts';
import { tinyCheckpoint } from './llama-testing.ts';
import { mulberry32 } from '../seeded.ts';

const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);

describe('next-token choice', () => {
  it('greedy is the first index of the largest logit', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(sampleToken(logits, { greedy: true }, () => 0.99)).toBe(0);
  });

  it('temperature 1 draws from the softmax: empirical frequencies within 1.5 % over 20000 draws', () => {
    const r = mulberry32(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, { temperature: 1 }, r)]++;
    [0.5, 0.3, 0.15, 0.05].forEach((p, i) => expect(Math.abs(counts[i] / 20000 - p)).toBeLessThan(0.015));
  });

  it('temperature sharpens or flattens: T = 0.5 squares the odds', () => {
    const d = nextTokenDistribution(logits, { temperature: 0.5 });
    const z = 0.25 + 0.09 + 0.0225 + 0.0025;
    expect(d.map(([id]) => id)).toEqual([0, 1, 2, 3]);
    d.forEach(([, p], i) => expect(p).toBeCloseTo([0.25, 0.09, 0.0225, 0.0025][i] / z, 6));
  });

  it('top-k keeps the k most probable; top-p the smallest set reaching p (at least one)', () => {
    expect(nextTokenDistribution(logits, { temperature: 1, topK: 2 }).map(([id, p]) => [id, +p.toFixed(6)])).toEqual([
      [0, 0.625],
      [1, 0.375],
    ]);
    expect(nextTokenDistribution(logits, { temperature: 1, topP: 0.8 }).map(([id]) => id)).toEqual([0, 1]);
    expect(nextTokenDistribution(logits, { temperature: 1, topP: 0.81 }).map(([id]) => id)).toEqual([0, 1, 2]);
    expect(nextTokenDistribution(logits, { temperature: 1, topP: 0.01 }).map(([id]) => id)).toEqual([0]);
    const r = mulberry32(3);
    for (let i = 0; i < 500; i++) expect(sampleToken(logits, { temperature: 1, topP: 0.8 }, r)).toBeLessThan(2);
  });
});

describe('generate', () => {
  const ck = tinyCheckpoint({ scale: 1 });
  const cfg = parseCausalLmConfig(ck.config);

  it('greedy generation feeds each token back through the cache: the same as recomputing argmax over the whole sequence', async () => {
    const d = referenceDecoder(cfg, ck.tensors);
    const g = await generate(d, [0, 5, 9], { maxNew: 8 });
    expect(g.stop).toBe('length');
    expect(g.generated).toHaveLength(8);
    const fresh = referenceDecoder(cfg, ck.tensors);
    for (let t = 3; t < g.ids.length; t++) {
      fresh.reset();
      const all = await fresh.forward(g.ids.slice(0, t));
      expect(argmax(all.slice((t - 1) * cfg.vocabSize))).toBe(g.ids[t]);
    }
    fresh.reset();
    const p = await fresh.forward([0, 5, 9]);
    expect(g.promptLogits).toEqual(p.slice(2 * cfg.vocabSize));
  });

  it('stops at an end-of-sequence token, which it keeps', async () => {
    const d = referenceDecoder(cfg, ck.tensors);
    const free = await generate(d, [0, 5, 9], { maxNew: 8 });
    const eos = free.generated[3];
    const first = free.generated.indexOf(eos);
    const g = await generate(d, [0, 5, 9], { maxNew: 8, eosTokenIds: [eos] });
    expect(g.stop).toBe('eos');
    expect(g.generated).toEqual(free.generated.slice(0, first + 1));
  });

  it('seeded sampling is reproducible, and another seed draws another sequence', async () => {
    const d = referenceDecoder(cfg, ck.tensors);
    const a = await generate(d, [0, 5], { maxNew: 12, temperature: 1.5, seed: 1 });
    const b = await generate(d, [0, 5], { maxNew: 12, temperature: 1.5, seed: 1 });
    const c = await generate(d, [0, 5], { maxNew: 12, temperature: 1.5, seed: 2 });
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).not.toEqual(a.ids);
  });

  it('stops between tokens when cancelled, keeping what it chose', async () => {
    const d = referenceDecoder(cfg, ck.tensors);
    const signal = { aborted: false };
    const g = await generate(d, [0, 5], { maxNew: 10, signal, onToken: (id) => void (signal.aborted = signal.aborted || id >= 0) });
    expect(g.stop).toBe('cancelled');
    expect(g.generated).toHaveLength(1);
  });

  it('refuses contradictory or out-of-range settings', async () => {
    const d = referenceDecoder(cfg, ck.tensors);
    await expect(generate(d, [0], { maxNew: 1, greedy: true, temperature: 1 })).rejects.toThrow(/greedy/);
    await expect(generate(d, [0], { maxNew: 1, temperature: 0 })).rejects.toThrow(/temperature/);
    await expect(generate(d, [0], { maxNew: 1, temperature: 1, topP: 1.5 })).rejects.toThrow(/top-p/);
    await expect(generate(d, [], { maxNew: 1 })).rejects.toThrow(/no tokens/);
  });
});
