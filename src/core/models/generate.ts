/**
 * Text generation over any causal decoder (decoder.ts): prefill the prompt, then one token at a
 * time through the KV cache until an end-of-sequence token or the length limit.
 *
 * Choosing the next token follows transformers' logits warpers, in their order: temperature
 * (logits / T), top-k (keep the k largest), top-p (keep the smallest set of most probable tokens
 * whose probability reaches p; at least one), then a draw from the softmax with a seeded stream
 * (mulberry32). Greedy takes the first index of the largest logit.
 */
import { mulberry32 } from '../seeded.ts';
import type { CausalDecoder } from './decoder.ts';

export interface SamplingOptions {
  /** Take the most probable token (the default when no temperature is given). */
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  maxNew: number;
  eosTokenIds?: readonly number[];
  /** Called with each generated token as soon as it is chosen (streaming). */
  onToken?: (id: number) => void;
  /** Checked before each token (an AbortSignal fits). */
  signal?: { readonly aborted: boolean };
}

export interface Generation {
  /** Prompt ids, then generated ids (an end-of-sequence token included when it stopped there). */
  ids: number[];
  generated: number[];
  /** Logits at the last prompt position (what chose the first generated token). */
  promptLogits: Float32Array;
  stop: 'eos' | 'length' | 'cancelled';
  prefillMs: number;
  decodeMs: number;
}

export function checkSampling(o: SamplingOptions): void {
  if (o.greedy && (o.temperature !== undefined || o.topP !== undefined || o.topK !== undefined))
    throw new Error('greedy decoding takes no temperature, top-k or top-p');
  if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature)))
    throw new Error(`temperature ${o.temperature} must be a positive number`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new Error(`top-p ${o.topP} must be in (0, 1]`);
  if (o.topK !== undefined && !(Number.isSafeInteger(o.topK) && o.topK >= 1)) throw new Error(`top-k ${o.topK} must be a positive integer`);
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0))
    throw new Error(`seed ${o.seed} must be a non-negative integer`);
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** The distribution the next token is drawn from, after temperature, top-k and top-p: [token, probability] by falling probability. */
export function nextTokenDistribution(logits: ArrayLike<number>, o: SamplingOptions): [number, number][] {
  const t = o.temperature ?? 1;
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const k = Math.min(o.topK ?? order.length, order.length);
  const kept = order.slice(0, k);
  const max = logits[kept[0]] / t;
  const weights = kept.map((i) => Math.exp(logits[i] / t - max));
  const sum = weights.reduce((s, x) => s + x, 0);
  let probs = kept.map((id, j) => [id, weights[j] / sum] as [number, number]);
  if (o.topP !== undefined && o.topP < 1) {
    let cum = 0;
    let n = 0;
    while (n < probs.length && cum < o.topP) cum += probs[n++][1];
    probs = probs.slice(0, Math.max(1, n));
    const s = probs.reduce((a, [, p]) => a + p, 0);
    probs = probs.map(([id, p]) => [id, p / s]);
  }
  return probs;
}

export function sampleToken(logits: ArrayLike<number>, o: SamplingOptions, random: () => number): number {
  if (o.greedy || o.temperature === undefined) return argmax(logits);
  const dist = nextTokenDistribution(logits, o);
  const r = random();
  let cum = 0;
  for (const [id, p] of dist) {
    cum += p;
    if (r < cum) return id;
  }
  return dist[dist.length - 1][0];
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export async function generate(decoder: CausalDecoder, prompt: readonly number[], o: GenerateOptions): Promise<Generation> {
  checkSampling(o);
  if (prompt.length === 0) throw new Error('the prompt has no tokens');
  if (!(Number.isSafeInteger(o.maxNew) && o.maxNew >= 0)) throw new Error(`max-new ${o.maxNew} must be a non-negative integer`);
  const eos = new Set(o.eosTokenIds ?? []);
  const random = mulberry32(o.seed ?? 0);
  const V = decoder.vocabSize;
  decoder.reset();
  const t0 = now();
  const all = await decoder.forward(prompt);
  const promptLogits = all.slice(all.length - V);
  const prefillMs = now() - t0;
  const generated: number[] = [];
  let stop: Generation['stop'] = 'length';
  let logits: Float32Array = promptLogits;
  const t1 = now();
  while (generated.length < o.maxNew) {
    if (o.signal?.aborted) {
      stop = 'cancelled';
      break;
    }
    const id = sampleToken(logits, o, random);
    generated.push(id);
    o.onToken?.(id);
    if (eos.has(id)) {
      stop = 'eos';
      break;
    }
    if (generated.length < o.maxNew) logits = await decoder.forward([id]);
  }
  return { ids: [...prompt, ...generated], generated, promptLogits, stop, prefillMs, decodeMs: now() - t1 };
}
