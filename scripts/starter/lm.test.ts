/**
 * The LM family's training is reproducible bit for bit (the committed weights rest on it): a tiny
 * configuration trained twice gives the same tokenizer and safetensors bytes, another seed other
 * bytes; the training loss falls; each folder holds an HF config, the tokenizer and every tensor.
 */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.ts';
import { installNodeSha256 } from '../../src/node/sha256.ts';
import { expectedTensors, parseCausalLmConfig } from '../../src/core/models/llama-config.ts';
import { loadTokenizer } from '../../src/core/models/tokenizer.ts';
import { brownText, committedFiles, hfFolder, LM_MODELS, LM_SOURCES, LM_TINY, loadLmCorpus, readWeights, trainLm } from './lm.ts';

installNodeSha256();
const corpus = loadLmCorpus(LM_TINY);
const hashes = (files: Map<string, Uint8Array>) => Object.fromEntries([...files].map(([n, b]) => [n, sha256Hex(b)]));

describe('starter LM family', () => {
  it('splits every source into disjoint training, suite and mixed documents', () => {
    for (const s of LM_SOURCES) {
      expect(corpus.suite[s].length).toBeGreaterThan(LM_TINY.suiteChars / 2);
      expect(corpus.train[s].join('\n')).not.toContain(corpus.suite[s].slice(0, 200));
      expect(corpus.mixed).not.toContain(corpus.suite[s].slice(0, 200));
    }
  });

  it('reads Brown text without its tags', () => {
    expect(brownText("\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ,/, it's/pps+bez fine/jj ./.\n")).toBe('The jury said "no", it\'s fine.');
  });

  it('trains the tokenizer, base and specialists reproducibly (same bytes twice, other bytes for another seed)', () => {
    const a = trainLm(LM_TINY, corpus);
    const b = trainLm(LM_TINY, corpus);
    expect(hashes(committedFiles(b))).toEqual(hashes(committedFiles(a)));
    expect([...a.weights.keys()]).toEqual([...LM_MODELS]);
    expect(a.losses.base.last).toBeLessThan(a.losses.base.first);
    const other = trainLm({ ...LM_TINY, seed: LM_TINY.seed + 1 }, corpus);
    expect(sha256Hex(other.weights.get('base')!)).not.toBe(sha256Hex(a.weights.get('base')!));
    // Each folder: HF config keys the parser accepts, the trained tokenizer (exact round trip), every expected tensor.
    const files = committedFiles(a);
    const dec = new TextDecoder();
    for (const id of LM_MODELS) {
      const folder = hfFolder(LM_TINY, files, id);
      const config = parseCausalLmConfig(JSON.parse(dec.decode(folder.get('config.json'))));
      const tok = loadTokenizer({
        tokenizer: dec.decode(folder.get('tokenizer.json')),
        config: dec.decode(folder.get('tokenizer_config.json')),
      });
      expect(tok.size).toBe(config.vocabSize);
      expect(tok.decode(tok.encode(corpus.suite.moby))).toBe(corpus.suite.moby);
      const w = readWeights(folder.get('model.safetensors')!);
      const want = expectedTensors(config).filter((t) => !t.optional);
      expect([...w.keys()].sort()).toEqual(want.map((t) => t.name).sort());
      for (const t of want) expect(w.get(t.name)!.shape).toEqual(t.shape);
    }
  }, 60_000);
});
