/**
 * The reference forward pass of a Llama-family decoder on the CPU: the oracle the ONNX graph is
 * checked against (llama-graph.ts). It follows transformers' modeling_llama.py step by step:
 *
 *   h = embed_tokens[ids]
 *   per layer:  n = RMSNorm(h)·w;  q, k, v = n·Wqᵀ (+b), n·Wkᵀ (+b), n·Wvᵀ (+b)
 *               q, k = RoPE(q, pos), RoPE(k, pos)   (rotate_half: [-x₂, x₁], cos/sin of pos·inv_freq)
 *               a = softmax(q·kᵀ / √head_dim, causal [and sliding-window] mask)·v, kv head = q head / (heads / kv heads)
 *               h += a·Woᵀ (+b);  n = RMSNorm(h)·w;  h += (silu(n·Wgᵀ) ⊙ n·Wuᵀ)·Wdᵀ
 *   logits = RMSNorm(h)·w · (lm_head or embed_tokens)ᵀ
 *
 * Weights of any float dtype (F32, F16, BF16) are decoded to f32 once; sums run in f64 and every
 * stored activation is f32. The KV cache keeps each position's rotated keys and values, so decoding
 * token by token gives the logits of recomputing the whole sequence.
 */
import { layerPrefix, ropeInvFreq, type CausalLmConfig } from './llama-config.ts';
import { toFloat32, type Tensor } from '../tensor.ts';

export interface LlamaWeights {
  get(name: string): Float32Array;
  has(name: string): boolean;
}

/** f32 weights from stored tensors (any float dtype). */
export function llamaWeights(tensors: readonly Tensor[]): LlamaWeights {
  const m = new Map(tensors.map((t) => [t.name, toFloat32(t)]));
  return {
    get(name) {
      const w = m.get(name);
      if (!w) throw new Error(`the model has no tensor ${JSON.stringify(name)}`);
      return w;
    },
    has: (name) => m.has(name),
  };
}

/** Per layer, per position: rotated keys and values [kvHeads × headDim]. */
export interface KvCache {
  keys: Float32Array[][];
  values: Float32Array[][];
  /** Positions already in the cache. */
  length: number;
}

/** y[o] = Σᵢ x[i]·W[o, i] (+ b[o]) for W [out, in] row-major. */
function linear(x: Float32Array, w: Float32Array, out: number, bias?: Float32Array): Float32Array {
  const inn = x.length;
  const y = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    const row = o * inn;
    for (let i = 0; i < inn; i++) s += x[i] * w[row + i];
    y[o] = bias ? s + bias[o] : s;
  }
  return y;
}

/** Rotate heads [heads × headDim] of `x` in place for position `pos` (rotate_half RoPE, f32 angles). */
export function ropeInPlace(x: Float32Array, heads: number, d: number, invFreq: Float32Array, pos: number): void {
  const half = d / 2;
  for (let j = 0; j < half; j++) {
    const f = Math.fround(pos * invFreq[j]);
    const cos = Math.fround(Math.cos(f));
    const sin = Math.fround(Math.sin(f));
    for (let h = 0; h < heads; h++) {
      const a = x[h * d + j];
      const b = x[h * d + j + half];
      x[h * d + j] = a * cos - b * sin;
      x[h * d + j + half] = b * cos + a * sin;
    }
  }
}

export function rmsNorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const r = 1 / Math.sqrt(Math.fround(ss / x.length) + eps);
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = w[i] * Math.fround(x[i] * r);
  return y;
}

export class LlamaReference {
  private readonly invFreq: Float32Array;

  constructor(
    readonly config: CausalLmConfig,
    private readonly w: LlamaWeights,
  ) {
    this.invFreq = ropeInvFreq(config);
  }

  newCache(): KvCache {
    const n = this.config.numLayers;
    return { keys: Array.from({ length: n }, () => []), values: Array.from({ length: n }, () => []), length: 0 };
  }

  /** Rotate heads [heads × headDim] in place for one position (rotate_half convention). */
  private rope(x: Float32Array, heads: number, pos: number): void {
    ropeInPlace(x, heads, this.config.headDim, this.invFreq, pos);
  }

