/**
 * A training spec (`garden train SPEC.json`), its data and the walls around the data:
 *   - the spec is strict JSON with known keys only (PEFT's names for the adapter: r, lora_alpha,
 *     lora_dropout, target_modules, modules_to_save);
 *   - data is JSONL, one labelled example a line: {"message": RFC 822 text} or {"body": text} for
 *     the mail species, {"features": [numbers]} for any classifier; "label" is a class name of
 *     the base's label set or its index;
 *   - rows are encoded to model inputs exactly as the species' suites store them, and any row
 *     whose model input equals a row of a frozen suite is refused (training never sees what
 *     decides fitness), as is one equal to a row of a declared calibration split the spec names
 *     (the data-informed merges' statistics stay independent of the adapters they merge);
 *   - the data manifest keeps hashes, counts and sources, never contents.
 */
import { findKeyProblem } from '../json-keys.ts';
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { MAIL_BUCKETS, mailFeatures, stripHeaders } from '../models/mail-features.ts';
import { type Suite } from '../eval/suite.ts';
import { rowHashes } from '../operators/calibration.ts';
import { SCHEDULES, type ScheduleKind } from './optim.ts';
import type { LoraConfig } from './lora.ts';

export const ENCODINGS = Object.freeze({
  'mail-text': 'an email ("message": headers stripped, or "body") as the mail species\' hashed bag of words',
  features: '"features": the model input itself, one number per input',
} as const);
export type Encoding = keyof typeof ENCODINGS;

export interface TrainSpec {
  base: string;
  data: { train: string; validation?: string };
  encoding?: Encoding;
  /** Extra suite files to keep the data apart from (the family's suites are always checked). */
  suites: string[];
  /**
   * Declared calibration splits (operators/calibration.ts, the files garden breed --calibration
   * reads) to keep the data apart from; absent when none is named.
   */
  calibration?: string[];
  adapter: { r: number; alpha: number; dropout: number; targetModules: string[]; modulesToSave: string[]; useRslora: boolean };
  train: { steps: number; batch: number; lr: number; schedule: ScheduleKind; warmupSteps: number; weightDecay: number; seed: number };
  /** A language-model spec (the "text" key): a LoRA of a Llama-family base trained on text files. */
  text?: TextSpec;
}

/** Text files (.txt/.md) tokenized with the base's tokenizer, cut into windows of seqLen tokens. */
export interface TextSpec {
  train: string[];
  validation: string[];
  seqLen: number;
  /** Fraction of the training windows held out for validation when no validation files are given. */
  validationSplit: number;
  /** Validation loss every this many steps (0: only at the end). */
  evalEvery: number;
  /** Stop after this many evaluations without a new best (0: never stop early); the best adapter is kept. */
  patience: number;
  /** Texts the model is judged on (text-wall.ts): a training or validation file sharing a window with one is refused. */
  suiteTexts: string[];
}

export const TEXT_FILE = /\.(txt|md)$/i;

function textFiles(v: unknown, where: string, optional: boolean): string[] {
  if (v === undefined && optional) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && TEXT_FILE.test(x)))
    throw new SpecError(`${where} must be a .txt or .md file or a non-empty list of them, got ${JSON.stringify(v)}`);
  return list as string[];
}

function parseTextSpec(o: Obj, data: Obj, steps: number): TextSpec {
  const t = object(o.text, 'spec.text', ['seq_len', 'validation_split', 'eval_every', 'patience']);
  if (o.encoding !== undefined) throw new SpecError('spec.encoding is for classifier data; a "text" spec reads text files');
  if (o.suites !== undefined || o.calibration !== undefined)
    throw new SpecError(
      `spec.${o.suites !== undefined ? 'suites' : 'calibration'} holds classifier suites; a "text" spec names its held-out texts in "suite_texts"`,
    );
  const validation = textFiles(data.validation, 'spec.data.validation', true);
  const validationSplit = num(t, 'validation_split', 'spec.text', (x) => x >= 0 && x < 1, 'in [0, 1)', 0);
  if (validation.length > 0 && validationSplit > 0)
    throw new SpecError('give spec.data.validation or spec.text.validation_split, not both');
  const suiteTexts = o.suite_texts === undefined ? [] : textFiles(o.suite_texts, 'spec.suite_texts', false);
  return {
    train: textFiles(data.train, 'spec.data.train', false),
    validation,
    seqLen: num(t, 'seq_len', 'spec.text', isInt(2, 65_536), 'an integer in 2…65536'),
    validationSplit,
    evalEvery: num(t, 'eval_every', 'spec.text', isInt(0, steps), `an integer in 0…${steps}`, 0),
    patience: num(t, 'patience', 'spec.text', isInt(0, 1_000_000), 'an integer in 0…1000000', 0),
    suiteTexts,
  };
}

