/**
 * Plain-JavaScript training for the character LM: next-character cross-entropy on contexts drawn
 * at seeded random positions of the training text, mini-batch Adam, float32, deterministic.
 */
import { charLmForward, contextAt, type CharLmParams, type CharLmShape } from '../../src/core/models/charlm.ts';
import { Rng } from './rng.ts';
import { Adam } from './train-mlp.ts';

export interface CharTrainConfig {
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  /** Learning rate multiplied by this at the end (linear decay from 1). */
  finalLrFraction?: number;
}

export function initCharLm(shape: CharLmShape, seed: number): CharLmParams {
  const rng = new Rng(seed);
  const D = shape.context * shape.embed;
  const emb = Float32Array.from({ length: shape.vocab * shape.embed }, () => rng.normal() * 0.5);
  const w1 = Float32Array.from({ length: D * shape.hidden }, () => rng.normal() * Math.sqrt(2 / D));
  const w2 = Float32Array.from({ length: shape.hidden * shape.vocab }, () => rng.normal() * Math.sqrt(1 / shape.hidden));
  return { shape, emb, w1, b1: new Float32Array(shape.hidden), w2, b2: new Float32Array(shape.vocab) };
}

export function cloneCharLm(p: CharLmParams): CharLmParams {
  return { shape: { ...p.shape }, emb: p.emb.slice(), w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
}

/** Train in place; returns the mean loss of each tenth of the run. */
export function trainCharLm(p: CharLmParams, text: Uint8Array, cfg: CharTrainConfig): number[] {
  const { context: K, embed: E, hidden: H, vocab: V } = p.shape;
  const D = K * E;
  const B = cfg.batch;
  if (text.length <= K + 1) throw new Error(`trainCharLm: text of ${text.length} ids is too short for context ${K}`);
  const rng = new Rng(cfg.seed);
  const opt = { emb: new Adam(p.emb.length), w1: new Adam(p.w1.length), b1: new Adam(H), w2: new Adam(p.w2.length), b2: new Adam(V) };
  const g = {
    emb: new Float32Array(p.emb.length),
    w1: new Float32Array(p.w1.length),
    b1: new Float32Array(H),
    w2: new Float32Array(p.w2.length),
    b2: new Float32Array(V),
  };
  const ids = new Int32Array(B * K);
  const ctx = new Int32Array(K);
  const targets = new Int32Array(B);
  const flat = new Float32Array(B * D);
  const hb = new Float32Array(B * H);
  const dh = new Float32Array(H);
  const dl = new Float32Array(V);
  const losses: number[] = [];
  const chunk = Math.max(1, Math.floor(cfg.steps / 10));
  let lossSum = 0;
  let lossN = 0;
  for (let step = 0; step < cfg.steps; step++) {
    for (let r = 0; r < B; r++) {
      const end = K + rng.int(text.length - K);
      contextAt(text, end, K, ctx);
      ids.set(ctx, r * K);
      targets[r] = text[end];
    }
    const logits = charLmForward(p, ids, B, flat, hb);
    g.emb.fill(0);
    g.w1.fill(0);
    g.b1.fill(0);
    g.w2.fill(0);
    g.b2.fill(0);
    for (let r = 0; r < B; r++) {
      const o = r * V;
      let max = -Infinity;
      for (let c = 0; c < V; c++) max = Math.max(max, logits[o + c]);
      let sum = 0;
      for (let c = 0; c < V; c++) sum += Math.exp(logits[o + c] - max);
      lossSum += Math.log(sum) + max - logits[o + targets[r]];
      lossN++;
      for (let c = 0; c < V; c++) dl[c] = (Math.exp(logits[o + c] - max) / sum - (c === targets[r] ? 1 : 0)) / B;
      const ho = r * H;
      for (let m = 0; m < H; m++) {
        const hv = hb[ho + m];
        const wo = m * V;
        let acc = 0;
        for (let c = 0; c < V; c++) {
          if (hv !== 0) g.w2[wo + c] += hv * dl[c];
          acc += p.w2[wo + c] * dl[c];
        }
        dh[m] = hv > 0 ? acc : 0;
      }
      for (let c = 0; c < V; c++) g.b2[c] += dl[c];
      for (let m = 0; m < H; m++) g.b1[m] += dh[m];
      const fo = r * D;
      for (let i = 0; i < D; i++) {
        const xv = flat[fo + i];
        const wo = i * H;
        let back = 0;
        for (let m = 0; m < H; m++) {
          g.w1[wo + m] += xv * dh[m];
          back += p.w1[wo + m] * dh[m];
        }
        const j = (i / E) | 0;
        const id = ids[r * K + j];
        g.emb[id * E + (i - j * E)] += back;
      }
    }
    const lr = cfg.lr * (1 - (1 - (cfg.finalLrFraction ?? 0.2)) * (step / cfg.steps));
    const t = step + 1;
    opt.emb.step(p.emb, g.emb, lr, t);
    opt.w1.step(p.w1, g.w1, lr, t);
    opt.b1.step(p.b1, g.b1, lr, t);
    opt.w2.step(p.w2, g.w2, lr, t);
    opt.b2.step(p.b2, g.b2, lr, t);
    if ((step + 1) % chunk === 0) {
      losses.push(lossSum / lossN);
      lossSum = 0;
      lossN = 0;
    }
  }
  return losses;
}
