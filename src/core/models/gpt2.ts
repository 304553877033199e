/**
 * GPT-2 (`GPT2LMHeadModel`): its config.json read into one normalized form, the tensors it implies
 * (transformers' names as `save_pretrained` writes them: `transformer.wte.weight`, …; the head is
 * tied to `wte`), and the reference forward pass with a KV cache, written from transformers'
 * modeling_gpt2.py: token + learned position embeddings; per block LayerNorm → attention (one
 * Conv1D `c_attn` [E, 3E] giving q, k, v; causal softmax(q·kᵀ/√D)·v; Conv1D `c_proj`) → residual →
 * LayerNorm → MLP (Conv1D `c_fc`, gelu_new, Conv1D `c_proj`) → residual; final LayerNorm; logits
 * = h·wteᵀ. Conv1D is y = x·W + b (W stored [in, out], unlike nn.Linear). Sums in f64, activations
 * stored as f32, as the Llama reference (llama.ts).
 */
import { toFloat32, type Tensor } from '../tensor.ts';
import { cachedDecoder, type CausalDecoder } from './decoder.ts';
import { FormatError } from '../format/errors.ts';
import { hashJson, type Sha256Hex } from '../hash.ts';

export interface Gpt2Config {
  architecture: 'GPT2LMHeadModel';
  hiddenSize: number;
  numHeads: number;
  headDim: number;
  numLayers: number;
  innerSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  layerNormEps: number;
  activation: 'gelu_new';
  /** config.json eos_token_id (GPT-2 ships 50256); not part of the architecture hash. */
  eosTokenIds: number[];
}

