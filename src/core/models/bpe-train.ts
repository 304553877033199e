/**
 * A byte-level BPE tokenizer trainer (GPT-2's scheme, as SmolLM's tokenizer): text is split by the
 * ByteLevel pre-tokenizer's regex, each piece's UTF-8 bytes are mapped to GPT-2's printable byte
 * alphabet, and merges are learnt greedily: the most frequent adjacent pair of symbols, ties broken
 * by the pair's strings in code-point order, so one corpus gives one tokenizer. The result is a
 * tokenizer.json in the `tokenizers` library's format (loadTokenizer runs it through
 * @huggingface/tokenizers): BPE model, ByteLevel pre-tokenizer and decoder, and a template that
 * puts the BOS token first.
 */

/** A tokenizer.json `added_tokens` entry for a special token, as Hugging Face writes it. */
export function specialToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** GPT-2's byte → printable character map (the ByteLevel pre-tokenizer's alphabet). */
export function byteLevelChar(b: number): string {
  const printable = (x: number) => (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
  if (printable(b)) return String.fromCharCode(b);
  let n = 0;
  for (let x = 0; x < b; x++) if (!printable(x)) n++;
  return String.fromCharCode(256 + n);
}

/** The ByteLevel pre-tokenizer's split (GPT-2's pattern; `tokenizers` uses it with use_regex). */
export const BYTE_LEVEL_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface BpeTrainOptions {
  /** Total vocabulary: special tokens + the 256 byte symbols + merges. */
  vocabSize: number;
  /** Special tokens, ids 0…: the first is BOS (added before every encoded text), the second EOS. */
  specialTokens?: readonly string[];
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
}

export interface TrainedBpe {
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  merges: number;
}

const enc = new TextEncoder();

/** Pre-token counts of the texts, each piece already in the byte alphabet. */
function countPieces(texts: readonly string[]): Map<string, number> {
  const bytes = Array.from({ length: 256 }, (_, b) => byteLevelChar(b));
  const counts = new Map<string, number>();
  for (const text of texts)
    for (const m of text.matchAll(BYTE_LEVEL_PATTERN)) {
      let s = '';
      for (const b of enc.encode(m[0])) s += bytes[b];
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
  return counts;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Learn merges on `texts` and return the tokenizer files. Deterministic: same texts and options, same bytes. */
export function trainByteLevelBpe(texts: readonly string[], o: BpeTrainOptions): TrainedBpe {
  const specials = o.specialTokens ?? ['<s>', '</s>'];
  const minFrequency = o.minFrequency ?? 2;
  const base = specials.length + 256;
  if (!Number.isInteger(o.vocabSize) || o.vocabSize < base)
    throw new Error(`vocabSize ${o.vocabSize} must be an integer ≥ ${base} (special tokens + 256 bytes)`);
  const symbols: string[] = Array.from({ length: 256 }, (_, b) => byteLevelChar(b));
  const idOf = new Map(symbols.map((s, i) => [s, i]));
  // Words in a fixed order (by their string), so pair counts and ties never depend on Map order.
  const pieces = [...countPieces(texts)].sort((a, b) => cmp(a[0], b[0]));
  const words = pieces.map(([s]) => Array.from(s, (ch) => idOf.get(ch)!));
  const freq = pieces.map(([, n]) => n);
  const KEY = 1 << 16;
  const pairs = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addWord = (w: number, sign: number) => {
    const ids = words[w];
    for (let i = 0; i + 1 < ids.length; i++) {
      const k = ids[i] * KEY + ids[i + 1];
      pairs.set(k, (pairs.get(k) ?? 0) + sign * freq[w]);
      if (sign > 0) {
        let s = where.get(k);
        if (!s) where.set(k, (s = new Set()));
        s.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addWord(w, 1);
  const merges: string[] = [];
  while (base + merges.length < o.vocabSize) {
    let best = -1;
    let bestCount = 0;
    for (const [k, n] of pairs) {
      if (n < minFrequency || n < bestCount) continue;
      if (n > bestCount) {
        best = k;
        bestCount = n;
        continue;
      }
      const a = symbols[Math.floor(k / KEY)];
      const b = symbols[k % KEY];
      const ba = symbols[Math.floor(best / KEY)];
      const bb = symbols[best % KEY];
      const c = cmp(a, ba) || cmp(b, bb);
      if (c < 0) best = k;
    }
    if (best < 0) break;
    const a = Math.floor(best / KEY);
    const b = best % KEY;
    const id = symbols.length;
    symbols.push(symbols[a] + symbols[b]);
    merges.push(`${symbols[a]} ${symbols[b]}`);
    const touched = [...(where.get(best) ?? [])].sort((x, y) => x - y);
    for (const w of touched) {
      addWord(w, -1);
      const ids = words[w];
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(ids[i]);
      }
      words[w] = out;
      addWord(w, 1);
    }
    pairs.delete(best);
    where.delete(best);
    for (const [k, n] of pairs) if (n <= 0) pairs.delete(k);
  }
  const vocab: Record<string, number> = {};
  specials.forEach((t, i) => (vocab[t] = i));
  symbols.forEach((s, i) => (vocab[s] = specials.length + i));
  const bos = specials[0];
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t, i) => specialToken(i, t)),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [0], tokens: [bos] } },
    },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const tokenizerConfig = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: bos,
    eos_token: specials[1] ?? bos,
    unk_token: null,
    model_max_length: 2048,
    tokenizer_class: 'PreTrainedTokenizerFast',
    clean_up_tokenization_spaces: false,
  };
  return { tokenizer, tokenizerConfig, merges: merges.length };
}