/** The LoraConfig of a spec's adapter settings, for a base of the given layout and task. */
export function specLoraConfig(a: TrainSpec['adapter'], baseModel: string, fanInFanOut: boolean, taskType: string | null): LoraConfig {
  return {
    r: a.r,
    alpha: a.alpha,
    dropout: a.dropout,
    targetModules: a.targetModules,
    modulesToSave: a.modulesToSave,
    useRslora: a.useRslora,
    fanInFanOut,
    baseModel,
    taskType,
  };
}

export class SpecError extends Error {
  override name = 'SpecError';
}

type Obj = Record<string, unknown>;

function object(v: unknown, where: string, keys: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SpecError(`${where} must be an object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new SpecError(`${where} has unknown key "${k}"; valid: ${keys.join(', ')}`);
  return v as Obj;
}

function num(o: Obj, k: string, where: string, check: (x: number) => boolean, rule: string, dflt?: number): number {
  const v = o[k] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v))
    throw new SpecError(`${where}.${k} must be ${rule}, got ${JSON.stringify(o[k])}`);
  return v;
}

function str(o: Obj, k: string, where: string, optional = false): string | undefined {
  const v = o[k];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v === '') throw new SpecError(`${where}.${k} must be a non-empty string`);
  return v;
}

function strList(o: Obj, k: string, where: string): string[] {
  const v = o[k] ?? [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw new SpecError(`${where}.${k} must be a list of names`);
  return v as string[];
}

const isInt = (lo: number, hi: number) => (x: number) => Number.isInteger(x) && x >= lo && x <= hi;

export function parseSpec(json: string): TrainSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new SpecError(`the spec is not JSON: ${(e as Error).message}`);
  }
  const problem = findKeyProblem(json);
  if (problem) throw new SpecError(`the spec has a ${problem.problem} key "${problem.key}" at ${problem.path}`);
  const o = object(raw, 'spec', ['base', 'data', 'encoding', 'suites', 'calibration', 'suite_texts', 'text', 'adapter', 'train']);
  const data = object(o.data, 'spec.data', ['train', 'validation']);
  if (o.suite_texts !== undefined && o.text === undefined) throw new SpecError('spec.suite_texts needs a "text" spec');
  const enc = o.encoding;
  if (enc !== undefined && (typeof enc !== 'string' || !Object.prototype.hasOwnProperty.call(ENCODINGS, enc)))
    throw new SpecError(`spec.encoding ${JSON.stringify(enc)} is unknown; valid: ${Object.keys(ENCODINGS).join(', ')}`);
  const a = object(o.adapter, 'spec.adapter', ['r', 'lora_alpha', 'lora_dropout', 'target_modules', 'modules_to_save', 'use_rslora']);
  const t = object(o.train, 'spec.train', ['steps', 'batch', 'lr', 'schedule', 'warmup_steps', 'weight_decay', 'seed']);
  const schedule = t.schedule ?? 'cosine';
  if (typeof schedule !== 'string' || !(SCHEDULES as readonly string[]).includes(schedule))
    throw new SpecError(`spec.train.schedule ${JSON.stringify(schedule)} is unknown; valid: ${SCHEDULES.join(', ')}`);
  if (a.use_rslora !== undefined && typeof a.use_rslora !== 'boolean') throw new SpecError('spec.adapter.use_rslora must be true or false');
  const steps = num(t, 'steps', 'spec.train', isInt(1, 1_000_000), 'an integer in 1…1000000');
  const text = o.text === undefined ? undefined : parseTextSpec(o, data, steps);
  const validation = text ? text.validation[0] : str(data, 'validation', 'spec.data', true);
  return {
    base: str(o, 'base', 'spec')!,
    data: { train: text ? text.train[0] : str(data, 'train', 'spec.data')!, ...(validation ? { validation } : {}) },
    ...(text ? { text } : {}),
    ...(enc ? { encoding: enc as Encoding } : {}),
    suites: strList(o, 'suites', 'spec'),
    ...(o.calibration !== undefined ? { calibration: strList(o, 'calibration', 'spec') } : {}),
    adapter: {
      r: num(a, 'r', 'spec.adapter', isInt(1, 4096), 'an integer in 1…4096'),
      alpha: num(a, 'lora_alpha', 'spec.adapter', (x) => x > 0, 'a positive number'),
      dropout: num(a, 'lora_dropout', 'spec.adapter', (x) => x >= 0 && x < 1, 'in [0, 1)', 0),
      targetModules: strList(a, 'target_modules', 'spec.adapter'),
      modulesToSave: strList(a, 'modules_to_save', 'spec.adapter'),
      useRslora: a.use_rslora === true,
    },
    train: {
      steps,
      batch: num(t, 'batch', 'spec.train', isInt(1, 65_536), 'an integer in 1…65536', 16),
      lr: num(t, 'lr', 'spec.train', (x) => x > 0 && x < 10, 'a positive number below 10'),
      schedule: schedule as ScheduleKind,
      warmupSteps: num(t, 'warmup_steps', 'spec.train', isInt(0, steps), `an integer in 0…${steps}`, 0),
      weightDecay: num(t, 'weight_decay', 'spec.train', (x) => x >= 0 && x < 1, 'in [0, 1)', 0),
      seed: num(t, 'seed', 'spec.train', isInt(0, 2 ** 32 - 1), 'an integer in 0…4294967295', 0),
    },
  };
}

/** Labelled rows encoded to model inputs [n, featureSize] and class indices. */
export interface EncodedData {
  x: Float32Array;
  y: Int32Array;
  featureSize: number;
  /** Per class, the number of rows. */
  counts: number[];
}

/**
 * Parse JSONL and encode every row; errors name the line. Unlabelled data (`labelled` false:
 * distillation's inputs) needs no "label" and ignores one; its y is −1 and its counts are zeros.
 */
export function encodeJsonl(
  text: string,
  encoding: Encoding,
  labels: readonly string[],
  featureSize: number,
  what = 'data',
  labelled = true,
): EncodedData {
  if (encoding === 'mail-text' && featureSize !== MAIL_BUCKETS)
    throw new SpecError(`encoding mail-text gives ${MAIL_BUCKETS} inputs, the base takes ${featureSize}`);
  const rows: { x: Float32Array; y: number }[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${what} line ${i + 1}`;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new SpecError(`${where} is not JSON: ${(e as Error).message}`);
    }
    const o = object(r, where, encoding === 'mail-text' ? ['message', 'body', 'label', 'source'] : ['features', 'label', 'source']);
    const label = o.label;
    const y = !labelled ? -1 : typeof label === 'number' ? label : labels.indexOf(String(label));
    if (labelled && (!Number.isInteger(y) || y < 0 || y >= labels.length))
      throw new SpecError(`${where}: label ${JSON.stringify(label)} is not one of ${labels.map((l, k) => `${k} "${l}"`).join(', ')}`);
    let x: Float32Array;
    if (encoding === 'mail-text') {
      if (typeof o.message === 'string') x = mailFeatures(stripHeaders(o.message));
      else if (typeof o.body === 'string') x = mailFeatures(o.body);
      else throw new SpecError(`${where}: needs "message" or "body" text`);
    } else {
      const f = o.features;
      if (!Array.isArray(f) || f.length !== featureSize || !f.every((v) => typeof v === 'number' && Number.isFinite(v)))
        throw new SpecError(`${where}: "features" must be ${featureSize} finite numbers`);
      x = Float32Array.from(f as number[]);
    }
    rows.push({ x, y });
  });
  if (rows.length === 0) throw new SpecError(`${what} has no rows`);
  const x = new Float32Array(rows.length * featureSize);
  const y = new Int32Array(rows.length);
  const counts = labels.map(() => 0);
  rows.forEach((r, i) => {
    x.set(r.x, i * featureSize);
    y[i] = r.y;
    if (r.y >= 0) counts[r.y]++;
  });
  return { x, y, featureSize, counts };
}

