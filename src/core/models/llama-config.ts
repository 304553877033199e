/**
 * Decoder-only language models of the Llama family as Hugging Face writes them: `config.json` read
 * into one normalized config, and the tensor names and shapes that config implies
 * (transformers' modeling_llama.py, modeling_mistral.py, modeling_qwen2.py).
 *
 * The three architectures share one block: RMSNorm → attention (RoPE, grouped-query heads) →
 * residual → RMSNorm → SwiGLU MLP → residual; they differ only in settings:
 * - Llama: `attention_bias` puts biases on q, k, v and o; `mlp_bias` on gate, up and down.
 * - Mistral: `sliding_window` limits attention to the last W positions (null: no limit).
 * - Qwen2: q, k and v always have biases, o never; sliding windows (`use_sliding_window`) are refused.
 * Defaults for missing keys are each architecture's configuration class defaults.
 */
import { FormatError } from '../format/errors.ts';
import { hashJson, type Sha256Hex } from '../hash.ts';

/** The architectures the garden runs, with their `model_type`. */
export const CAUSAL_LM_ARCHITECTURES = Object.freeze({
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
} as const);
export type CausalLmArchitecture = keyof typeof CAUSAL_LM_ARCHITECTURES;

/** GPT-2, imported and run beside the Llama family (gpt2.ts; hf.ts dispatches on the architecture). */
export const GPT2_ARCHITECTURE = 'GPT2LMHeadModel';
/** Every architecture a Hugging Face folder may hold. */
export const HF_ARCHITECTURES: readonly string[] = Object.freeze([...Object.keys(CAUSAL_LM_ARCHITECTURES), GPT2_ARCHITECTURE]);

/** RoPE frequency schedules (transformers' modeling_rope_utils "rope_type"). */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export const ROPE_TYPES = Object.freeze(['default', 'linear', 'llama3'] as const);

export interface CausalLmConfig {
  architecture: CausalLmArchitecture;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  rope: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Biases on q_proj, k_proj, v_proj. */
  qkvBias: boolean;
  /** Bias on o_proj. */
  oBias: boolean;
  /** Biases on gate_proj, up_proj, down_proj. */
  mlpBias: boolean;
  /** Attend to at most this many positions (the query's own included); null for no limit. */
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /**
   * Set only for a model stored quantized (garden quantize): the block size of its "W.scales"
   * (the .slm's garden.quant.blockSize). Not part of the architecture key.
   */
  quantBlockSize?: number;
}

const DEFAULTS: Record<CausalLmArchitecture, { numKvHeads?: number; maxPositionEmbeddings: number; slidingWindow: number | null }> = {
  LlamaForCausalLM: { maxPositionEmbeddings: 2048, slidingWindow: null },
  MistralForCausalLM: { numKvHeads: 8, maxPositionEmbeddings: 4096 * 32, slidingWindow: 4096 },
  Qwen2ForCausalLM: { maxPositionEmbeddings: 32768, slidingWindow: null },
};

function fail(detail: string): never {
  throw new FormatError('config', `config.json: ${detail}`);
}

/**
 * Ceilings on the sizes a config may declare, checked before anything is built from them (a
 * hostile num_hidden_layers of 10⁹ must not become 10⁹ expected tensors). Far above any model
 * the garden could hold: Llama 3 405B has 126 layers, hidden 16384, vocab 128256.
 */
export const CONFIG_LIMITS = Object.freeze({
  num_hidden_layers: 1024,
  hidden_size: 1 << 16,
  intermediate_size: 1 << 18,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 1024,
  vocab_size: 1 << 22,
  original_max_position_embeddings: 1 << 26,
  max_position_embeddings: 1 << 26,
  sliding_window: 1 << 26,
} as const);

function int(o: Record<string, unknown>, key: string, dflt?: number): number {
  const v = o[key] ?? dflt;
  if (v === undefined) fail(`${key} is missing`);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) fail(`${key} is ${JSON.stringify(v)}, expected a positive integer`);
  const max = (CONFIG_LIMITS as Record<string, number>)[key];
  if (max !== undefined && v > max) fail(`${key} ${v} is over the ceiling ${max}`);
  return v;
}

function num(o: Record<string, unknown>, key: string, dflt: number): number {
  const v = o[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(`${key} is ${JSON.stringify(v)}, expected a positive number`);
  return v;
}

function bool(o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key] ?? dflt;
  if (typeof v !== 'boolean') fail(`${key} is ${JSON.stringify(v)}, expected true or false`);
  return v;
}

function tokenIds(v: unknown, key: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list)
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)
      fail(`${key} is ${JSON.stringify(v)}, expected a token id or a list of them`);
  return list as number[];
}

