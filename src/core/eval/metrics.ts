/**
 * Pure metric functions. Logits are row-major [count × classes]; labels are class indices.
 */

/** Softmax of one row (numerically stable), into `out`. */
export function softmaxRow(logits: ArrayLike<number>, offset: number, classes: number, out: Float64Array): void {
  let max = -Infinity;
  for (let c = 0; c < classes; c++) max = Math.max(max, logits[offset + c]);
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const e = Math.exp(logits[offset + c] - max);
    out[c] = e;
    sum += e;
  }
  for (let c = 0; c < classes; c++) out[c] /= sum;
}

function checkShapes(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`metrics: classes must be a positive integer, got ${classes}`);
  if (logits.length !== labels.length * classes)
    throw new Error(`metrics: ${logits.length} logits for ${labels.length} labels × ${classes} classes`);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= classes) throw new Error(`metrics: label ${y} at row ${i} is outside 0..${classes - 1}`);
  }
  return labels.length;
}

/** Index of the largest logit in each row; ties go to the lowest index. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): Int32Array {
  const n = Math.floor(logits.length / classes);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** Fraction of rows whose argmax equals the label (0 for an empty set). */
export function accuracy(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  const n = checkShapes(logits, labels, classes);
  if (n === 0) return 0;
  const pred = argmaxRows(logits, classes);
  let ok = 0;
  for (let i = 0; i < n; i++) if (pred[i] === labels[i]) ok++;
  return ok / n;
}

export const ECE_BINS = 15;

/**
 * Expected calibration error: rows are put in `bins` equal-width bins over the max softmax
 * probability (bin b holds confidences in (b/B, (b+1)/B], the first also holds 0); ECE is
 * Σ_b (n_b / n) · |accuracy_b − mean confidence_b|.
 */
export function expectedCalibrationError(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, bins = ECE_BINS): number {
  const n = checkShapes(logits, labels, classes);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`ECE: bins must be a positive integer, got ${bins}`);
  if (n === 0) return 0;
  const count = new Float64Array(bins);
  const correct = new Float64Array(bins);
  const conf = new Float64Array(bins);
  const p = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    softmaxRow(logits, i * classes, classes, p);
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    const confidence = p[best];
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(confidence * bins) - 1));
    count[b]++;
    conf[b] += confidence;
    if (best === labels[i]) correct[b]++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    if (count[b] === 0) continue;
    ece += (count[b] / n) * Math.abs(correct[b] / count[b] - conf[b] / count[b]);
  }
  return ece;
}

export interface GroupAccuracy {
  group: string;
  count: number;
  accuracy: number;
}

/**
 * Top-1 accuracy within each declared group: `index[i]` is row i's group (an index into `names`).
 * A group with no rows is listed with count 0 and accuracy NaN.
 */
export function groupAccuracies(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
  index: ArrayLike<number>,
  names: readonly string[],
): GroupAccuracy[] {
  const n = checkShapes(logits, labels, classes);
  if (index.length !== n) throw new Error(`metrics: ${index.length} group indices for ${n} rows`);
  const count = new Float64Array(names.length);
  const ok = new Float64Array(names.length);
  const pred = argmaxRows(logits, classes);
  for (let i = 0; i < n; i++) {
    const g = index[i];
    if (!Number.isInteger(g) || g < 0 || g >= names.length)
      throw new Error(`metrics: group ${g} at row ${i} is outside 0..${names.length - 1}`);
    count[g]++;
    if (pred[i] === labels[i]) ok[g]++;
  }
  return names.map((group, g) => ({ group, count: count[g], accuracy: count[g] ? ok[g] / count[g] : NaN }));
}

/** The group with the lowest accuracy among those with rows (the first on a tie); null when none has rows. */
export function worstGroup<G extends { count: number; accuracy: number }>(groups: readonly G[]): G | null {
  let worst: G | null = null;
  for (const g of groups) if (g.count > 0 && (worst === null || g.accuracy < worst.accuracy)) worst = g;
  return worst;
}

/** Mean negative log-likelihood (natural log) of the labels under the softmax of the logits. */
export function meanNll(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  const n = checkShapes(logits, labels, classes);
  if (n === 0) return 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[o + c] - max);
    total += Math.log(sum) + max - logits[o + labels[i]];
  }
  return total / n;
}

/** Perplexity = exp(mean NLL per predicted token). */
export function perplexity(logits: ArrayLike<number>, targets: ArrayLike<number>, classes: number): number {
  return Math.exp(meanNll(logits, targets, classes));
}

/** Median of a list of numbers (mean of the two middle values for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
