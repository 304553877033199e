/**
 * The pure half of "Train on your own digits" (no DOM, no store): the form's fields and their
 * valid ranges, the user's examples split into training and validation rows, and the training
 * spec (src/core/train/spec.ts) a run of the app is, so the worker runs what `garden train` would.
 */
import { sha256Hex, type Sha256Hex } from '../core/hash.ts';
import { mulberry32 } from '../core/seeded.ts';
import { permutation } from '../core/train/loop.ts';
import type { EncodedData, TrainSpec } from '../core/train/spec.ts';

export interface FieldRule {
  label: string;
  min: number;
  max: number;
  integer: boolean;
  initial: string;
  hint?: string;
}

/** Every number the form takes, with its valid range; a value outside is refused at the form. */
export const TRAIN_FIELDS = Object.freeze({
  r: { label: 'rank r', min: 1, max: 64, integer: true, initial: '4' },
  alpha: { label: 'lora_alpha', min: 0.01, max: 1024, integer: false, initial: '8' },
  dropout: { label: 'lora_dropout', min: 0, max: 0.9, integer: false, initial: '0.05' },
  epochs: { label: 'epochs', min: 1, max: 1000, integer: true, initial: '30' },
  batch: { label: 'batch', min: 1, max: 256, integer: true, initial: '16' },
  lr: { label: 'learning rate', min: 0.00001, max: 1, integer: false, initial: '0.003' },
  patience: { label: 'early stop patience (epochs; 0 = off)', min: 0, max: 100, integer: true, initial: '5' },
  seed: { label: 'seed', min: 0, max: 4294967295, integer: true, initial: '17' },
} satisfies Record<string, FieldRule>);
export type TrainField = keyof typeof TRAIN_FIELDS;

export const TRAIN_MODES = Object.freeze({
  lora: 'LoRA beside the chosen layers',
  head: 'a new output head (fc2 retrained: modules_to_save)',
} as const);
export type TrainMode = keyof typeof TRAIN_MODES;
export const TARGETS = Object.freeze(['fc1', 'fc2'] as const);

/** Why `text` is not a valid value of `field`, or null when it is. */
export function fieldProblem(field: TrainField, text: string): string | null {
  return ruleProblem(TRAIN_FIELDS[field], text);
}

/** Why `text` is not a valid value of the rule's field, or null when it is. */
export function ruleProblem(f: FieldRule, text: string): string | null {
  const v = text.trim() === '' ? NaN : Number(text);
  const range = `${f.integer ? 'an integer' : 'a number'} in ${f.min}…${f.max}`;
  if (!Number.isFinite(v) || v < f.min || v > f.max || (f.integer && !Number.isInteger(v)))
    return `${f.label} must be ${range}, got ${JSON.stringify(text)}`;
  return null;
}

export interface TrainSettings {
  mode: TrainMode;
  targets: string[];
  values: Record<TrainField, number>;
}

/** The settings, or every problem of the form by field (a LoRA needs at least one target). */
export function checkForm(
  mode: TrainMode,
  targets: readonly string[],
  texts: Record<TrainField, string>,
): { settings: TrainSettings; problems: null } | { settings: null; problems: Record<string, string> } {
  const problems: Record<string, string> = {};
  for (const k of Object.keys(TRAIN_FIELDS) as TrainField[]) {
    const p = fieldProblem(k, texts[k]);
    if (p) problems[k] = p;
  }
  if (mode === 'lora' && targets.length === 0) problems.targets = `a LoRA needs at least one target module: ${TARGETS.join(', ')}`;
  if (Object.keys(problems).length) return { settings: null, problems };
  const values = Object.fromEntries((Object.keys(TRAIN_FIELDS) as TrainField[]).map((k) => [k, Number(texts[k])])) as Record<
    TrainField,
    number
  >;
  return { settings: { mode, targets: [...targets], values }, problems: null };
}

