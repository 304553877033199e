/**
 * GPT-2 (GPT2LMHeadModel): the CPU reference (gpt2.ts) agrees with the generated ONNX decoder in
 * onnxruntime-web on seeded random checkpoints (F32 and BF16): logits within 1e-4, greedy tokens
 * identical, decoding through the KV cache equal to recomputing the sequence.
 */
import { describe, expect, it } from 'vitest';
import { gpt2ReferenceDecoder, parseGpt2Config } from '../core/models/gpt2.ts';
import { tinyGpt2Checkpoint } from '../core/models/gpt2-testing.ts';
import { buildGpt2Graph } from '../core/models/gpt2-graph.ts';
import { generate } from '../core/models/generate.ts';
import { fromFloat32, toFloat32 } from '../core/tensor.ts';
import { createGpt2Session } from './gpt2-session.ts';

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('GPT-2: reference vs ONNX decoder', () => {
  const cases: [string, Record<string, unknown>, 'F32' | 'BF16'][] = [
    ['4 heads, F32', { n_embd: 32, n_head: 4, n_layer: 2, n_positions: 24, vocab_size: 50 }, 'F32'],
    [
      '2 heads, n_inner 40, BF16',
      { n_embd: 16, n_head: 2, n_layer: 3, n_positions: 24, vocab_size: 37, n_inner: 40, layer_norm_epsilon: 1e-6 },
      'BF16',
    ],
  ];
  for (const [label, config, dtype] of cases)
    it(
      label,
      async () => {
        const { cfg, tensors } = tinyGpt2Checkpoint(config, dtype, 11);
        const ref = gpt2ReferenceDecoder(cfg, tensors);
        const onnx = await createGpt2Session(cfg, tensors, { numThreads: 1 });
        try {
          const ids = [3, 17, 5, 0, 29, 8, 11];
          const want = await ref.forward(ids);
          const got = await onnx.forward(ids);
          expect(got.length).toBe(ids.length * cfg.vocabSize);
          expect(maxDiff(got, want)).toBeLessThan(1e-4);
          expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.5); // not a degenerate checkpoint
          // Through the cache one token at a time = the whole sequence at once.
          onnx.reset();
          const steps: number[] = [];
          for (const id of ids) steps.push(...(await onnx.forward([id])));
          expect(maxDiff(Float32Array.from(steps), got)).toBeLessThan(2e-5);
          // Greedy generation: the same tokens on both.
          const a = await generate(ref, ids.slice(0, 3), { maxNew: 10, greedy: true });
          const b = await generate(onnx, ids.slice(0, 3), { maxNew: 10, greedy: true });
          expect(b.generated).toEqual(a.generated);
          expect(new Set(a.generated).size).toBeGreaterThan(1);
        } finally {
          await onnx.release();
        }
      },
      30_000,
    );

  it('one changed weight moves the ONNX logits as it moves the reference (the graph reads every weight)', async () => {
    const { cfg, tensors } = tinyGpt2Checkpoint({ n_embd: 16, n_head: 2, n_layer: 1, n_positions: 8, vocab_size: 20 }, 'F32', 3);
    const bumped = tensors.map((t) =>
      t.name === 'transformer.h.0.mlp.c_fc.bias'
        ? fromFloat32(
            t.name,
            t.shape,
            toFloat32(t).map((x) => x + 0.5),
          )
        : t,
    );
    const ids = [1, 2, 3];
    const base = await gpt2ReferenceDecoder(cfg, tensors).forward(ids);
    const refB = await gpt2ReferenceDecoder(cfg, bumped).forward(ids);
    const onnx = await createGpt2Session(cfg, bumped, { numThreads: 1 });
    try {
      const got = await onnx.forward(ids);
      expect(maxDiff(refB, base)).toBeGreaterThan(1e-2);
      expect(maxDiff(got, refB)).toBeLessThan(1e-4);
    } finally {
      await onnx.release();
    }
  });

  it('refuses another architecture, an unsupported activation, and a missing tensor', () => {
    expect(() => parseGpt2Config({ architectures: ['LlamaForCausalLM'] })).toThrow(/GPT2LMHeadModel/);
    expect(() => parseGpt2Config({ architectures: ['GPT2LMHeadModel'], activation_function: 'relu' })).toThrow(/gelu_new/);
    const { cfg, tensors } = tinyGpt2Checkpoint({ n_embd: 8, n_head: 2, n_layer: 1, n_positions: 4, vocab_size: 10 }, 'F32', 1);
    expect(() =>
      buildGpt2Graph(
        cfg,
        tensors.filter((t) => t.name !== 'transformer.ln_f.bias'),
      ),
    ).toThrow(/transformer\.ln_f\.bias/);
  });
});
