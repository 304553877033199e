/**
 * Hugging Face sharded safetensors: `model.safetensors.index.json` maps every tensor name to the
 * shard file that holds it ({"metadata": {"total_size": N}, "weight_map": {name: file}}).
 */
import { FormatError } from './errors.ts';
import { checkKeys, decodeUtf8 } from './json.ts';
import { parseStrictJson, type TensorSpec } from './safetensors.ts';
import { openSafetensors, type SafetensorsReader } from './reader.ts';
import type { ByteSource } from './source.ts';
import type { Tensor } from '../tensor.ts';

export const HF_INDEX_FILE = 'model.safetensors.index.json';

export interface HfIndex {
  metadata: Record<string, string | number | boolean | null>;
  /** tensor name → shard file name */
  weightMap: Map<string, string>;
  /** Shard file names in first-appearance order of sorted tensor names. */
  files: string[];
}

/** A shard file name must be a plain file name: no directories, no traversal. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const SAFE_FILE = /^(?!\.\.?$)[^/\\\u0000-\u001f]{1,255}$/;

export function parseHfIndex(text: string | Uint8Array): HfIndex {
  const s = typeof text === 'string' ? text : decodeUtf8(text, 'index');
  const root = checkKeys(parseStrictJson(s, 'index'), { required: ['weight_map'], optional: ['metadata'] }, 'index', 'index');
  const metadata: HfIndex['metadata'] = {};
  if (root.metadata !== undefined) {
    const m = root.metadata;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new FormatError('index', 'index metadata is not an object');
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
        throw new FormatError('index', `index metadata.${JSON.stringify(k)} is not a string, number, boolean or null`);
      metadata[k] = v;
    }
    const total = metadata.total_size;
    if (total !== undefined && (typeof total !== 'number' || !Number.isSafeInteger(total) || total < 0))
      throw new FormatError('index', 'index metadata.total_size is not a non-negative integer');
  }
  const wm = root.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) throw new FormatError('index', 'weight_map is not an object');
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (name.length === 0) throw new FormatError('index', 'weight_map has an empty tensor name');
    if (typeof file !== 'string' || !SAFE_FILE.test(file))
      throw new FormatError('index', `weight_map[${JSON.stringify(name)}] is not a plain file name: ${JSON.stringify(file)}`);
    weightMap.set(name, file);
  }
  if (weightMap.size === 0) throw new FormatError('index', 'weight_map is empty');
  const files: string[] = [];
  for (const name of [...weightMap.keys()].sort()) {
    const f = weightMap.get(name)!;
    if (!files.includes(f)) files.push(f);
  }
  return { metadata, weightMap, files };
}

export interface ShardedSafetensors {
  index: HfIndex;
  tensors: TensorSpec[];
  /** Metadata of the shards' headers, merged (first shard wins). */
  metadata: Record<string, string>;
  read(name: string): Promise<Uint8Array>;
  readTensor(name: string): Promise<Tensor>;
}

/**
 * Open a sharded model: every shard named by the index is opened, and its tensors must be exactly
 * the ones the weight_map assigns to it (no missing, no extra, no tensor in two files).
 */
export async function openHfSharded(
  indexText: string | Uint8Array,
  open: (file: string) => Promise<ByteSource>,
): Promise<ShardedSafetensors> {
  const index = parseHfIndex(indexText);
  const readers = new Map<string, SafetensorsReader>();
  for (const f of index.files) readers.set(f, await openSafetensors(await open(f)));
  const tensors: TensorSpec[] = [];
  const metadata: Record<string, string> = {};
  for (const [file, r] of readers) {
    for (const t of r.tensors) {
      const mapped = index.weightMap.get(t.name);
      if (mapped === undefined)
        throw new FormatError(
          'index',
          `shard ${JSON.stringify(file)} holds tensor ${JSON.stringify(t.name)} that the weight_map does not list`,
        );
      if (mapped !== file)
        throw new FormatError(
          'index',
          `tensor ${JSON.stringify(t.name)} is in ${JSON.stringify(file)} but the weight_map says ${JSON.stringify(mapped)}`,
        );
      tensors.push(t);
    }
    for (const [k, v] of Object.entries(r.metadata)) if (!Object.prototype.hasOwnProperty.call(metadata, k)) metadata[k] = v;
  }
  if (tensors.length !== index.weightMap.size) {
    const have = new Set(tensors.map((t) => t.name));
    const missing = [...index.weightMap.keys()].find((n) => !have.has(n));
    throw new FormatError(
      'index',
      `tensor ${JSON.stringify(missing)} is in the weight_map but not in ${JSON.stringify(index.weightMap.get(missing!))}`,
    );
  }
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const readTensor = (name: string) => {
    const f = index.weightMap.get(name);
    if (f === undefined) throw new FormatError('header-keys', `no tensor named ${JSON.stringify(name)}`);
    return readers.get(f)!.read(name);
  };
  return { index, tensors, metadata, readTensor, read: async (n) => (await readTensor(n)).data };
}

/** Write the index JSON for a set of plain safetensors shards. */
export function writeHfIndex(shards: { file: string; tensors: readonly TensorSpec[]; dataSize: number }[]): string {
  const weight_map: Record<string, string> = {};
  let total = 0;
  for (const s of shards) {
    total += s.dataSize;
    for (const t of [...s.tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) weight_map[t.name] = s.file;
  }
  return JSON.stringify({ metadata: { total_size: total }, weight_map }, null, 2) + '\n';
}