function ropeScaling(o: Record<string, unknown>): { theta: number; rope: RopeScaling } {
  // transformers ≥ 5 writes {rope_parameters: {rope_type, rope_theta, ...}}; earlier, rope_theta + rope_scaling.
  const params = o.rope_parameters ?? o.rope_scaling ?? null;
  let theta = o.rope_theta;
  if (params !== null && (typeof params !== 'object' || Array.isArray(params)))
    fail(`rope_scaling is ${JSON.stringify(params)}, expected an object or null`);
  const p = (params ?? {}) as Record<string, unknown>;
  if (theta === undefined && p.rope_theta !== undefined) theta = p.rope_theta;
  const t = num({ rope_theta: theta }, 'rope_theta', 10000);
  const type = p.rope_type ?? p.type ?? 'default';
  if (type === 'default') return { theta: t, rope: { type: 'default' } };
  if (type === 'linear') return { theta: t, rope: { type: 'linear', factor: num(p, 'factor', NaN) } };
  if (type === 'llama3') {
    const rope = {
      type: 'llama3' as const,
      factor: num(p, 'factor', NaN),
      lowFreqFactor: num(p, 'low_freq_factor', NaN),
      highFreqFactor: num(p, 'high_freq_factor', NaN),
      originalMaxPositionEmbeddings: int(p, 'original_max_position_embeddings'),
    };
    if (!(rope.highFreqFactor > rope.lowFreqFactor))
      fail(`rope_scaling high_freq_factor ${rope.highFreqFactor} must exceed low_freq_factor ${rope.lowFreqFactor}`);
    return { theta: t, rope };
  }
  fail(`rope_scaling rope_type ${JSON.stringify(type)} is not supported; supported: ${ROPE_TYPES.join(', ')}`);
}

/** Read a parsed config.json. Unsupported architectures fail the 'architecture' check, bad values 'config'. */
export function parseCausalLmConfig(raw: unknown): CausalLmConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('not a JSON object');
  const o = raw as Record<string, unknown>;
  const supported = HF_ARCHITECTURES.join(', ');
  const archs = o.architectures;
  if (!Array.isArray(archs) || archs.length !== 1 || typeof archs[0] !== 'string') {
    throw new FormatError('architecture', `config.json architectures is ${JSON.stringify(archs ?? null)}, expected one of: ${supported}`);
  }
  const architecture = archs[0];
  if (architecture === GPT2_ARCHITECTURE)
    throw new FormatError(
      'architecture',
      `${GPT2_ARCHITECTURE} is imported and generated from, but this step takes only ${Object.keys(CAUSAL_LM_ARCHITECTURES).join(', ')}`,
    );
  if (!Object.prototype.hasOwnProperty.call(CAUSAL_LM_ARCHITECTURES, architecture)) {
    throw new FormatError('architecture', `architecture ${JSON.stringify(architecture)} is not supported; supported: ${supported}`);
  }
  const arch = architecture as CausalLmArchitecture;
  const d = DEFAULTS[arch];
  const act = o.hidden_act ?? 'silu';
  if (act !== 'silu') fail(`hidden_act ${JSON.stringify(act)} is not supported; supported: silu`);
  if (o.pretraining_tp !== undefined && o.pretraining_tp !== 1)
    fail(`pretraining_tp ${JSON.stringify(o.pretraining_tp)} is not supported; supported: 1`);
  const hiddenSize = int(o, 'hidden_size');
  const numHeads = int(o, 'num_attention_heads');
  const numKvHeads = int(o, 'num_key_value_heads', d.numKvHeads ?? numHeads);
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  const headDim = o.head_dim === null || o.head_dim === undefined ? hiddenSize / numHeads : int(o, 'head_dim');
  if (!Number.isInteger(headDim))
    fail(`hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads} and head_dim is not given`);
  if (headDim % 2 !== 0) fail(`head_dim ${headDim} is odd; rotary embeddings need an even head_dim`);
  if (o.partial_rotary_factor !== undefined && o.partial_rotary_factor !== 1)
    fail(`partial_rotary_factor ${JSON.stringify(o.partial_rotary_factor)} is not supported; supported: 1`);
  const { theta, rope } = ropeScaling(o);
  let slidingWindow: number | null = null;
  if (arch === 'MistralForCausalLM') {
    slidingWindow = o.sliding_window === null ? null : int(o, 'sliding_window', d.slidingWindow ?? undefined);
  } else if (arch === 'Qwen2ForCausalLM' && bool(o, 'use_sliding_window', false)) {
    fail('use_sliding_window true is not supported for Qwen2ForCausalLM');
  }
  const llama = arch === 'LlamaForCausalLM';
  const attentionBias = llama && bool(o, 'attention_bias', false);
  return {
    architecture: arch,
    hiddenSize,
    intermediateSize: int(o, 'intermediate_size'),
    numLayers: int(o, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int(o, 'vocab_size'),
    rmsNormEps: num(o, 'rms_norm_eps', 1e-6),
    ropeTheta: theta,
    rope,
    maxPositionEmbeddings: int(o, 'max_position_embeddings', d.maxPositionEmbeddings),
    tieWordEmbeddings: bool(o, 'tie_word_embeddings', false),
    qkvBias: arch === 'Qwen2ForCausalLM' || attentionBias,
    oBias: attentionBias,
    mlpBias: llama && bool(o, 'mlp_bias', false),
    slidingWindow,
    bosTokenId: tokenIds(o.bos_token_id, 'bos_token_id')[0] ?? null,
    eosTokenIds: tokenIds(o.eos_token_id, 'eos_token_id'),
  };
}

