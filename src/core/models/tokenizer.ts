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

const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram', 'WordLevel'];

/**
 * The fields the tokenizers library reads without checking, checked first, so that a malformed
 * file is refused naming the field rather than by the library's TypeError (found by the fuzz stage).
 */
function checkShape(json: Record<string, unknown>): void {
  const refuse = (what: string): never => {
    throw new FormatError('tokenizer', `tokenizer.json: ${what}`);
  };
  const model = json.model as Record<string, unknown>;
  if (model === null || Array.isArray(model)) refuse('"model" is not an object');
  if (model.type !== undefined && !MODEL_TYPES.includes(model.type as string))
    refuse(`model.type is ${JSON.stringify(model.type)?.slice(0, 40)}; supported: ${MODEL_TYPES.join(', ')}`);
  if (model.vocab !== undefined && (model.vocab === null || typeof model.vocab !== 'object'))
    refuse('model.vocab is not an object or a list');
  if (model.type === 'BPE' && model.merges === undefined) refuse('model.merges is missing (a BPE model needs its merges)');
  if (model.merges !== undefined) {
    if (!Array.isArray(model.merges)) refuse('model.merges is not a list');
    for (const m of model.merges as unknown[])
      if (typeof m !== 'string' && !(Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string')))
        refuse('model.merges has an entry that is neither "a b" nor ["a", "b"]');
  }
  if (json.added_tokens !== undefined) {
    if (!Array.isArray(json.added_tokens)) refuse('added_tokens is not a list');
    for (const t of json.added_tokens as unknown[]) {
      const e = t as { id?: unknown; content?: unknown } | null;
      if (e === null || typeof e !== 'object' || !Number.isInteger(e.id) || typeof e.content !== 'string')
        refuse('added_tokens has an entry without an integer "id" and a string "content"');
    }
  }
  // Token ids: integers from 0, dense up to slack. The library allocates up to the largest id, so
  // one id of 2^31 took 78 s to load (found by the HF-folder fuzz draft); 1e308 was accepted.
  const ids: unknown[] = [];
  if (model.vocab && !Array.isArray(model.vocab)) ids.push(...Object.values(model.vocab as Record<string, unknown>));
  if (Array.isArray(json.added_tokens)) ids.push(...(json.added_tokens as { id?: unknown }[]).map((t) => t.id));
  const count = Array.isArray(model.vocab) ? model.vocab.length + ids.length : ids.length;
  const limit = 2 * count + 4096;
  for (const id of ids)
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= limit)
      refuse(`token id ${String(id).slice(0, 24)} is not an integer in [0, ${limit}) (ids are dense: ${count} tokens)`);
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'])
    if (json[k] !== undefined && json[k] !== null && (typeof json[k] !== 'object' || Array.isArray(json[k])))
      refuse(`"${k}" is not an object or null`);
}

export function loadTokenizer(files: TokenizerFiles): TextTokenizer {
  const json = parse(files.tokenizer, 'tokenizer.json');
  if (json === null || typeof json !== 'object' || Array.isArray(json) || typeof (json as { model?: unknown }).model !== 'object') {
    throw new FormatError('tokenizer', 'tokenizer.json is not a tokenizers JSON object with a "model"');
  }
  checkShape(json as Record<string, unknown>);
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
