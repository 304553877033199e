import { describe, expect, it } from 'vitest';
import { byteLevelChar, trainByteLevelBpe } from './bpe-train.ts';
import { loadTokenizer } from './tokenizer.ts';

const corpus = [
  'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse,',
  'and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world.',
  'The State of the Union is strong; the Congress and the people of the United States of America.',
  "It's the whale's turn: they'll say we've 12,000 barrels,\n\n  and then\ttabs.",
];

const load = (vocabSize: number) => {
  const t = trainByteLevelBpe(corpus, { vocabSize });
  return { t, tok: loadTokenizer({ tokenizer: JSON.stringify(t.tokenizer), config: JSON.stringify(t.tokenizerConfig) }) };
};

describe('byte-level BPE trainer', () => {
  it('writes a tokenizer.json that @huggingface/tokenizers loads and that round-trips text exactly', () => {
    const { t, tok } = load(300);
    expect(t.merges).toBe(300 - 2 - 256);
    expect(tok.size).toBe(300);
    expect(tok.eosTokenIds).toEqual([1]);
    const texts = [...corpus, 'Unseen words: Queequeg, naïve café, 東京, emoji 🐋 and "quotes" — all bytes.', '   leading spaces\r\n'];
    for (const text of texts) {
      const ids = tok.encode(text);
      expect(ids[0]).toBe(0); // BOS first
      expect(ids.every((i) => i >= 0 && i < 300)).toBe(true);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it('merges the frequent pairs first: training text gets fewer tokens than bytes, more merges give fewer tokens', () => {
    const text = corpus.join(' ');
    const bytes = new TextEncoder().encode(text).length;
    const small = load(280).tok.encode(text, { addSpecialTokens: false }).length;
    const large = load(310).tok.encode(text, { addSpecialTokens: false }).length;
    expect(small).toBeLessThan(bytes);
    expect(large).toBeLessThan(small);
    const first = load(260).t.tokenizer as { model: { merges: string[] } };
    // " t" … "the": the space + "t" pair is the most frequent in this corpus.
    expect(first.model.merges[0]).toBe(`${byteLevelChar(32)} t`);
  });

  it('is deterministic, and other text gives other merges', () => {
    const a = JSON.stringify(trainByteLevelBpe(corpus, { vocabSize: 300 }));
    expect(JSON.stringify(trainByteLevelBpe(corpus, { vocabSize: 300 }))).toBe(a);
    expect(JSON.stringify(trainByteLevelBpe([...corpus].reverse(), { vocabSize: 300 }))).toBe(a);
    expect(JSON.stringify(trainByteLevelBpe(corpus.slice(1), { vocabSize: 300 }))).not.toBe(a);
  });

  it('refuses a vocabulary smaller than the byte alphabet', () => {
    expect(() => trainByteLevelBpe(corpus, { vocabSize: 200 })).toThrow(/≥ 258/);
  });
});