/** The architecture's settings that decide the computation (what the species binds). */
export function architectureKey(
  c: CausalLmConfig,
): Omit<CausalLmConfig, 'bosTokenId' | 'eosTokenIds' | 'maxPositionEmbeddings' | 'quantBlockSize'> {
  const { bosTokenId: _b, eosTokenIds: _e, maxPositionEmbeddings: _m, quantBlockSize: _q, ...key } = c;
  return key;
}

export function architectureHash(c: CausalLmConfig, tokenizerHash: Sha256Hex): Sha256Hex {
  return hashJson({ kind: 'causal-lm', architecture: architectureKey(c), tokenizer: tokenizerHash });
}

export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** Tied heads may ship lm_head.weight or not (transformers ignores it then). */
  optional?: boolean;
}

export const layerPrefix = (i: number) => `model.layers.${i}.`;

/** Every tensor the config implies, with its shape, in Hugging Face's names. */
export function expectedTensors(c: CausalLmConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = layerPrefix(i);
    out.push({ name: `${p}input_layernorm.weight`, shape: [H] }, { name: `${p}post_attention_layernorm.weight`, shape: [H] });
    out.push({ name: `${p}self_attn.q_proj.weight`, shape: [q, H] }, { name: `${p}self_attn.k_proj.weight`, shape: [kv, H] });
    out.push({ name: `${p}self_attn.v_proj.weight`, shape: [kv, H] }, { name: `${p}self_attn.o_proj.weight`, shape: [H, q] });
    if (c.qkvBias)
      out.push(
        { name: `${p}self_attn.q_proj.bias`, shape: [q] },
        { name: `${p}self_attn.k_proj.bias`, shape: [kv] },
        { name: `${p}self_attn.v_proj.bias`, shape: [kv] },
      );
    if (c.oBias) out.push({ name: `${p}self_attn.o_proj.bias`, shape: [H] });
    out.push(
      { name: `${p}mlp.gate_proj.weight`, shape: [I, H] },
      { name: `${p}mlp.up_proj.weight`, shape: [I, H] },
      { name: `${p}mlp.down_proj.weight`, shape: [H, I] },
    );
    if (c.mlpBias)
      out.push(
        { name: `${p}mlp.gate_proj.bias`, shape: [I] },
        { name: `${p}mlp.up_proj.bias`, shape: [I] },
        { name: `${p}mlp.down_proj.bias`, shape: [H] },
      );
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H], optional: c.tieWordEmbeddings });
  return out;
}

/**
 * The tensors must be exactly the ones the config implies: none missing, none extra, each with
 * the config's shape. Refusals name the tensor and the config keys behind its shape.
 */
export function checkTensorsAgainstConfig(c: CausalLmConfig, tensors: readonly { name: string; shape: readonly number[] }[]): void {
  const want = new Map(expectedTensors(c).map((t) => [t.name, t]));
  for (const t of tensors) {
    const e = want.get(t.name);
    if (!e)
      throw new FormatError(
        'config',
        `tensor ${JSON.stringify(t.name)} is not part of a ${c.architecture} with this config.json (num_hidden_layers ${c.numLayers}, attention/mlp biases as configured)`,
      );
    if (e.shape.join(',') !== t.shape.join(',')) {
      throw new FormatError(
        'config',
        `tensor ${JSON.stringify(t.name)} has shape [${t.shape}] but config.json (hidden_size ${c.hiddenSize}, intermediate_size ${c.intermediateSize}, num_attention_heads ${c.numHeads}, num_key_value_heads ${c.numKvHeads}, head_dim ${c.headDim}, vocab_size ${c.vocabSize}) gives [${e.shape}]`,
      );
    }
  }
  const have = new Set(tensors.map((t) => t.name));
  for (const e of want.values())
    if (!e.optional && !have.has(e.name))
      throw new FormatError('config', `tensor ${JSON.stringify(e.name)} that config.json implies is missing`);
}

/**
 * RoPE inverse frequencies, f32 (transformers' _compute_default_rope_parameters and
 * _compute_llama3_parameters): inv_freq[i] = 1 / theta^(2i / head_dim), then scaled.
 */
export function ropeInvFreq(c: CausalLmConfig): Float32Array {
  const half = c.headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(c.ropeTheta ** Math.fround((2 * i) / c.headDim));
  const r = c.rope;
  if (r.type === 'linear') for (let i = 0; i < half; i++) inv[i] = inv[i] / r.factor;
  if (r.type === 'llama3') {
    const lowWavelen = r.originalMaxPositionEmbeddings / r.lowFreqFactor;
    const highWavelen = r.originalMaxPositionEmbeddings / r.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i];
      const wavelen = (2 * Math.PI) / f;
      let scaled = wavelen > lowWavelen ? f / r.factor : f;
      if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
        const smooth = (r.originalMaxPositionEmbeddings / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
        scaled = ((1 - smooth) * scaled) / r.factor + smooth * scaled;
      }
      inv[i] = scaled;
    }
  }
  return inv;
}
