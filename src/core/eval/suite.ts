/**
 * Frozen evaluation suites. A suite is a safetensors file with two tensors, "inputs" [N, F]
 * (U8 or F32) and "labels" U8 [N], and __metadata__ describing it. Its identity is the SHA-256
 * of its bytes; policy pins suites by that hash, and the evaluator refuses any other bytes.
 *
 * Tasks: "classify" (inputs are features; labels are class indices) and "lm" (inputs are the
 * previous F token ids; labels are the next token id), both scored as next-label prediction.
 */
import { FormatError } from '../format/errors.ts';
import { parseSafetensors, serializeSafetensors } from '../format/safetensors.ts';
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { toFloat32, type Tensor } from '../tensor.ts';

export const SUITE_FORMAT_VERSION = '1';

export const SUITE_TASKS = Object.freeze({
  classify: { description: 'inputs are feature vectors, labels are class indices' },
  lm: { description: 'inputs are the previous token ids, labels are the next token id' },
} as const);
export type SuiteTask = keyof typeof SUITE_TASKS;

export const SUITE_KEYS = Object.freeze({
  format: 'suite.format',
  id: 'suite.id',
  name: 'suite.name',
  family: 'suite.family',
  task: 'suite.task',
  perturbation: 'suite.perturbation',
  description: 'suite.description',
  /** Decimal multiplier from stored input values to model inputs ("1" for ids and F32 features). */
  scale: 'suite.scale',
  classes: 'suite.classes',
  /** Robustness suites only: the id of the clean suite whose rows this suite perturbs (or shifts). */
  baseline: 'suite.baseline',
  /** Suites with declared groups only: JSON array of the group names that the "groups" tensor indexes. */
  groups: 'suite.groups',
} as const);

/** Most groups a suite may declare (a U8 index). */
export const MAX_SUITE_GROUPS = 256;

export interface SuiteInfo {
  id: string;
  name: string;
  family: string;
  task: SuiteTask;
  /** "none", or a declared perturbation such as "rotate(±15..35°)" or "noise(σ=0.25)+shift(±3px)". */
  perturbation: string;
  description: string;
  /** Number of classes (output size) the labels index into. */
  classes: number;
  scale: number;
  /**
   * Robustness suites only: the clean suite this one is compared with (its quality drop under the
   * declared perturbation is reported). Absent for ordinary suites (their bytes do not change).
   */
  baseline?: string;
  /**
   * Declared groups (a digit condition, a mail collection): their names; each row's group is
   * given by the suite's "groups" tensor (U8 [count], an index into these names). Worst-group
   * accuracy is reported over them. Absent for suites without groups.
   */
  groups?: readonly string[];
}

export interface Suite extends SuiteInfo {
  hash: Sha256Hex;
  bytes: number;
  count: number;
  featureSize: number;
  inputs: Tensor;
  labels: Uint8Array;
  /** Each row's group, an index into `groups` (present exactly when `groups` is). */
  groupIndex?: Uint8Array;
}

function checkGroups(id: string, names: readonly string[], index: Uint8Array, count: number): void {
  if (!names.length || names.length > MAX_SUITE_GROUPS)
    throw new SuiteError(`suite "${id}": ${names.length} groups declared; a suite declares 1..${MAX_SUITE_GROUPS}`);
  if (names.some((n) => typeof n !== 'string' || !n.trim()) || new Set(names).size !== names.length)
    throw new SuiteError(`suite "${id}": group names must be distinct non-empty strings`);
  if (index.length !== count) throw new SuiteError(`suite "${id}": ${index.length} group indices for ${count} rows`);
  for (let i = 0; i < count; i++)
    if (index[i] >= names.length) throw new SuiteError(`suite "${id}": group ${index[i]} at row ${i} is outside 0..${names.length - 1}`);
}

export class SuiteError extends Error {
  override name = 'SuiteError';
}