export interface Example {
  id: string;
  label: number;
  /** The model input: a drawing's 784 floats (src/core/image28.ts) or a message's features (mail-features.ts). */
  input: Float32Array;
  at: number;
  /** A message's subject and file, shown in the list (mail); drawings have none. */
  title?: string;
}

/** What the rows of a family's training set are called in the data names and in a refusal ("drawn digits (training) row 3 …"). */
export const DIGITS_SET = 'drawn digits';
export const MAIL_SET = 'your emails';

export type NamedData = EncodedData & { name: string; hash: Sha256Hex };

function encode(rows: readonly Example[], classes: number, name: string): NamedData {
  const F = rows[0].input.length;
  const x = new Float32Array(rows.length * F);
  const y = new Int32Array(rows.length);
  const counts = new Array<number>(classes).fill(0);
  rows.forEach((r, i) => {
    x.set(r.input, i * F);
    y[i] = r.label;
    counts[r.label]++;
  });
  // The rows' hash: their labels, then their inputs, as the bytes the model would see.
  const bytes = new Uint8Array(y.byteLength + x.byteLength);
  bytes.set(new Uint8Array(y.buffer), 0);
  bytes.set(new Uint8Array(x.buffer), y.byteLength);
  return { x, y, featureSize: F, counts, name, hash: sha256Hex(bytes) };
}

/** The number of validation rows held out of n examples: a fifth, none below 5 examples. */
export function validationCount(n: number): number {
  return n >= 5 ? Math.max(1, Math.round(n / 5)) : 0;
}

/** A seeded split of the examples (in the order they were added) into training and validation rows. */
export function splitExamples(
  examples: readonly Example[],
  classes: number,
  seed: number,
  what = DIGITS_SET,
): { train: NamedData; validation?: NamedData; ids: { train: string[]; validation: string[] } } {
  if (examples.length < 2) throw new Error(`add at least 2 examples to train (there are ${examples.length})`);
  const order = [...examples].sort((a, b) => a.at - b.at || a.id.localeCompare(b.id));
  const perm = permutation(order.length, mulberry32(seed));
  const v = validationCount(order.length);
  const rows = Array.from(perm, (i) => order[i]);
  const train = encode(rows.slice(v), classes, `${what} (training)`);
  const ids = { train: rows.slice(v).map((r) => r.id), validation: rows.slice(0, v).map((r) => r.id) };
  return v ? { train, validation: encode(rows.slice(0, v), classes, `${what} (validation)`), ids } : { train, ids };
}

/** The example a refusal of the run names ("drawn digits (training) row 3 …"), by id, or null. */
export function refusedExample(message: string, ids: { train: string[]; validation: string[] }, what = DIGITS_SET): string | null {
  const m = new RegExp(`${what} \\((training|validation)\\) row (\\d+) `).exec(message);
  if (!m) return null;
  return (m[1] === 'training' ? ids.train : ids.validation)[Number(m[2]) - 1] ?? null;
}

/** Optimizer steps in one pass over `rows` training rows. */
export function stepsPerEpoch(rows: number, batch: number): number {
  return Math.ceil(rows / Math.min(batch, rows));
}

/** The training spec of one run of the form on `rows` training rows (cosine, 10 % warm-up, weight decay 0.01). */
export function trainSpec(s: TrainSettings, rows: number, baseFile: string, hasValidation: boolean, what = DIGITS_SET): TrainSpec {
  const v = s.values;
  const steps = v.epochs * stepsPerEpoch(rows, v.batch);
  return {
    base: baseFile,
    data: { train: `${what} (training)`, ...(hasValidation ? { validation: `${what} (validation)` } : {}) },
    encoding: 'features',
    suites: [],
    adapter: {
      r: v.r,
      alpha: v.alpha,
      dropout: v.dropout,
      targetModules: s.mode === 'lora' ? [...s.targets] : [],
      modulesToSave: s.mode === 'head' ? ['fc2'] : [],
      useRslora: false,
    },
    train: { steps, batch: v.batch, lr: v.lr, schedule: 'cosine', warmupSteps: Math.floor(steps / 10), weightDecay: 0.01, seed: v.seed },
  };
}