  /**
   * Run `ids` after what the cache holds (a fresh cache when none is given); returns the logits
   * [ids.length × vocab], row t for the position after ids[t]. The cache is extended in place.
   */
  forward(ids: readonly number[], cache: KvCache = this.newCache()): Float32Array {
    const c = this.config;
    const { hiddenSize: H, headDim: D, numHeads, numKvHeads, vocabSize: V } = c;
    const rep = numHeads / numKvHeads;
    const scale = 1 / Math.sqrt(D);
    const embed = this.w.get('model.embed_tokens.weight');
    const logits = new Float32Array(ids.length * V);
    const head = c.tieWordEmbeddings ? embed : this.w.get('lm_head.weight');
    const bias = (name: string) => (this.w.has(name) ? this.w.get(name) : undefined);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`token id ${id} is outside the vocabulary 0..${V - 1}`);
      const pos = cache.length;
      let h: Float32Array = embed.slice(id * H, (id + 1) * H);
      for (let l = 0; l < c.numLayers; l++) {
        const p = layerPrefix(l);
        const n = rmsNorm(h, this.w.get(`${p}input_layernorm.weight`), c.rmsNormEps);
        const q = linear(n, this.w.get(`${p}self_attn.q_proj.weight`), numHeads * D, bias(`${p}self_attn.q_proj.bias`));
        const k = linear(n, this.w.get(`${p}self_attn.k_proj.weight`), numKvHeads * D, bias(`${p}self_attn.k_proj.bias`));
        const v = linear(n, this.w.get(`${p}self_attn.v_proj.weight`), numKvHeads * D, bias(`${p}self_attn.v_proj.bias`));
        this.rope(q, numHeads, pos);
        this.rope(k, numKvHeads, pos);
        cache.keys[l].push(k);
        cache.values[l].push(v);
        const keys = cache.keys[l];
        const values = cache.values[l];
        const first = c.slidingWindow === null ? 0 : Math.max(0, pos - c.slidingWindow + 1);
        const attn = new Float32Array(numHeads * D);
        const scores = new Float64Array(pos + 1);
        for (let hq = 0; hq < numHeads; hq++) {
          const g = Math.floor(hq / rep);
          let max = -Infinity;
          for (let s = first; s <= pos; s++) {
            let dot = 0;
            const ks = keys[s];
            for (let j = 0; j < D; j++) dot += q[hq * D + j] * ks[g * D + j];
            scores[s] = Math.fround(dot) * scale;
            if (scores[s] > max) max = scores[s];
          }
          let sum = 0;
          for (let s = first; s <= pos; s++) sum += scores[s] = Math.exp(scores[s] - max);
          for (let j = 0; j < D; j++) {
            let acc = 0;
            for (let s = first; s <= pos; s++) acc += (scores[s] / sum) * values[s][g * D + j];
            attn[hq * D + j] = acc;
          }
        }
        const o = linear(attn, this.w.get(`${p}self_attn.o_proj.weight`), H, bias(`${p}self_attn.o_proj.bias`));
        for (let i = 0; i < H; i++) h[i] += o[i];
        const n2 = rmsNorm(h, this.w.get(`${p}post_attention_layernorm.weight`), c.rmsNormEps);
        const gate = linear(n2, this.w.get(`${p}mlp.gate_proj.weight`), c.intermediateSize, bias(`${p}mlp.gate_proj.bias`));
        const up = linear(n2, this.w.get(`${p}mlp.up_proj.weight`), c.intermediateSize, bias(`${p}mlp.up_proj.bias`));
        for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
        const down = linear(gate, this.w.get(`${p}mlp.down_proj.weight`), H, bias(`${p}mlp.down_proj.bias`));
        h = Float32Array.from(h, (x, i) => x + down[i]);
      }
      cache.length++;
      const f = rmsNorm(h, this.w.get('model.norm.weight'), c.rmsNormEps);
      logits.set(linear(f, head, V), t * V);
    }
    return logits;
  }
}
