/**
 * The reference forward pass (the oracle) on seeded checkpoints: properties that hold for any
 * weights, each checked against a second computation (the graph in llama-graph.test.ts is the other oracle).
 */
import { describe, expect, it } from 'vitest';
import { LlamaReference, llamaWeights } from './llama.ts';
import { parseCausalLmConfig, ropeInvFreq, type CausalLmConfig } from './llama-config.ts';
import { tinyCheckpoint, type TinyCheckpointOptions } from './llama-testing.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';

function reference(o: TinyCheckpointOptions, edit?: (t: Tensor[], c: Record<string, unknown>) => Tensor[]): LlamaReference {
  const ck = tinyCheckpoint(o);
  const tensors = edit ? edit(ck.tensors, ck.config) : ck.tensors;
  return new LlamaReference(parseCausalLmConfig(ck.config), llamaWeights(tensors));
}

const ids = [0, 5, 17, 42, 9, 3, 60, 11, 7, 25];
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('reference forward', () => {
  it('decoding token by token with the KV cache gives the logits of the full pass, bit for bit', () => {
    for (const o of [
      {},
      { architecture: 'Qwen2ForCausalLM', tied: true },
      { architecture: 'MistralForCausalLM', slidingWindow: 3 },
      { llama3Rope: true, dtype: 'BF16' },
    ] as TinyCheckpointOptions[]) {
      const ref = reference(o);
      const full = ref.forward(ids);
      const cache = ref.newCache();
      const V = ref.config.vocabSize;
      const prefill = ref.forward(ids.slice(0, 4), cache);
      expect(prefill).toEqual(full.slice(0, 4 * V));
      for (let t = 4; t < ids.length; t++) expect(ref.forward([ids[t]], cache)).toEqual(full.slice(t * V, (t + 1) * V));
    }
  });

  it('is causal: logits at position t do not depend on later tokens', () => {
    const ref = reference({ layers: 3 });
    const V = ref.config.vocabSize;
    const a = ref.forward(ids);
    const b = ref.forward([...ids.slice(0, 5), 1, 2, 3, 4, 5]);
    expect(b.slice(0, 5 * V)).toEqual(a.slice(0, 5 * V));
    expect(maxDiff(a.slice(5 * V), b.slice(5 * V))).toBeGreaterThan(1e-3);
  });

  it("grouped-query heads: 2 kv heads equal 4 kv heads holding each group's k/v twice (q head h uses kv head h / 2)", () => {
    const gqa = tinyCheckpoint({ kvHeads: 2, heads: 4 });
    const cfg = parseCausalLmConfig(gqa.config);
    const D = cfg.headDim;
    const mha = gqa.tensors.map((t) => {
      if (!/\.(k|v)_proj\.weight$/.test(t.name)) return t;
      const w = toFloat32(t);
      const rows = new Float32Array(4 * D * cfg.hiddenSize);
      for (let h = 0; h < 4; h++)
        rows.set(w.subarray(Math.floor(h / 2) * D * cfg.hiddenSize, (Math.floor(h / 2) + 1) * D * cfg.hiddenSize), h * D * cfg.hiddenSize);
      return fromFloat32(t.name, [4 * D, cfg.hiddenSize], rows);
    });
    const a = new LlamaReference(cfg, llamaWeights(gqa.tensors)).forward(ids);
    const b = new LlamaReference({ ...cfg, numKvHeads: 4 }, llamaWeights(mha)).forward(ids);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    // Pairing q head h with kv head h % 2 instead gives other logits.
    const swapped = gqa.tensors.map((t) => {
      if (!/\.(k|v)_proj\.weight$/.test(t.name)) return t;
      const w = toFloat32(t);
      const rows = new Float32Array(4 * D * cfg.hiddenSize);
      for (let h = 0; h < 4; h++)
        rows.set(w.subarray((h % 2) * D * cfg.hiddenSize, ((h % 2) + 1) * D * cfg.hiddenSize), h * D * cfg.hiddenSize);
      return fromFloat32(t.name, [4 * D, cfg.hiddenSize], rows);
    });
    expect(maxDiff(a, new LlamaReference({ ...cfg, numKvHeads: 4 }, llamaWeights(swapped)).forward(ids))).toBeGreaterThan(1e-3);
  });

  it('a tied head is the embedding: the same as a separate lm_head holding a copy of embed_tokens', () => {
    const tied = tinyCheckpoint({ tied: true });
    const cfg = parseCausalLmConfig(tied.config);
    const embed = tied.tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    const a = new LlamaReference(cfg, llamaWeights(tied.tensors)).forward(ids);
    const b = new LlamaReference(
      { ...cfg, tieWordEmbeddings: false },
      llamaWeights([...tied.tensors, { ...embed, name: 'lm_head.weight' }]),
    ).forward(ids);
    expect(a).toEqual(b);
  });

  it('a sliding window of W: with one layer, position t ≥ W no longer sees token 0', () => {
    const window = reference({ architecture: 'MistralForCausalLM', slidingWindow: 3, layers: 1 });
    const open = reference({ architecture: 'MistralForCausalLM', slidingWindow: null, layers: 1 });
    const V = window.config.vocabSize;
    const other = [77, ...ids.slice(1)];
    for (const [ref, sees] of [
      [window, false],
      [open, true],
    ] as const) {
      const a = ref.forward(ids);
      const b = ref.forward(other);
      // positions 1 and 2 see token 0 either way; position 3 onward only without a window
      expect(maxDiff(a.slice(2 * V, 3 * V), b.slice(2 * V, 3 * V))).toBeGreaterThan(1e-4);
      const later = maxDiff(a.slice(3 * V), b.slice(3 * V));
      if (sees) expect(later).toBeGreaterThan(1e-4);
      else expect(later).toBe(0);
    }
  });

  it('biases are used: zeroing Qwen2 q/k/v biases changes the logits', () => {
    const a = reference({ architecture: 'Qwen2ForCausalLM' }).forward(ids);
    const b = reference({ architecture: 'Qwen2ForCausalLM' }, (ts) =>
      ts.map((t) => (t.name.endsWith('.bias') ? fromFloat32(t.name, t.shape, new Float32Array(t.shape[0])) : t)),
    ).forward(ids);
    expect(maxDiff(a, b)).toBeGreaterThan(1e-3);
  });

  it('rejects a token id outside the vocabulary', () => {
    const ref = reference({});
    expect(() => ref.forward([ref.config.vocabSize])).toThrow(/outside the vocabulary/);
  });
});

