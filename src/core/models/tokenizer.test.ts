/**
 * The tokenizer path on a byte-level BPE tokenizer.json written by hand in Hugging Face's format
 * (llama-testing.ts): merges applied by rank, the post-processor's BOS, byte-level spaces and
 * newlines, <unk> for bytes outside the vocabulary, decoding back to the text.
 */
import { describe, expect, it } from 'vitest';
import { loadTokenizer, tokenizerHash } from './tokenizer.ts';
import { tinyTokenizerJson } from './llama-testing.ts';

const files = () => ({
  tokenizer: JSON.stringify(tinyTokenizerJson()),
  config: JSON.stringify({ add_bos_token: true, bos_token: '<s>', eos_token: '</s>' }),
});
// ids: <s> 0, </s> 1, <unk> 2, byte b (32..126) → b − 29 (space "Ġ" 3), "Ċ" 98, then the merges from 99: th the Ġt Ġthe an Ġa Ġan Ġand in Ġc Ġca Ġcat on er
const ID = (ch: string) => ch.charCodeAt(0) - 29;

describe('tokenizer.json through @huggingface/tokenizers', () => {
  const tok = loadTokenizer(files());

  it('applies merges by rank: "the" is one token; " the" is Ġ + the (t h outranks Ġ t); " cat" merges fully', () => {
    expect(tok.encode('the', { addSpecialTokens: false })).toEqual([100]);
    expect(tok.encode(' the', { addSpecialTokens: false })).toEqual([3, 100]);
    expect(tok.encode(' cat', { addSpecialTokens: false })).toEqual([110]);
    // " and": a n (rank 4) outranks Ġ a (rank 5), so Ġ + an + d
    expect(tok.encode(' and', { addSpecialTokens: false })).toEqual([3, 103, ID('d')]);
    expect(tok.encode('on', { addSpecialTokens: false })).toEqual([111]);
  });

  it('adds BOS through the TemplateProcessing post-processor, maps newline to Ċ and unknown bytes to <unk>', () => {
    expect(tok.encode('the cat')).toEqual([0, 100, 110]);
    expect(tok.encode('a\nb', { addSpecialTokens: false })).toEqual([ID('a'), 98, ID('b')]);
    expect(tok.encode('é', { addSpecialTokens: false })).toEqual([2, 2]); // two UTF-8 bytes outside the vocabulary
  });

  it('decodes back to the text, special tokens skipped unless asked', () => {
    const text = 'the cat and the dog\nsat on her mat!';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(0);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe(`<s>${text}`);
  });

  it('knows its size and its EOS from tokenizer_config.json', () => {
    expect(tok.size).toBe(113);
    expect(tok.eosTokenIds).toEqual([1]);
  });

  it('the hash binds tokenizer.json and tokenizer_config.json', () => {
    const h = tokenizerHash(files());
    expect(tokenizerHash(files())).toBe(h);
    const t = tinyTokenizerJson();
    (t.model as { merges: string[] }).merges.pop();
    expect(tokenizerHash({ ...files(), tokenizer: JSON.stringify(t) })).not.toBe(h);
    expect(tokenizerHash({ ...files(), config: undefined })).not.toBe(h);
  });

  it('refuses a tokenizer.json that is not one, with the tokenizer check', () => {
    expect(() => loadTokenizer({ tokenizer: '{"version": "1.0"}' })).toThrow(/tokenizer check failed/);
    expect(() => loadTokenizer({ tokenizer: '[1, 2]' })).toThrow(/tokenizer check failed/);
    expect(() => loadTokenizer({ tokenizer: '{"model": {}, "model": {}}' })).toThrow(
      /tokenizer check failed: tokenizer\.json: .*duplicate key/,
    );
    expect(() => loadTokenizer({ tokenizer: '{"model": ' })).toThrow(/tokenizer check failed: tokenizer\.json: .*invalid JSON/);
  });

  it('refuses malformed fields by name before the library reads them (the HF-folder fuzz found a TypeError and a 78 s load here)', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test edits arbitrary fields
    type Json = Record<string, any>;
    const bad = (edit: (j: Json) => void) => {
      const j = tinyTokenizerJson() as Json;
      edit(j);
      return () => loadTokenizer({ tokenizer: JSON.stringify(j) });
    };
    expect(bad((j) => (j.model.merges = { a: 1 }))).toThrow('tokenizer check failed: tokenizer.json: model.merges is not a list');
    expect(bad((j) => (j.model.merges = [3]))).toThrow(/model\.merges has an entry/);
    expect(bad((j) => delete j.model.merges)).toThrow(/model\.merges is missing \(a BPE model needs its merges\)/);
    expect(bad((j) => (j.model.type = 'Nope'))).toThrow(/model\.type is "Nope"; supported: BPE/);
    expect(bad((j) => (j.added_tokens = [{ id: 'x' }]))).toThrow(/added_tokens has an entry/);
    expect(bad((j) => (j.decoder = 7))).toThrow(/"decoder" is not an object or null/);
    expect(bad((j) => (j.added_tokens[0].id = 2 ** 31))).toThrow(/token id 2147483648 is not an integer in \[0, /);
    expect(bad((j) => (j.model.vocab[Object.keys(j.model.vocab)[5]] = 1e308))).toThrow(/token id 1e\+308 is not an integer/);
    expect(bad((j) => (j.model.vocab[Object.keys(j.model.vocab)[5]] = -1))).toThrow(/token id -1 /);
    expect(() => loadTokenizer({ tokenizer: `{"model": ${'['.repeat(100_000)}` })).toThrow(
      /^tokenizer check failed: tokenizer\.json: .*JSON nests deeper than 64 levels$/,
    );
    expect(bad(() => undefined)).not.toThrow();
  });
});