export function writeSuite(
  info: SuiteInfo,
  inputs: { dtype: 'U8' | 'F32'; data: Uint8Array | Float32Array; featureSize: number },
  labels: Uint8Array,
  groupIndex?: Uint8Array,
): Uint8Array {
  const count = labels.length;
  if ((info.groups === undefined) !== (groupIndex === undefined))
    throw new SuiteError(`suite "${info.id}": group names and each row's group go together`);
  if (info.groups && groupIndex) checkGroups(info.id, info.groups, groupIndex, count);
  const bytes =
    inputs.data instanceof Float32Array ? new Uint8Array(inputs.data.buffer, inputs.data.byteOffset, inputs.data.byteLength) : inputs.data;
  if (inputs.data.length !== count * inputs.featureSize)
    throw new SuiteError(`suite "${info.id}": ${inputs.data.length} input values for ${count} rows × ${inputs.featureSize}`);
  for (let i = 0; i < count; i++)
    if (labels[i] >= info.classes)
      throw new SuiteError(`suite "${info.id}": label ${labels[i]} at row ${i} is outside 0..${info.classes - 1}`);
  if (!Object.prototype.hasOwnProperty.call(SUITE_TASKS, info.task))
    throw new SuiteError(`suite "${info.id}": unknown task "${info.task}"; valid: ${Object.keys(SUITE_TASKS).join(', ')}`);
  if (info.baseline !== undefined && (info.baseline === '' || info.baseline === info.id))
    throw new SuiteError(`suite "${info.id}": baseline must name another suite, got "${info.baseline}"`);
  if (info.baseline !== undefined && info.perturbation === 'none')
    throw new SuiteError(`suite "${info.id}" names a baseline but declares no perturbation`);
  return serializeSafetensors(
    [
      { name: 'inputs', dtype: inputs.dtype, shape: [count, inputs.featureSize], data: bytes },
      { name: 'labels', dtype: 'U8', shape: [count], data: labels },
      ...(groupIndex ? [{ name: 'groups', dtype: 'U8' as const, shape: [count], data: groupIndex }] : []),
    ],
    {
      [SUITE_KEYS.format]: SUITE_FORMAT_VERSION,
      [SUITE_KEYS.id]: info.id,
      [SUITE_KEYS.name]: info.name,
      [SUITE_KEYS.family]: info.family,
      [SUITE_KEYS.task]: info.task,
      [SUITE_KEYS.perturbation]: info.perturbation,
      [SUITE_KEYS.description]: info.description,
      [SUITE_KEYS.scale]: String(info.scale),
      [SUITE_KEYS.classes]: String(info.classes),
      ...(info.baseline !== undefined ? { [SUITE_KEYS.baseline]: info.baseline } : {}),
      ...(info.groups !== undefined ? { [SUITE_KEYS.groups]: JSON.stringify(info.groups) } : {}),
    },
  );
}

/**
 * Read and validate a suite. With `expectedHash`, bytes whose SHA-256 differs are refused
 * before anything else is read.
 */
