/**
 * The wasm-SIMD decoder (simd-decoder.ts) against the reference forward pass on the dequantized
 * weights (referenceDecoder: dequantizeModel's float32 q·s, sums in f64) on seeded random
 * checkpoints: logits within 1e-4, greedy tokens identical, decoding token by token over the KV
 * cache identical to recomputing each prefix from an empty cache; two threads' logits bit-identical
 * to one thread's; release() ends the workers.
 */
import { describe, expect, it } from 'vitest';
import { referenceDecoder, type CausalDecoder } from '../core/models/decoder.ts';
import { generate } from '../core/models/generate.ts';
import { parseCausalLmConfig } from '../core/models/llama-config.ts';
import { tinyCheckpoint, type TinyCheckpointOptions } from '../core/models/llama-testing.ts';
import { quantizeCausalLm } from '../core/models/llama-quantize.ts';
import type { QuantScheme } from '../core/operators/quantize.cpu.ts';
import { createSimdDecoder } from './simd-decoder.ts';
import { spawnNodeMatvecWorker, type NodeMatvecWorker } from '../cpu/matvec-node.ts';
import type { MatvecWorkerInit } from '../cpu/simd-matvec.ts';

const LOGIT_TOLERANCE = 1e-4;
const ids = [0, 5, 17, 42, 9, 3, 60, 11, 7, 25, 33, 8];
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const greedy = async (d: CausalDecoder, prompt: number[], steps: number) =>
  (await generate(d, prompt, { maxNew: steps, greedy: true })).ids;

const GQA = { hidden: 64, heads: 4, kvHeads: 2, intermediate: 96 };
const cases: [string, TinyCheckpointOptions, QuantScheme | null, number][] = [
  ['Llama, GQA, separate head', GQA, 'int8', 32],
  ['Llama, GQA, separate head', GQA, 'int4', 32],
  ['Llama, GQA, block 24 ∤ 64', GQA, 'int8', 24],
  ['Llama, GQA, block 24 ∤ 64', GQA, 'int4', 24],
  ['Llama, per-channel (block ≥ in)', GQA, 'int8', 128],
  ['Llama, per-channel (block ≥ in)', GQA, 'int4', 4096],
  ['Qwen2, biases, tied, BF16 (block 16 ∤ 24)', { architecture: 'Qwen2ForCausalLM', tied: true, dtype: 'BF16' }, 'int4', 16],
  ['Qwen2, biases, tied, BF16', { architecture: 'Qwen2ForCausalLM', tied: true, dtype: 'BF16' }, 'int8', 8],
  ['Llama, llama3 rope scaling, attention bias', { ...GQA, llama3Rope: true, attentionBias: true }, 'int8', 32],
  ['Mistral, sliding window 4', { architecture: 'MistralForCausalLM', slidingWindow: 4, hidden: 32, heads: 4, kvHeads: 1 }, 'int4', 32],
  ['Llama, float weights (f32 matvec only)', { ...GQA, scale: 0.3 }, null, 0],
];

describe('wasm-SIMD decoder vs the reference on the dequantized weights', () => {
  for (const [what, o, scheme, block] of cases) {
    it(`${what}, ${scheme ?? 'f32'}${scheme ? ` block ${block}` : ''}: logits within ${LOGIT_TOLERANCE}, greedy identical, cache = recompute`, async () => {
      const ck = tinyCheckpoint(o);
      const cfg0 = parseCausalLmConfig(ck.config);
      const cfg = scheme ? { ...cfg0, quantBlockSize: block } : cfg0;
      const tensors = scheme ? quantizeCausalLm(cfg0, ck.tensors, scheme, block) : ck.tensors;
      if (scheme)
        expect(tensors.filter((t) => t.name.endsWith('.weight.q')).length).toBe(7 * cfg.numLayers + (cfg.tieWordEmbeddings ? 0 : 1));
      const ref = referenceDecoder(cfg, tensors);
      const simd = await createSimdDecoder(cfg, tensors, { threads: 2 });
      expect(simd.threads).toBe(2);
      const want = await ref.forward(ids);
      const got = await simd.forward(ids);
      // A row split over two threads changes no bit.
      const one = await createSimdDecoder(cfg, tensors, { threads: 1 });
      expect(Array.from(await one.forward(ids)), 'threads 2 vs 1').toEqual(Array.from(got));
      await one.release();
      expect(got.length).toBe(ids.length * cfg.vocabSize);
      const d = maxDiff(got, want);
      expect(d, `max |Δlogit| ${d}`).toBeLessThanOrEqual(LOGIT_TOLERANCE);
      // Logits that say something: not all equal.
      expect(Math.max(...got.subarray(0, cfg.vocabSize)) - Math.min(...got.subarray(0, cfg.vocabSize))).toBeGreaterThan(0.1);
      expect(simd.length).toBe(ids.length);

      // Token by token over the cache = each prefix recomputed from an empty cache (last row).
      simd.reset();
      expect(simd.length).toBe(0);
      const V = cfg.vocabSize;
      const stepped: Float32Array[] = [];
      for (const id of ids) stepped.push(await simd.forward([id]));
      for (let t = 0; t < ids.length; t++) {
        simd.reset();
        const full = await simd.forward(ids.slice(0, t + 1));
        expect(Array.from(stepped[t]), `position ${t}`).toEqual(Array.from(full.subarray(t * V)));
        expect(maxDiff(stepped[t], want.subarray(t * V, (t + 1) * V))).toBeLessThanOrEqual(LOGIT_TOLERANCE);
      }

      simd.reset();
      ref.reset();
      expect(await greedy(simd, ids.slice(0, 4), 12)).toEqual(await greedy(ref, ids.slice(0, 4), 12));
      await simd.release();
    });
  }

  it('release() ends its workers', async () => {
    const ck = tinyCheckpoint(GQA);
    const cfg = parseCausalLmConfig(ck.config);
    const started: NodeMatvecWorker[] = [];
    const spawn = async (init: MatvecWorkerInit) => {
      const w = await spawnNodeMatvecWorker(init);
      started.push(w);
      return w;
    };
    const simd = await createSimdDecoder(cfg, ck.tensors, { threads: 2, spawn });
    await simd.forward([1, 2, 3]);
    expect(started.length).toBe(1);
    await simd.release();
    await Promise.all(started.map((w) => w.exited));
  });

  it('rejects a token outside the vocabulary and a quantized model without a block size', async () => {
    const ck = tinyCheckpoint(GQA);
    const cfg = parseCausalLmConfig(ck.config);
    const simd = await createSimdDecoder(cfg, ck.tensors);
    await expect(simd.forward([cfg.vocabSize])).rejects.toThrow(/outside the vocabulary/);
    await expect(createSimdDecoder(cfg, quantizeCausalLm(cfg, ck.tensors, 'int8', 32))).rejects.toThrow(/block size/);
  });
});
