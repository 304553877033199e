/**
 * Plain-JavaScript training for the MLP species: softmax cross-entropy, mini-batch Adam, all in
 * Float32Arrays, single-threaded and deterministic given the seed.
 */
import { mlpForward, type MlpParams, type MlpShape } from '../../src/core/models/mlp.ts';
import { Rng } from './rng.ts';

export interface TrainConfig {
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  /** Multiply the learning rate by this after each epoch. */
  decay?: number;
}

/** He-initialised weights, zero biases. */
export function initMlp(shape: MlpShape, seed: number): MlpParams {
  const rng = new Rng(seed);
  const w1 = new Float32Array(shape.inputs * shape.hidden);
  const s1 = Math.sqrt(2 / shape.inputs);
  for (let i = 0; i < w1.length; i++) w1[i] = rng.normal() * s1;
  const w2 = new Float32Array(shape.hidden * shape.classes);
  const s2 = Math.sqrt(2 / shape.hidden);
  for (let i = 0; i < w2.length; i++) w2[i] = rng.normal() * s2;
  return { shape, w1, b1: new Float32Array(shape.hidden), w2, b2: new Float32Array(shape.classes) };
}

export function cloneMlp(p: MlpParams): MlpParams {
  return { shape: { ...p.shape }, w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
}

export class Adam {
  private m: Float32Array;
  private v: Float32Array;
  private t = 0;
  constructor(private readonly n: number) {
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
  }
  step(w: Float32Array, g: Float32Array, lr: number, t: number): void {
    const b1 = 0.9;
    const b2 = 0.999;
    this.t = t;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (let i = 0; i < this.n; i++) {
      const gi = g[i];
      this.m[i] = b1 * this.m[i] + (1 - b1) * gi;
      this.v[i] = b2 * this.v[i] + (1 - b2) * gi * gi;
      w[i] -= (lr * (this.m[i] / c1)) / (Math.sqrt(this.v[i] / c2) + 1e-8);
    }
  }
}

/**
 * Train in place on rows x (n × inputs) with labels y. Returns the mean training loss of each epoch.
 */
export function trainMlp(p: MlpParams, x: Float32Array, y: Uint8Array, cfg: TrainConfig): number[] {
  const { inputs: I, hidden: H, classes: C } = p.shape;
  const n = y.length;
  if (x.length !== n * I) throw new Error(`trainMlp: ${x.length} inputs for ${n} rows × ${I}`);
  const rng = new Rng(cfg.seed);
  const opt = { w1: new Adam(p.w1.length), b1: new Adam(H), w2: new Adam(p.w2.length), b2: new Adam(C) };
  const g = { w1: new Float32Array(p.w1.length), b1: new Float32Array(H), w2: new Float32Array(p.w2.length), b2: new Float32Array(C) };
  const B = cfg.batch;
  const xb = new Float32Array(B * I);
  const hb = new Float32Array(B * H);
  const dh = new Float32Array(H);
  const dl = new Float32Array(C);
  const losses: number[] = [];
  let lr = cfg.lr;
  let t = 0;
  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    const order = rng.permutation(n);
    let lossSum = 0;
    for (let start = 0; start + B <= n; start += B) {
      for (let r = 0; r < B; r++) xb.set(x.subarray(order[start + r] * I, order[start + r] * I + I), r * I);
      const logits = mlpForward(p, xb, B, hb);
      g.w1.fill(0);
      g.b1.fill(0);
      g.w2.fill(0);
      g.b2.fill(0);
      for (let r = 0; r < B; r++) {
        const label = y[order[start + r]];
        const o = r * C;
        let max = -Infinity;
        for (let c = 0; c < C; c++) max = Math.max(max, logits[o + c]);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += Math.exp(logits[o + c] - max);
        lossSum += Math.log(sum) + max - logits[o + label];
        for (let c = 0; c < C; c++) dl[c] = (Math.exp(logits[o + c] - max) / sum - (c === label ? 1 : 0)) / B;
        const ho = r * H;
        for (let j = 0; j < H; j++) {
          const hv = hb[ho + j];
          let acc = 0;
          const wo = j * C;
          for (let c = 0; c < C; c++) {
            if (hv !== 0) g.w2[wo + c] += hv * dl[c];
            acc += p.w2[wo + c] * dl[c];
          }
          dh[j] = hv > 0 ? acc : 0;
        }
        for (let c = 0; c < C; c++) g.b2[c] += dl[c];
        for (let j = 0; j < H; j++) g.b1[j] += dh[j];
        const xo = r * I;
        for (let i = 0; i < I; i++) {
          const xv = xb[xo + i];
          if (xv === 0) continue;
          const go = i * H;
          for (let j = 0; j < H; j++) g.w1[go + j] += xv * dh[j];
        }
      }
      t++;
      opt.w1.step(p.w1, g.w1, lr, t);
      opt.b1.step(p.b1, g.b1, lr, t);
      opt.w2.step(p.w2, g.w2, lr, t);
      opt.b2.step(p.b2, g.b2, lr, t);
    }
    losses.push(lossSum / (Math.floor(n / B) * B));
    lr *= cfg.decay ?? 1;
  }
  return losses;
}
