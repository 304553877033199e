/**
 * Tests only: tiny seeded checkpoints of each causal-LM architecture in exact Hugging Face layout
 * (config keys, tensor names, safetensors shards with their index) and a small byte-level BPE
 * tokenizer.json written by hand in the `tokenizers` library's format.
 */
import { mulberry32 } from '../seeded.ts';
import { fromFloat32, numel, toFloat32, type DType, type Tensor } from '../tensor.ts';
import { serializeSafetensors } from '../format/safetensors.ts';
import { writeHfIndex } from '../format/hf-index.ts';
import { expectedTensors, parseCausalLmConfig, type CausalLmArchitecture } from './llama-config.ts';
import { byteLevelChar, specialToken } from './bpe-train.ts';

export { byteLevelChar };

const MERGES = ['t h', 'th e', 'Ġ t', 'Ġt he', 'a n', 'Ġ a', 'Ġa n', 'Ġan d', 'i n', 'Ġ c', 'Ġc a', 'Ġca t', 'o n', 'e r'];

/** A byte-level BPE: <s>, </s>, <unk>, the 95 printable ASCII bytes (space as "Ġ"), newline, and the merges. */
export function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = { '<s>': 0, '</s>': 1, '<unk>': 2 };
  const add = (t: string) => {
    if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  };
  for (let b = 32; b <= 126; b++) add(byteLevelChar(b));
  add(byteLevelChar(10));
  for (const m of MERGES) add(m.replace(' ', ''));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [specialToken(0, '<s>'), specialToken(1, '</s>'), specialToken(2, '<unk>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: MERGES,
    },
  };
}

export function tinyTokenizerVocabSize(): number {
  return Object.keys((tinyTokenizerJson().model as { vocab: Record<string, number> }).vocab).length;
}

export interface TinyCheckpointOptions {
  architecture?: CausalLmArchitecture;
  seed?: number;
  dtype?: DType;
  layers?: number;
  hidden?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  headDim?: number;
  tied?: boolean;
  /** Llama 3 rope scaling (factor 8, low 1, high 4, original 16 positions: small enough that short tests hit every band). */
  llama3Rope?: boolean;
  slidingWindow?: number | null;
  attentionBias?: boolean;
  /** Scale of the random weights (larger gives sharper logits). */
  scale?: number;
}

export interface TinyCheckpoint {
  config: Record<string, unknown>;
  tensors: Tensor[];
}

/** Seeded random weights for a tiny model of an architecture, in Hugging Face's names and config keys. */
export function tinyCheckpoint(o: TinyCheckpointOptions = {}): TinyCheckpoint {
  const architecture = o.architecture ?? 'LlamaForCausalLM';
  const hidden = o.hidden ?? 16;
  const heads = o.heads ?? 4;
  const config: Record<string, unknown> = {
    architectures: [architecture],
    model_type: { LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', Qwen2ForCausalLM: 'qwen2' }[architecture],
    hidden_size: hidden,
    intermediate_size: o.intermediate ?? 24,
    num_attention_heads: heads,
    num_key_value_heads: o.kvHeads ?? 2,
    num_hidden_layers: o.layers ?? 2,
    vocab_size: tinyTokenizerVocabSize(),
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: o.llama3Rope
      ? { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 }
      : null,
    max_position_embeddings: 256,
    tie_word_embeddings: o.tied ?? false,
    hidden_act: 'silu',
    bos_token_id: 0,
    eos_token_id: 1,
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[o.dtype === 'F16' || o.dtype === 'BF16' ? o.dtype : 'F32'],
  };
  if (o.headDim !== undefined) config.head_dim = o.headDim;
  if (architecture === 'LlamaForCausalLM') {
    config.attention_bias = o.attentionBias ?? false;
    config.mlp_bias = false;
  }
  if (architecture === 'MistralForCausalLM') config.sliding_window = o.slidingWindow === undefined ? 4096 : o.slidingWindow;
  if (architecture === 'Qwen2ForCausalLM') config.use_sliding_window = false;
  const parsed = parseCausalLmConfig(config);
  const rnd = mulberry32(o.seed ?? 1);
  const scale = o.scale ?? 0.5;
  const tensors = expectedTensors(parsed)
    .filter((t) => !(t.optional && parsed.tieWordEmbeddings))
    .map((t) => {
      const n = numel(t.shape);
      const norm = t.name.endsWith('layernorm.weight') || t.name === 'model.norm.weight';
      const v = Float32Array.from({ length: n }, () => (norm ? 1 + 0.2 * (rnd() - 0.5) : scale * 2 * (rnd() - 0.5)));
      return fromFloat32(t.name, t.shape, v, o.dtype ?? 'F32');
    });
  return { config, tensors };
}

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');

/**
 * The files of a Hugging Face model folder: config.json, model.safetensors (or `shards` files
 * model-0000k-of-0000n.safetensors with model.safetensors.index.json), tokenizer.json,
 * tokenizer_config.json and generation_config.json.
 */
export function hfFolderFiles(ckpt: TinyCheckpoint, opts: { shards?: number } = {}): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  files.set('config.json', json(ckpt.config));
  const shards = opts.shards ?? 1;
  const metadata = { format: 'pt' };
  if (shards === 1) files.set('model.safetensors', serializeSafetensors(ckpt.tensors, metadata));
  else {
    const sorted = [...ckpt.tensors].sort((a, b) => (a.name < b.name ? -1 : 1));
    const per = Math.ceil(sorted.length / shards);
    const parts: { file: string; tensors: Tensor[]; dataSize: number }[] = [];
    for (let i = 0; i < shards; i++) {
      const ts = sorted.slice(i * per, (i + 1) * per);
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      parts.push({ file, tensors: ts, dataSize: ts.reduce((s, t) => s + t.data.length, 0) });
      files.set(file, serializeSafetensors(ts, metadata));
    }
    files.set('model.safetensors.index.json', enc.encode(writeHfIndex(parts)));
  }
  files.set('tokenizer.json', json(tinyTokenizerJson()));
  files.set(
    'tokenizer_config.json',
    json({
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      model_max_length: 256,
      tokenizer_class: 'PreTrainedTokenizerFast',
      clean_up_tokenization_spaces: false,
    }),
  );
  files.set('generation_config.json', json({ bos_token_id: 0, eos_token_id: 1, do_sample: false }));
  return files;
}

/** A "fine-tune" of `base`: every weight moved by a seeded uniform step in ±spread/2, kept in BF16. */
export function fineTuned(base: TinyCheckpoint, seed: number, spread: number): TinyCheckpoint {
  const r = mulberry32(seed);
  return {
    config: base.config,
    tensors: base.tensors.map((t) =>
      fromFloat32(
        t.name,
        t.shape,
        toFloat32(t).map((x) => x + spread * (r() - 0.5)),
        'BF16',
      ),
    ),
  };
}
