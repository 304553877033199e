/**
 * Cascades (pathways): a recipe of slots, not a new model. A request goes to the first stage (a
 * slot answered by a small or quantized model); when the stage's confidence — the largest softmax
 * probability of its answer — is below the stage's threshold, it escalates to the next stage; the
 * last stage always answers. evaluateCascade counts the share answered cheaply (before the last
 * stage) and the quality kept or lost against the last stage answering everything.
 */
import { softmaxRow } from '../eval/metrics.ts';

export interface CascadeStage {
  /** The slot this stage routes to. */
  slot: string;
  /** Escalate when the answer's confidence is below this (0..1); ignored on the last stage. */
  threshold: number;
}

export interface Cascade {
  name: string;
  stages: readonly CascadeStage[];
}

/** How a stage answers: the slot's router (route(slot, id, x).output) or a model directly. */
export type StageAnswer = (slot: string, requestId: string, input: Float32Array) => Promise<ArrayLike<number>>;

export class CascadeError extends Error {
  override name = 'CascadeError';
}

export function checkCascade(c: Cascade): Cascade {
  if (c.stages.length < 2) throw new CascadeError(`cascade "${c.name}" needs at least two stages, got ${c.stages.length}`);
  const seen = new Set<string>();
  for (const s of c.stages) {
    if (seen.has(s.slot)) throw new CascadeError(`cascade "${c.name}" names slot "${s.slot}" twice`);
    seen.add(s.slot);
    if (!(s.threshold >= 0 && s.threshold <= 1))
      throw new CascadeError(`cascade "${c.name}": threshold of "${s.slot}" must be in [0, 1], got ${s.threshold}`);
  }
  return c;
}

/** The largest softmax probability of a logit vector. */
export function confidence(logits: ArrayLike<number>): number {
  const p = new Float64Array(logits.length);
  softmaxRow(logits, 0, logits.length, p);
  return Math.max(...p);
}

export interface CascadeAnswer {
  output: ArrayLike<number>;
  /** Index of the stage that answered. */
  stage: number;
  slot: string;
  /** Confidence of each stage tried, in order. */
  confidences: number[];
}

/** Route one request down the cascade. */
export async function routeCascade(c: Cascade, answer: StageAnswer, requestId: string, input: Float32Array): Promise<CascadeAnswer> {
  checkCascade(c);
  const confidences: number[] = [];
  for (const [i, s] of c.stages.entries()) {
    const out = await answer(s.slot, requestId, Float32Array.from(input));
    const conf = confidence(out);
    confidences.push(conf);
    if (i === c.stages.length - 1 || conf >= s.threshold) return { output: out, stage: i, slot: s.slot, confidences };
  }
  throw new CascadeError('unreachable');
}

export interface CascadeReport {
  rows: number;
  /** Requests answered by each stage. */
  answeredBy: number[];
  /** Share answered before the last stage. */
  cheapShare: number;
  /** Accuracy of the cascade, and of the last stage answering every row. */
  accuracy: number;
  lastStageAccuracy: number;
  /** accuracy − lastStageAccuracy: ≥ 0 is quality kept (or gained), < 0 quality lost. */
  qualityDelta: number;
}

function argmax(x: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
}

/** Run labelled rows through the cascade and through its last stage alone. */
export async function evaluateCascade(
  c: Cascade,
  answer: StageAnswer,
  rows: readonly Float32Array[],
  labels: ArrayLike<number>,
): Promise<CascadeReport> {
  if (rows.length !== labels.length || !rows.length)
    throw new CascadeError(`evaluateCascade needs as many labels as rows (≥ 1), got ${rows.length} rows and ${labels.length} labels`);
  const answeredBy = c.stages.map(() => 0);
  let right = 0;
  let lastRight = 0;
  const last = c.stages[c.stages.length - 1].slot;
  for (const [i, x] of rows.entries()) {
    const a = await routeCascade(c, answer, `cascade-${i}`, x);
    answeredBy[a.stage]++;
    if (argmax(a.output) === labels[i]) right++;
    const full = a.stage === c.stages.length - 1 ? a.output : await answer(last, `cascade-${i}`, Float32Array.from(x));
    if (argmax(full) === labels[i]) lastRight++;
  }
  const n = rows.length;
  const accuracy = right / n;
  const lastStageAccuracy = lastRight / n;
  return {
    rows: n,
    answeredBy,
    cheapShare: (n - answeredBy[answeredBy.length - 1]) / n,
    accuracy,
    lastStageAccuracy,
    qualityDelta: accuracy - lastStageAccuracy,
  };
}
