/** Perplexity per token and bits per byte, on the reference and the ONNX decoder. */
import { describe, expect, it } from 'vitest';
import { nextTokenCalibration, perplexity, sequenceNll, tokenNll } from './perplexity.ts';
import { referenceDecoder } from './decoder.ts';
import { parseCausalLmConfig } from './llama-config.ts';
import { tinyCheckpoint, tinyTokenizerJson } from './llama-testing.ts';
import { loadTokenizer } from './tokenizer.ts';
import { fromFloat32 } from '../tensor.ts';

const tok = loadTokenizer({ tokenizer: JSON.stringify(tinyTokenizerJson()) });
const text = 'the cat and the dog sat on the mat, then the cat ran.';

describe('perplexity', () => {
  it('a model with all-zero weights predicts uniformly: perplexity = vocab size, bits per byte = tokens·log2(V)/bytes', async () => {
    const ck = tinyCheckpoint({});
    const cfg = parseCausalLmConfig(ck.config);
    const zero = ck.tensors.map((t) => fromFloat32(t.name, t.shape, new Float32Array(t.data.length / 4)));
    const p = await perplexity(referenceDecoder(cfg, zero), tok, text);
    const n = tok.encode(text).length;
    expect(p.tokens).toBe(n - 1);
    expect(p.bytes).toBe(text.length);
    expect(p.perplexity).toBeCloseTo(cfg.vocabSize, 6);
    expect(p.bitsPerByte).toBeCloseTo(((n - 1) * Math.log2(cfg.vocabSize)) / text.length, 9);
  });

  it('sums −log softmax of each next token, as a direct computation does', async () => {
    const ck = tinyCheckpoint({ scale: 1 });
    const cfg = parseCausalLmConfig(ck.config);
    const d = referenceDecoder(cfg, ck.tensors);
    const ids = tok.encode(text);
    const logits = await d.forward(ids);
    let direct = 0;
    for (let t = 1; t < ids.length; t++) {
      const row = Array.from(logits.subarray((t - 1) * cfg.vocabSize, t * cfg.vocabSize));
      const z = row.reduce((s, x) => s + Math.exp(x), 0);
      direct += -Math.log(Math.exp(row[ids[t]]) / z);
    }
    const p = await perplexity(d, tok, text);
    expect(p.nll).toBeCloseTo(direct, 6);
    expect(p.perplexity).toBeCloseTo(Math.exp(direct / (ids.length - 1)), 6);
  });

  it('windows: each token is scored once; with window ≥ length it is one pass; short windows score with less context', async () => {
    const ck = tinyCheckpoint({ scale: 1 });
    const cfg = parseCausalLmConfig(ck.config);
    const d = referenceDecoder(cfg, ck.tensors);
    const ids = tok.encode(text);
    const full = await sequenceNll(d, ids, { window: 256 });
    expect(full.tokens).toBe(ids.length - 1);
    for (const [window, stride] of [
      [8, 4],
      [5, 1],
      [7, 6],
    ]) {
      const w = await sequenceNll(d, ids, { window, stride });
      expect(w.tokens).toBe(ids.length - 1);
      expect(Math.abs(w.nll - full.nll)).toBeGreaterThan(1e-6);
    }
    // window = 2: each token scored after exactly one token of context
    const pairs = await sequenceNll(d, ids, { window: 2, stride: 1 });
    let direct = 0;
    for (let t = 1; t < ids.length; t++) {
      d.reset();
      direct += tokenNll(await d.forward([ids[t - 1]]), ids[t]);
    }
    expect(pairs.nll).toBeCloseTo(direct, 9);
  });
});

describe('next-token calibration', () => {
  it('a uniform model: confidence 1/V in the first bin, ECE = |accuracy − 1/V|', async () => {
    const ck = tinyCheckpoint({});
    const cfg = parseCausalLmConfig(ck.config);
    const zero = ck.tensors.map((t) => fromFloat32(t.name, t.shape, new Float32Array(t.data.length / 4)));
    const ids = tok.encode(text);
    const c = await nextTokenCalibration(referenceDecoder(cfg, zero), ids);
    expect(c.tokens).toBe(ids.length - 1);
    expect(c.bins[0].count).toBe(c.tokens);
    expect(c.bins[0].confidence).toBeCloseTo(1 / cfg.vocabSize, 9);
    // argmax of equal logits is token 0 (BOS), never a next token here
    expect(c.accuracy).toBe(0);
    expect(c.ece).toBeCloseTo(1 / cfg.vocabSize, 9);
  });

  it('bins hold every token; ECE is the count-weighted gap, recomputed by hand from the callback', async () => {
    const ck = tinyCheckpoint({ scale: 2 });
    const cfg = parseCausalLmConfig(ck.config);
    const d = referenceDecoder(cfg, ck.tensors);
    const ids = tok.encode(text);
    const seen: { conf: number; ok: boolean }[] = [];
    const c = await nextTokenCalibration(d, ids, {
      bins: 4,
      onToken(row, target) {
        const max = Math.max(...row);
        const z = Array.from(row).reduce((s, x) => s + Math.exp(x - max), 0);
        seen.push({ conf: 1 / z, ok: row.indexOf(max) === target });
      },
    });
    expect(c.bins.reduce((s, b) => s + b.count, 0)).toBe(c.tokens);
    let ece = 0;
    for (let b = 0; b < 4; b++) {
      const inBin = seen.filter((x) => Math.min(3, Math.floor(x.conf * 4)) === b);
      if (!inBin.length) continue;
      const conf = inBin.reduce((s, x) => s + x.conf, 0) / inBin.length;
      const acc = inBin.filter((x) => x.ok).length / inBin.length;
      ece += (inBin.length / seen.length) * Math.abs(acc - conf);
    }
    expect(c.ece).toBeCloseTo(ece, 9);
    expect(c.bins.filter((b) => b.count > 0).length).toBeGreaterThan(1);
  });
});
