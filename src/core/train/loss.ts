/**
 * Softmax cross-entropy from logits, the loss of every garden species (classifier heads and
 * next-token prediction): the mean over rows of log Σ exp(z) − z[label], rows labelled
 * IGNORE_INDEX (−100, as transformers' padding) left out.
 */
import { shapeError, type Value } from './tape.ts';

export const IGNORE_INDEX = -100;

export function crossEntropy(logits: Value, labels: ArrayLike<number>): Value {
  const { rows: m, cols: C } = logits;
  if (labels.length !== m) throw shapeError('crossEntropy', `${labels.length} labels for ${m} rows`);
  let counted = 0;
  for (let r = 0; r < m; r++) {
    const y = labels[r];
    if (y === IGNORE_INDEX) continue;
    if (!Number.isInteger(y) || y < 0 || y >= C) throw shapeError('crossEntropy', `label ${y} at row ${r} is outside 0..${C - 1}`);
    counted++;
  }
  const probs = new Float64Array(m * C);
  let total = 0;
  for (let r = 0; r < m; r++) {
    if (labels[r] === IGNORE_INDEX) continue;
    const o = r * C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits.data[o + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) {
      probs[o + c] = Math.exp(logits.data[o + c] - max);
      sum += probs[o + c];
    }
    for (let c = 0; c < C; c++) probs[o + c] /= sum;
    total += Math.log(sum) + max - logits.data[o + labels[r]];
  }
  const n = Math.max(counted, 1);
  const out = logits.tape.alloc(1);
  out[0] = total / n;
  return logits.tape.result(
    out,
    1,
    1,
    [logits],
    (o) => {
      const g = o.grad![0] / n;
      const gl = logits.gradBuf();
      for (let r = 0; r < m; r++) {
        if (labels[r] === IGNORE_INDEX) continue;
        const off = r * C;
        for (let c = 0; c < C; c++) gl[off + c] += g * (probs[off + c] - (c === labels[r] ? 1 : 0));
      }
    },
    'crossEntropy',
  );
}

/**
 * Distillation's soft cross-entropy (Hinton et al., 2015): the mean over rows of
 * T² · KL(p ‖ softmax(z / T)) = T² · Σ p (log p − log q), where `targets` [rows, cols] are the
 * teacher's probabilities at the same temperature (rows sum to 1). The T² keeps the gradient's
 * size independent of T: d/dz = T · (q − p) / rows.
 */
export function softCrossEntropy(logits: Value, targets: ArrayLike<number>, temperature: number): Value {
  const { rows: m, cols: C } = logits;
  if (targets.length !== m * C) throw shapeError('softCrossEntropy', `${targets.length} target values for [${m}, ${C}]`);
  if (!(temperature > 0) || !Number.isFinite(temperature))
    throw shapeError('softCrossEntropy', `temperature must be a positive number, got ${temperature}`);
  const T = temperature;
  const q = new Float64Array(m * C);
  let total = 0;
  for (let r = 0; r < m; r++) {
    const o = r * C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits.data[o + c] / T);
    let sum = 0;
    for (let c = 0; c < C; c++) {
      q[o + c] = Math.exp(logits.data[o + c] / T - max);
      sum += q[o + c];
    }
    const logSum = Math.log(sum) + max;
    for (let c = 0; c < C; c++) {
      q[o + c] /= sum;
      const p = targets[o + c];
      if (!(p >= 0)) throw shapeError('softCrossEntropy', `target ${p} at row ${r} is not a probability`);
      if (p > 0) total += p * (Math.log(p) - (logits.data[o + c] / T - logSum));
    }
  }
  const out = logits.tape.alloc(1);
  out[0] = (T * T * total) / Math.max(m, 1);
  return logits.tape.result(
    out,
    1,
    1,
    [logits],
    (o) => {
      const g = (o.grad![0] * T) / Math.max(m, 1);
      const gl = logits.gradBuf();
      for (let i = 0; i < m * C; i++) gl[i] += g * (q[i] - targets[i]);
    },
    'softCrossEntropy',
  );
}
