/**
 * The generated ONNX decoder in onnxruntime-web (wasm) against the CPU reference (the oracle) on
 * seeded random checkpoints of each architecture.
 *
 * Tolerance: max |logit_onnx − logit_reference| ≤ 1e-4 on logits of magnitude up to ~5 (observed:
 * ≤ 5e-6; the reference sums in f64, onnxruntime in f32). Greedy tokens identical. Decoding one
 * token at a time through the KV cache matches recomputing the whole sequence within 2e-5.
 * Both decoder variants: standard ONNX ops, and the fused one (SimplifiedLayerNormalization,
 * GroupQueryAttention with rotary embedding where head_dim allows).
 */
import { describe, expect, it } from 'vitest';
import { referenceDecoder, type CausalDecoder } from '../core/models/decoder.ts';
import { parseCausalLmConfig } from '../core/models/llama-config.ts';
import { inspectOnnxGraph } from '../core/models/onnx-graph.ts';
import { tinyCheckpoint, type TinyCheckpointOptions } from '../core/models/llama-testing.ts';
import { createCausalLmSession } from './causal-lm-session.ts';
import { fusedAttention, type LlamaGraphVariant } from '../core/models/llama-graph.ts';
import onnxProto from 'onnx-proto';

const LOGIT_TOLERANCE = 1e-4;
const KV_TOLERANCE = 2e-5;

const cases: [string, TinyCheckpointOptions][] = [
  ['Llama, GQA 4/2, F32, separate head', {}],
  ['Llama, attention and explicit head_dim 12 ≠ hidden/heads, MHA', { attentionBias: true, headDim: 12, kvHeads: 4, layers: 3 }],
  ['Llama 3 rope scaling, BF16, tied head', { dtype: 'BF16', llama3Rope: true, tied: true }],
  ['Mistral, F16, sliding window 3, GQA 4/1', { architecture: 'MistralForCausalLM', dtype: 'F16', slidingWindow: 3, kvHeads: 1 }],
  ['Qwen2, q/k/v biases, tied, BF16', { architecture: 'Qwen2ForCausalLM', tied: true, dtype: 'BF16' }],
  [
    'Qwen2, wider (hidden 64, 8 heads / 2 kv), sharp logits',
    { architecture: 'Qwen2ForCausalLM', hidden: 64, heads: 8, kvHeads: 2, intermediate: 96, scale: 1 },
  ],
];

/** head_dim 16: GroupQueryAttention (with its rotary embedding) in the fused variant. */
const fusedCases: [string, TinyCheckpointOptions][] = [
  ['Llama, GQA 4/2, head_dim 16', { hidden: 64, heads: 4, kvHeads: 2 }],
  ['Llama 3 rope scaling, one kv head', { hidden: 64, heads: 4, kvHeads: 1, llama3Rope: true }],
  [
    'Mistral, sliding window 3 (local_window_size)',
    { architecture: 'MistralForCausalLM', hidden: 64, heads: 4, kvHeads: 2, slidingWindow: 3 },
  ],
  ['Qwen2, q/k/v biases, tied, BF16', { architecture: 'Qwen2ForCausalLM', hidden: 64, heads: 4, kvHeads: 2, tied: true, dtype: 'BF16' }],
  ['Llama, head_dim 4 (SimplifiedLayerNormalization only; standard attention)', {}],
];

const ids = [0, 5, 17, 42, 9, 3, 60, 11, 7, 25, 33, 8];
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

async function greedy(d: CausalDecoder, prompt: number[], steps: number): Promise<number[]> {
  d.reset();
  const out = [...prompt];
  let logits = await d.forward(prompt);
  for (let s = 0; s < steps; s++) {
    const row = logits.subarray(logits.length - d.vocabSize);
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
    out.push(best);
    logits = await d.forward([best]);
  }
  return out;
}

describe('ONNX causal-LM decoder vs the reference', () => {
  const all: [string, TinyCheckpointOptions, LlamaGraphVariant][] = [
    ...cases.map(([w, o]) => [w, o, 'standard'] as [string, TinyCheckpointOptions, LlamaGraphVariant]),
    ...fusedCases.map(([w, o]) => [`fused: ${w}`, o, 'fused'] as [string, TinyCheckpointOptions, LlamaGraphVariant]),
  ];
  for (const [what, o, variant] of all) {
    it(`${what}: logits within ${LOGIT_TOLERANCE}, greedy tokens identical, KV cache = recompute`, async () => {
      const ck = tinyCheckpoint(o);
      const cfg = parseCausalLmConfig(ck.config);
      const ref = referenceDecoder(cfg, ck.tensors);
      const onnx = await createCausalLmSession(cfg, ck.tensors, { variant });
      try {
        const ops = new Set(onnxProto.onnx.ModelProto.decode(onnx.graph).graph!.node!.map((x) => x.opType));
        expect(ops.has('GroupQueryAttention')).toBe(fusedAttention(cfg, variant));
        expect(ops.has('SimplifiedLayerNormalization')).toBe(variant === 'fused');
        expect(ops.has('ReduceMean')).toBe(variant !== 'fused');
        // Weights are external data in their own dtype; nothing float is embedded but RoPE/ε constants (Constant nodes).
        const g = inspectOnnxGraph(onnx.graph);
        expect(g.embeddedWeights).toEqual([]);
        expect(g.external.map((e) => e.location).sort()).toEqual(ck.tensors.map((t) => t.name).sort());
        const expected = await ref.forward(ids);
        const full = await onnx.forward(ids);
        expect(full.length).toBe(ids.length * cfg.vocabSize);
        expect(maxDiff(full, expected)).toBeLessThan(LOGIT_TOLERANCE);

        onnx.reset();
        const V = cfg.vocabSize;
        const prefill = await onnx.forward(ids.slice(0, 5));
        expect(maxDiff(prefill, full.slice(0, 5 * V))).toBeLessThan(KV_TOLERANCE);
        for (let t = 5; t < ids.length; t++) {
          const step = await onnx.forward([ids[t]]);
          expect(maxDiff(step, full.slice(t * V, (t + 1) * V))).toBeLessThan(KV_TOLERANCE);
        }
        expect(onnx.length).toBe(ids.length);

        const a = await greedy(ref, [0, 5, 17], 12);
        const b = await greedy(onnx, [0, 5, 17], 12);
        expect(b).toEqual(a);
      } finally {
        await onnx.release();
      }
    });
  }

  it('the check can fail: a reference with another rope_theta disagrees beyond the tolerance', async () => {
    const ck = tinyCheckpoint({ layers: 1 });
    const cfg = parseCausalLmConfig(ck.config);
    const onnx = await createCausalLmSession(cfg, ck.tensors);
    try {
      const other = referenceDecoder({ ...cfg, ropeTheta: 500 }, ck.tensors);
      expect(maxDiff(await onnx.forward(ids), await other.forward(ids))).toBeGreaterThan(LOGIT_TOLERANCE);
    } finally {
      await onnx.release();
    }
  });
});