describe('RoPE inverse frequencies', () => {
  const llama32: CausalLmConfig = parseCausalLmConfig({
    architectures: ['LlamaForCausalLM'],
    hidden_size: 2048,
    intermediate_size: 8192,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    num_hidden_layers: 16,
    vocab_size: 128256,
    head_dim: 64,
    rope_theta: 500000,
    rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  });

  it('llama3: high frequencies kept, low frequencies divided by factor, the band between smoothed', () => {
    const plain = ropeInvFreq({ ...llama32, rope: { type: 'default' } });
    const scaled = ropeInvFreq(llama32);
    // wavelength 2π/f: < 8192/4 kept; > 8192/1 divided by 32; between, (1-s)·f/32 + s·f with s = (8192/λ - 1)/(4 - 1)
    let kept = 0;
    let divided = 0;
    let smoothed = 0;
    for (let i = 0; i < 32; i++) {
      const f = plain[i];
      const lambda = (2 * Math.PI) / f;
      if (lambda < 2048) {
        expect(scaled[i]).toBe(f);
        kept++;
      } else if (lambda > 8192) {
        expect(scaled[i]).toBeCloseTo(f / 32, 12);
        divided++;
      } else {
        const s = (8192 / lambda - 1) / 3;
        expect(scaled[i]).toBeCloseTo((1 - s) * (f / 32) + s * f, 10);
        smoothed++;
      }
    }
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    expect(smoothed).toBeGreaterThan(0);
    expect(plain[0]).toBe(1);
    expect(plain[1]).toBeCloseTo(500000 ** (-2 / 64), 6);
  });

  it('linear scaling divides every frequency', () => {
    const plain = ropeInvFreq({ ...llama32, rope: { type: 'default' } });
    const lin = ropeInvFreq({ ...llama32, rope: { type: 'linear', factor: 4 } });
    for (let i = 0; i < plain.length; i++) expect(lin[i]).toBeCloseTo(plain[i] / 4, 10);
  });

  it('unsupported rope types and activations are refused by name', () => {
    expect(() => parseCausalLmConfig({ ...cfgJson(), rope_scaling: { rope_type: 'yarn', factor: 2 } })).toThrow(
      /config check failed.*"yarn".*default, linear, llama3/,
    );
    expect(() => parseCausalLmConfig({ ...cfgJson(), hidden_act: 'gelu' })).toThrow(/hidden_act "gelu"/);
    expect(() => parseCausalLmConfig({ ...cfgJson(), num_key_value_heads: 3 })).toThrow(/not a multiple of num_key_value_heads/);
  });
});

function cfgJson(): Record<string, unknown> {
  return tinyCheckpoint({}).config;
}
