/**
 * A model's tokenizer from its `tokenizer.json` (+ `tokenizer_config.json`), run by Hugging Face's
 * own JavaScript implementation (@huggingface/tokenizers: BPE, WordPiece, Unigram, byte-level,
 * normalizers, post-processors), never a hand-written BPE.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { FormatError } from '../format/errors.ts';
import { parseStrictJson } from '../format/safetensors.ts';
import { hashJson, sha256Hex, type Sha256Hex } from '../hash.ts';

export interface TextTokenizer {
  /** Token ids of `text`, with the post-processor's special tokens (BOS…) unless told otherwise. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Ids of the tokenizer's own end-of-sequence token (tokenizer_config.json eos_token), when it has one. */
  eosTokenIds: number[];
  /** The largest token id + 1 (added tokens included). */
  size: number;
}

export interface TokenizerFiles {
  /** tokenizer.json text. */
  tokenizer: string;
  /** tokenizer_config.json text, when the model has one. */
  config?: string;
}

const enc = new TextEncoder();

/** What the species binds: the SHA-256 of tokenizer.json and of tokenizer_config.json (null when absent). */
export function tokenizerHash(files: TokenizerFiles): Sha256Hex {
  return hashJson({
    tokenizer: sha256Hex(enc.encode(files.tokenizer)),
    config: files.config === undefined ? null : sha256Hex(enc.encode(files.config)),
  });
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

function parse(text: string, file: string): unknown {
  try {
    return parseStrictJson(text, 'json-keys');
  } catch (e) {
    throw new FormatError('tokenizer', `${file}: ${(e as Error).message}`);
  }
}

export function loadTokenizer(files: TokenizerFiles): TextTokenizer {
  const json = parse(files.tokenizer, 'tokenizer.json');
  if (json === null || typeof json !== 'object' || Array.isArray(json) || typeof (json as { model?: unknown }).model !== 'object') {
    throw new FormatError('tokenizer', 'tokenizer.json is not a tokenizers JSON object with a "model"');
  }
  const config = files.config === undefined ? {} : parse(files.config, 'tokenizer_config.json');
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new FormatError('tokenizer', 'tokenizer_config.json is not a JSON object');
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new FormatError('tokenizer', `tokenizer.json cannot be loaded: ${(e as Error).message}`);
  }
  const vocab = tok.get_vocab(true);
  let size = 0;
  for (const id of vocab.values()) size = Math.max(size, id + 1);
  const eos = tokenContent((config as Record<string, unknown>).eos_token);
  const eosId = eos === undefined ? undefined : tok.token_to_id(eos);
  return {
    encode: (text, opts = {}) => tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids,
    decode: (ids, opts = {}) => tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? true }),
    eosTokenIds: eosId === undefined ? [] : [eosId],
    size,
  };
}