function rowHash(x: Float32Array, i: number, f: number): Sha256Hex {
  const row = x.slice(i * f, (i + 1) * f);
  return sha256Hex(new Uint8Array(row.buffer));
}

/** What the wall kept the data apart from: each suite (frozen, or a declared calibration split) by id, hash and rows. */
export interface KeptApart {
  checked: { id: string; hash: Sha256Hex; rows: number }[];
  calibration: { id: string; hash: Sha256Hex; rows: number }[];
}

/**
 * The wall: refuse data that shares a model input with any frozen suite, or with any declared
 * calibration split (operators/calibration.ts: the rows RegMean and Fisher learn their statistics
 * from), of the same input size. Rows are compared as the float32 inputs the model would see, by
 * SHA-256 per row (calibration.ts rowHashes); the refusal is one line naming the check, the row
 * and the suite or split.
 */
export function refuseSuiteOverlap(
  data: EncodedData,
  suites: readonly Suite[],
  what = 'data',
  calibration: readonly Suite[] = [],
): KeptApart {
  const F = data.featureSize;
  const mine = new Map<Sha256Hex, number>();
  for (let i = 0; i < data.y.length; i++) {
    const h = rowHash(data.x, i, F);
    if (!mine.has(h)) mine.set(h, i);
  }
  const wall = (list: readonly Suite[], kind: string, apart: string) => {
    const kept = [];
    for (const s of list) {
      if (s.featureSize !== F) continue;
      rowHashes(s).forEach((h, j) => {
        const at = mine.get(h);
        if (at !== undefined)
          throw new SpecError(
            `${what} row ${at + 1} has the same model input as row ${j + 1} of ${kind} "${s.id}" (${s.hash.slice(0, 12)}…); training data must be kept apart from ${apart}`,
          );
      });
      kept.push({ id: s.id, hash: s.hash, rows: s.count });
    }
    return kept;
  };
  const checked = wall(suites, 'frozen suite', 'the suites');
  return { checked, calibration: wall(calibration, 'calibration split', 'the calibration split (the data-informed merges fit on it)') };
}
