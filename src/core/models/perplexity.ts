/**
 * Perplexity of a causal LM on a text, per token of the model's own tokenizer, and bits per byte
 * of the text's UTF-8 (so that species with different tokenizers compare).
 *
 * The text is encoded with the tokenizer's special tokens (BOS where its post-processor adds one);
 * every token after the first is scored by −log p(token | the tokens before it). A text longer
 * than `window` tokens is scored in windows that overlap by window − stride tokens (transformers'
 * strided perplexity): each window starts from an empty cache and scores only the tokens the
 * previous windows did not, with up to window − stride tokens of context before them.
 * Log-softmax runs in f64.
 */
import type { CausalDecoder } from './decoder.ts';
import type { TextTokenizer } from './tokenizer.ts';

export interface PerplexityOptions {
  /** Most tokens fed at once (≤ max_position_embeddings); default 1024. */
  window?: number;
  /** New tokens scored per window after the first; default window / 2. */
  stride?: number;
  /** Called for every scored token with the logits that predicted it (calibration, smoke checks). */
  onToken?: (logits: Float32Array, target: number) => void;
}

export interface Perplexity {
  /** Tokens scored (all but the first). */
  tokens: number;
  /** UTF-8 bytes of the text. */
  bytes: number;
  /** Σ −ln p over the scored tokens, in nats. */
  nll: number;
  perplexity: number;
  bitsPerByte: number;
}

/** −ln softmax(logits)[target], in f64. */
export function tokenNll(logits: ArrayLike<number>, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return Math.log(sum) + max - logits[target];
}

/** Score ids (the first is context only). */
export async function sequenceNll(
  decoder: CausalDecoder,
  ids: readonly number[],
  o: PerplexityOptions = {},
): Promise<{ nll: number; tokens: number }> {
  const window = o.window ?? 1024;
  const stride = o.stride ?? Math.max(1, Math.floor(window / 2));
  if (!(Number.isSafeInteger(window) && window >= 2)) throw new Error(`window ${window} must be an integer ≥ 2`);
  if (!(Number.isSafeInteger(stride) && stride >= 1 && stride <= window - 1))
    throw new Error(`stride ${stride} must be an integer in 1..window − 1`);
  const V = decoder.vocabSize;
  let nll = 0;
  let tokens = 0;
  // Targets before `scored` are scored; each window feeds ids[begin, end) and scores targets [scored, end),
  // with window − stride tokens of context before them (none before the first window).
  let scored = 1;
  while (scored < ids.length) {
    const begin = scored === 1 ? 0 : scored - (window - stride);
    const end = Math.min(begin + window, ids.length);
    decoder.reset();
    const logits = await decoder.forward(ids.slice(begin, end));
    for (let t = scored; t < end; t++) {
      const row = logits.subarray((t - 1 - begin) * V, (t - begin) * V);
      nll += tokenNll(row, ids[t]);
      o.onToken?.(row, ids[t]);
      tokens++;
    }
    scored = end;
  }
  return { nll, tokens };
}

export async function perplexity(
  decoder: CausalDecoder,
  tokenizer: TextTokenizer,
  text: string,
  o: PerplexityOptions = {},
): Promise<Perplexity> {
  const ids = tokenizer.encode(text);
  if (ids.length < 2) throw new Error(`the text encodes to ${ids.length} token(s); perplexity needs at least 2`);
  const { nll, tokens } = await sequenceNll(decoder, ids, o);
  const bytes = new TextEncoder().encode(text).length;
  return { tokens, bytes, nll, perplexity: Math.exp(nll / tokens), bitsPerByte: nll / Math.LN2 / bytes };
}

export interface Calibration {
  tokens: number;
  /** Tokens whose logits were not all finite (no confidence; not in any bin). */
  nonFinite: number;
  /** Expected calibration error of the top-1 next-token prediction: Σ_b (n_b / n)·|accuracy_b − confidence_b|. */
  ece: number;
  /** Fraction of tokens whose most probable prediction was the next token. */
  accuracy: number;
  bins: { count: number; confidence: number; accuracy: number }[];
}

/**
 * Collects next-token calibration from scored tokens (pass `onToken` to perplexity or sequenceNll,
 * so calibration costs no second pass): each token's top-1 probability (confidence) and whether the
 * top-1 token was the next one, in `bins` equal-width confidence bins (the last one closed).
 */
export function calibrationCollector(bins = 10): { onToken: (logits: Float32Array, target: number) => void; result: () => Calibration } {
  const nb = bins;
  if (!(Number.isSafeInteger(nb) && nb >= 1)) throw new Error(`bins ${nb} must be a positive integer`);
  const sums = Array.from({ length: nb }, () => ({ count: 0, conf: 0, correct: 0 }));
  let tokens = 0;
  let nonFinite = 0;
  return {
    onToken(row, target) {
      let best = 0;
      for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
      const conf = Math.exp(-tokenNll(row, best));
      tokens++;
      // A row with a NaN or infinite logit has no confidence: counted apart, and the ECE is NaN.
      if (!(conf >= 0 && conf <= 1)) return void nonFinite++;
      const b = sums[Math.min(nb - 1, Math.floor(conf * nb))];
      b.count++;
      b.conf += conf;
      if (best === target) b.correct++;
    },
    result() {
      const out = sums.map((b) => ({
        count: b.count,
        confidence: b.count ? b.conf / b.count : 0,
        accuracy: b.count ? b.correct / b.count : 0,
      }));
      const ece = nonFinite ? NaN : out.reduce((e, b) => e + (b.count / tokens) * Math.abs(b.accuracy - b.confidence), 0);
      return { tokens, nonFinite, ece, accuracy: sums.reduce((a, b) => a + b.correct, 0) / tokens, bins: out };
    },
  };
}

/** Next-token calibration over ids (calibrationCollector on one scoring pass). */
export async function nextTokenCalibration(
  decoder: CausalDecoder,
  ids: readonly number[],
  o: PerplexityOptions & { bins?: number } = {},
): Promise<Calibration> {
  const c = calibrationCollector(o.bins ?? 10);
  await sequenceNll(decoder, ids, {
    ...o,
    onToken(row, target) {
      c.onToken(row, target);
      o.onToken?.(row, target);
    },
  });
  return c.result();
}