function int(j: Record<string, unknown>, key: string, fallback?: number): number {
  const v = j[key] ?? fallback;
  if (!Number.isSafeInteger(v) || (v as number) < 1)
    throw new Error(`config.json: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

/** Read a GPT-2 config.json (GPT2Config's defaults for missing keys); refuses settings this pass does not compute. */
export function parseGpt2Config(json: unknown): Gpt2Config {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('config.json is not a JSON object');
  const j = json as Record<string, unknown>;
  const arch = Array.isArray(j.architectures) ? j.architectures : [];
  if (arch.length !== 1 || arch[0] !== 'GPT2LMHeadModel')
    throw new Error(`architectures is ${JSON.stringify(j.architectures)}; this reads GPT2LMHeadModel`);
  const hiddenSize = int(j, 'n_embd', 768);
  const numHeads = int(j, 'n_head', 12);
  if (hiddenSize % numHeads) throw new Error(`n_embd ${hiddenSize} is not a multiple of n_head ${numHeads}`);
  const act = j.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new') throw new Error(`activation_function ${JSON.stringify(act)} is not supported (gelu_new)`);
  for (const [k, want] of [
    ['scale_attn_weights', true],
    ['scale_attn_by_inverse_layer_idx', false],
    ['reorder_and_upcast_attn', false],
    ['add_cross_attention', false],
  ] as const)
    if (j[k] !== undefined && j[k] !== want) throw new Error(`config.json: ${k} ${JSON.stringify(j[k])} is not supported (only ${want})`);
  if (j.tie_word_embeddings === false) throw new Error('config.json: an untied GPT-2 head is not supported');
  const eps = j.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) throw new Error(`config.json: layer_norm_epsilon must be a positive number`);
  const eos =
    j.eos_token_id === undefined || j.eos_token_id === null ? [] : Array.isArray(j.eos_token_id) ? j.eos_token_id : [j.eos_token_id];
  if (!eos.every((x) => Number.isSafeInteger(x) && (x as number) >= 0))
    throw new Error(`config.json: eos_token_id is ${JSON.stringify(j.eos_token_id)}, expected a token id or a list of them`);
  return {
    architecture: 'GPT2LMHeadModel',
    hiddenSize,
    numHeads,
    headDim: hiddenSize / numHeads,
    numLayers: int(j, 'n_layer', 12),
    innerSize: j.n_inner === null || j.n_inner === undefined ? 4 * hiddenSize : int(j, 'n_inner'),
    vocabSize: int(j, 'vocab_size', 50257),
    maxPositionEmbeddings: int(j, 'n_positions', 1024),
    layerNormEps: eps,
    activation: act,
    eosTokenIds: eos as number[],
  };
}

/** The settings that decide the computation and the tokenizer's hash (what the species binds; hf.ts). */
export function gpt2ArchitectureHash(c: Gpt2Config, tokenizerHash: Sha256Hex): Sha256Hex {
  const { eosTokenIds: _e, ...architecture } = c;
  return hashJson({ kind: 'causal-lm', architecture, tokenizer: tokenizerHash });
}

/**
 * Import's check (hf.ts): the tensors are exactly the ones the config implies, each with its shape;
 * a refusal is a one-line FormatError('config') naming the tensor and the config keys.
 */
export function checkGpt2Specs(c: Gpt2Config, tensors: readonly { name: string; shape: readonly number[] }[]): void {
  const want = new Map(gpt2ExpectedTensors(c).map((t) => [t.name, t.shape]));
  for (const t of tensors) {
    const shape = want.get(t.name);
    if (!shape)
      throw new FormatError(
        'config',
        `tensor ${JSON.stringify(t.name)} is not part of a GPT2LMHeadModel with this config.json (n_layer ${c.numLayers}, head tied to transformer.wte.weight)`,
      );
    if (shape.join(',') !== t.shape.join(','))
      throw new FormatError(
        'config',
        `tensor ${JSON.stringify(t.name)} has shape [${t.shape}] but config.json (n_embd ${c.hiddenSize}, n_inner ${c.innerSize}, vocab_size ${c.vocabSize}, n_positions ${c.maxPositionEmbeddings}) gives [${shape}]`,
      );
  }
  const have = new Set(tensors.map((t) => t.name));
  for (const name of want.keys())
    if (!have.has(name)) throw new FormatError('config', `tensor ${JSON.stringify(name)} that config.json implies is missing`);
}

export const gpt2LayerPrefix = (l: number) => `transformer.h.${l}.`;

/** The tensors the config implies, by name, with their shapes. */
export function gpt2ExpectedTensors(c: Gpt2Config): { name: string; shape: number[] }[] {
  const E = c.hiddenSize;
  const out = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, E] },
    { name: 'transformer.wpe.weight', shape: [c.maxPositionEmbeddings, E] },
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = gpt2LayerPrefix(l);
    out.push(
      { name: `${p}ln_1.weight`, shape: [E] },
      { name: `${p}ln_1.bias`, shape: [E] },
      { name: `${p}attn.c_attn.weight`, shape: [E, 3 * E] },
      { name: `${p}attn.c_attn.bias`, shape: [3 * E] },
      { name: `${p}attn.c_proj.weight`, shape: [E, E] },
      { name: `${p}attn.c_proj.bias`, shape: [E] },
      { name: `${p}ln_2.weight`, shape: [E] },
      { name: `${p}ln_2.bias`, shape: [E] },
      { name: `${p}mlp.c_fc.weight`, shape: [E, c.innerSize] },
      { name: `${p}mlp.c_fc.bias`, shape: [c.innerSize] },
      { name: `${p}mlp.c_proj.weight`, shape: [c.innerSize, E] },
      { name: `${p}mlp.c_proj.bias`, shape: [E] },
    );
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [E] }, { name: 'transformer.ln_f.bias', shape: [E] });
  return out;
}

/** Every implied tensor present with its shape (an `lm_head.weight`, when shipped, is the tied wte and is not read). */
export function checkGpt2Tensors(c: Gpt2Config, tensors: readonly Tensor[]): Map<string, Float32Array> {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Map<string, Float32Array>();
  for (const e of gpt2ExpectedTensors(c)) {
    const t = byName.get(e.name);
    if (!t) throw new Error(`the model has no tensor ${e.name} that the config implies`);
    if (t.shape.join(',') !== e.shape.join(','))
      throw new Error(
        `tensor ${e.name} has shape [${t.shape}] but the config implies [${e.shape}] (n_embd, n_head, n_inner, vocab_size, n_positions)`,
      );
    out.set(e.name, toFloat32(t));
  }
  return out;
}

export function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

export interface Gpt2Cache {
  /** Per layer: every cached position's key and value rows (E floats each, heads side by side). */
  keys: Float32Array[][];
  values: Float32Array[][];
  length: number;
}

export class Gpt2Reference {
  readonly #w: Map<string, Float32Array>;
  constructor(
    readonly config: Gpt2Config,
    tensors: readonly Tensor[],
  ) {
    this.#w = checkGpt2Tensors(config, tensors);
  }

  newCache(): Gpt2Cache {
    const n = this.config.numLayers;
    return { keys: Array.from({ length: n }, () => []), values: Array.from({ length: n }, () => []), length: 0 };
  }

  #get(name: string): Float32Array {
    return this.#w.get(name)!;
  }

  #layerNorm(x: Float32Array, prefix: string): Float32Array {
    const w = this.#get(`${prefix}.weight`);
    const b = this.#get(`${prefix}.bias`);
    let mean = 0;
    for (const v of x) mean += v;
    mean /= x.length;
    let vr = 0;
    for (const v of x) vr += (v - mean) * (v - mean);
    vr /= x.length;
    const inv = 1 / Math.sqrt(vr + this.config.layerNormEps);
    return Float32Array.from(x, (v, i) => (v - mean) * inv * w[i] + b[i]);
  }

  /** Conv1D: y = x·W + b, W [in, out]. */
  #conv(x: Float32Array, prefix: string): Float32Array {
    const W = this.#get(`${prefix}.weight`);
    const b = this.#get(`${prefix}.bias`);
    const out = b.length;
    const y = new Float64Array(out);
    for (let i = 0; i < x.length; i++) {
      const xi = x[i];
      if (xi === 0) continue;
      const row = i * out;
      for (let o = 0; o < out; o++) y[o] += xi * W[row + o];
    }
    return Float32Array.from(y, (v, o) => v + b[o]);
  }

  /** Run ids after the cached positions; logits [ids.length × vocab]. */
  forward(ids: readonly number[], cache: Gpt2Cache): Float32Array {
    const c = this.config;
    const E = c.hiddenSize;
    const D = c.headDim;
    const V = c.vocabSize;
    const wte = this.#get('transformer.wte.weight');
    const wpe = this.#get('transformer.wpe.weight');
    const logits = new Float32Array(ids.length * V);
    for (let t = 0; t < ids.length; t++) {
      const pos = cache.length;
      if (pos >= c.maxPositionEmbeddings) throw new Error(`position ${pos} is past n_positions ${c.maxPositionEmbeddings}`);
      const id = ids[t];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`token id ${id} is outside the vocabulary 0..${V - 1}`);
      let h = Float32Array.from({ length: E }, (_, i) => wte[id * E + i] + wpe[pos * E + i]);
      for (let l = 0; l < c.numLayers; l++) {
        const p = gpt2LayerPrefix(l);
        const qkv = this.#conv(this.#layerNorm(h, `${p}ln_1`), `${p}attn.c_attn`);
        const q = qkv.subarray(0, E);
        cache.keys[l].push(qkv.slice(E, 2 * E));
        cache.values[l].push(qkv.slice(2 * E, 3 * E));
        const keys = cache.keys[l];
        const vals = cache.values[l];
        const ctx = new Float32Array(E);
        for (let hd = 0; hd < c.numHeads; hd++) {
          const o = hd * D;
          const scores = keys.map((k) => {
            let s = 0;
            for (let d = 0; d < D; d++) s += q[o + d] * k[o + d];
            return s / Math.sqrt(D);
          });
          const max = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - max));
          const z = e.reduce((a, x) => a + x, 0);
          for (let d = 0; d < D; d++) {
            let s = 0;
            for (let j = 0; j < keys.length; j++) s += (e[j] / z) * vals[j][o + d];
            ctx[o + d] = s;
          }
        }
        const attn = this.#conv(ctx, `${p}attn.c_proj`);
        h = Float32Array.from(h, (v, i) => v + attn[i]);
        const inner = this.#conv(this.#layerNorm(h, `${p}ln_2`), `${p}mlp.c_fc`).map(geluNew);
        const mlp = this.#conv(inner, `${p}mlp.c_proj`);
        h = Float32Array.from(h, (v, i) => v + mlp[i]);
      }
      const f = this.#layerNorm(h, 'transformer.ln_f');
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let i = 0; i < E; i++) s += f[i] * wte[v * E + i];
        logits[t * V + v] = s;
      }
      cache.length++;
    }
    return logits;
  }
}

/** The GPT-2 reference as a decoder (decoder.ts's interface: feed tokens, the cache advances). */
export function gpt2ReferenceDecoder(config: Gpt2Config, tensors: readonly Tensor[]): CausalDecoder {
  const ref = new Gpt2Reference(config, tensors);
  return cachedDecoder(
    config.vocabSize,
    () => ref.newCache(),
    (ids, cache) => ref.forward(ids, cache),
  );
}