export function readSuite(bytes: Uint8Array, expectedHash?: Sha256Hex): Suite {
  const hash = sha256Hex(bytes);
  if (expectedHash !== undefined && hash !== expectedHash) {
    throw new SuiteError(
      `suite hash mismatch: the file hashes to ${hash} but the pin is ${expectedHash}; a frozen suite changes only through a ledgered re-baseline`,
    );
  }
  let parsed;
  try {
    parsed = parseSafetensors(bytes);
  } catch (e) {
    throw new SuiteError(`suite is not a valid safetensors file: ${(e as Error).message}`);
  }
  const m = parsed.metadata;
  const need = (k: string) => {
    const v = m[k];
    if (v === undefined || v === '') throw new SuiteError(`suite metadata is missing "${k}"`);
    return v;
  };
  if (need(SUITE_KEYS.format) !== SUITE_FORMAT_VERSION)
    throw new SuiteError(`suite format is "${m[SUITE_KEYS.format]}", expected "${SUITE_FORMAT_VERSION}"`);
  const task = need(SUITE_KEYS.task);
  if (!Object.prototype.hasOwnProperty.call(SUITE_TASKS, task))
    throw new SuiteError(`suite task "${task}" is unknown; valid: ${Object.keys(SUITE_TASKS).join(', ')}`);
  const classes = Number(need(SUITE_KEYS.classes));
  if (!Number.isInteger(classes) || classes < 1 || classes > 256)
    throw new SuiteError(`suite classes "${m[SUITE_KEYS.classes]}" is not an integer in 1..256`);
  const scale = Number(need(SUITE_KEYS.scale));
  if (!Number.isFinite(scale) || scale <= 0) throw new SuiteError(`suite scale "${m[SUITE_KEYS.scale]}" is not a positive number`);
  const inputs = parsed.tensors.find((t) => t.name === 'inputs');
  const labelsT = parsed.tensors.find((t) => t.name === 'labels');
  if (!inputs || !labelsT)
    throw new SuiteError(`suite must hold tensors "inputs" and "labels"; has: ${parsed.tensors.map((t) => t.name).join(', ')}`);
  const groupsT = parsed.tensors.find((t) => t.name === 'groups');
  if (parsed.tensors.length !== (groupsT ? 3 : 2))
    throw new SuiteError(
      `suite must hold exactly "inputs" and "labels" (and "groups" with declared groups); has: ${parsed.tensors.map((t) => t.name).join(', ')}`,
    );
  if (inputs.dtype !== 'U8' && inputs.dtype !== 'F32') throw new SuiteError(`suite inputs are ${inputs.dtype}; valid: U8, F32`);
  if (inputs.shape.length !== 2) throw new SuiteError(`suite inputs have shape [${inputs.shape}], expected [count, features]`);
  if (labelsT.dtype !== 'U8' || labelsT.shape.length !== 1)
    throw new SuiteError(`suite labels are ${labelsT.dtype}[${labelsT.shape}], expected U8[count]`);
  const [count, featureSize] = inputs.shape;
  if (labelsT.shape[0] !== count) throw new SuiteError(`suite has ${count} input rows but ${labelsT.shape[0]} labels`);
  if (count === 0) throw new SuiteError('suite is empty');
  for (let i = 0; i < count; i++)
    if (labelsT.data[i] >= classes) throw new SuiteError(`suite label ${labelsT.data[i]} at row ${i} is outside 0..${classes - 1}`);
  if (task === 'lm' && inputs.dtype !== 'U8') throw new SuiteError('an lm suite stores token ids as U8');
  let groups: string[] | undefined;
  if ((m[SUITE_KEYS.groups] === undefined) !== (groupsT === undefined))
    throw new SuiteError(`a suite's "groups" tensor and its "${SUITE_KEYS.groups}" names go together; this one has only one of them`);
  if (groupsT) {
    if (groupsT.dtype !== 'U8' || groupsT.shape.length !== 1 || groupsT.shape[0] !== count)
      throw new SuiteError(`suite groups are ${groupsT.dtype}[${groupsT.shape}], expected U8[${count}]`);
    try {
      groups = JSON.parse(m[SUITE_KEYS.groups]) as string[];
    } catch {
      throw new SuiteError(`suite "${SUITE_KEYS.groups}" is not JSON`);
    }
    if (!Array.isArray(groups)) throw new SuiteError(`suite "${SUITE_KEYS.groups}" is not a JSON array of names`);
    checkGroups(m[SUITE_KEYS.id] ?? '?', groups, groupsT.data, count);
  }
  return {
    id: need(SUITE_KEYS.id),
    name: m[SUITE_KEYS.name] ?? need(SUITE_KEYS.id),
    family: need(SUITE_KEYS.family),
    task: task as SuiteTask,
    perturbation: need(SUITE_KEYS.perturbation),
    ...(m[SUITE_KEYS.baseline] ? { baseline: m[SUITE_KEYS.baseline] } : {}),
    description: m[SUITE_KEYS.description] ?? '',
    classes,
    scale,
    hash,
    bytes: bytes.length,
    count,
    featureSize,
    inputs,
    labels: labelsT.data,
    ...(groupsT && groups ? { groups, groupIndex: groupsT.data } : {}),
  };
}

/** Model inputs for rows [start, end): stored values × scale, as float32. */
export function suiteRows(suite: Suite, start: number, end: number): Float32Array {
  if (start < 0 || end > suite.count || start > end)
    throw new SuiteError(`rows [${start}, ${end}) are outside suite "${suite.id}" of ${suite.count}`);
  const F = suite.featureSize;
  if (suite.inputs.dtype === 'U8') {
    const src = suite.inputs.data.subarray(start * F, end * F);
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i] * suite.scale;
    return out;
  }
  const all = toFloat32(suite.inputs);
  const out = all.slice(start * F, end * F);
  if (suite.scale !== 1) for (let i = 0; i < out.length; i++) out[i] *= suite.scale;
  return out;
}

// FormatError is re-exported so callers can tell a malformed file from a refused one.
export { FormatError };
