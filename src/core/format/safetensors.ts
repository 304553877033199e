/**
 * safetensors: 8-byte little-endian header length N, N bytes of JSON header, then raw
 * little-endian tensor bytes. Each header entry is {dtype, shape, data_offsets: [begin, end]}
 * relative to the byte after the header; "__metadata__" is an optional string → string map.
 *
 * The parser trusts nothing: every check failure throws a FormatError naming the check.
 * Writing is streaming-friendly: the header depends only on tensor specs (name, dtype, shape),
 * so data can follow one tensor at a time (see writeSafetensorsStream).
 */
import { FormatError } from './errors.ts';
import { FORBIDDEN_KEYS, MAX_JSON_DEPTH, findKeyProblem, nestsDeeper } from '../json-keys.ts';
import { DTYPES, byteLength, isDType, type DType, type Tensor } from '../tensor.ts';

/**
 * The largest header we accept: 16 MiB holds the header of any real checkpoint shard (tens of
 * thousands of tensors); safetensors' reference reader allows 100 MB, which here took 49 s and 2 GB.
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** More tensors than this in one file is refused before the header is parsed. */
export const MAX_TENSORS = 65_536;
/**
 * Deepest JSON nesting a header may have ({name: {shape: [dims]}} is 3 deep; 8 leaves room):
 * checked by a linear scan before JSON.parse, so 100k nested arrays cannot exhaust the stack.
 */
export const MAX_HEADER_DEPTH = 8;
/** A single dimension above this is refused as absurd (2^40 elements). */
export const MAX_DIMENSION = 2 ** 40;
/** More dimensions than this is refused as absurd. */
export const MAX_RANK = 32;
export { FORBIDDEN_KEYS };

export interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Byte offset of tensor data in the file: 8 + header length. */
  dataStart: number;
  metadata: Record<string, string>;
  /** Entries sorted by begin offset. */
  entries: HeaderEntry[];
}

/** What a header describes of one tensor; enough to write the header before any data. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Read the declared header length N from the first 8 bytes (checks only that 8 bytes exist). */
export function declaredHeaderLength(prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8)
    throw new FormatError('file-length', `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n === 0 || n > MAX_HEADER_BYTES)
    throw new FormatError('header-length', `declared header length ${n} is outside 1..${MAX_HEADER_BYTES}`);
  if (8 + n > fileSize)
    throw new FormatError('header-length', `declared header length ${n} runs past the end of the ${fileSize}-byte file`);
  return n;
}

/** Parse and check a header, given at least the first 8 + N bytes of the file and its total size. */
export function parseHeader(prefix: Uint8Array, fileSize: number): SafetensorsHeader {
  const n = declaredHeaderLength(prefix, fileSize);
  if (prefix.length < 8 + n) throw new FormatError('header-length', `need ${8 + n} bytes to read the header, got ${prefix.length}`);
  let text: string;
  try {
    text = decoder.decode(prefix.subarray(8, 8 + n));
  } catch {
    throw new FormatError('header-json', 'header is not valid UTF-8');
  }
  checkHeaderShape(text);
  const raw = parseStrictJson(text);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FormatError('header-json', 'header is not a JSON object');

  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(value);
      continue;
    }
    entries.push(checkEntry(name, value));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.begin < cursor)
      throw new FormatError(
        'overlap',
        `tensor ${JSON.stringify(e.name)} [${e.begin}, ${e.end}) overlaps the previous tensor ending at ${cursor}`,
      );
    if (e.begin > cursor)
      throw new FormatError('coverage', `gap of ${e.begin - cursor} bytes before tensor ${JSON.stringify(e.name)} at offset ${cursor}`);
    if (e.end > dataSize) {
      if (i === entries.length - 1) {
        throw new FormatError('file-length', `file is truncated: tensors need ${e.end} bytes of data, the file has ${dataSize}`);
      }
      throw new FormatError('offsets', `tensor ${JSON.stringify(e.name)} ends at ${e.end}, past the ${dataSize}-byte data section`);
    }
    cursor = e.end;
  }
  if (cursor !== dataSize) throw new FormatError('coverage', `tensors cover ${cursor} bytes but the data section is ${dataSize} bytes`);
  return { dataStart, metadata, entries };
}

/**
 * Before the header is parsed: its nesting depth and its number of top-level entries (tensors plus
 * __metadata__), by one pass over the text that skips strings. Each limit has its own refusal.
 */
export function checkHeaderShape(text: string, maxDepth = MAX_HEADER_DEPTH, maxEntries = MAX_TENSORS + 1): void {
  let depth = 0;
  let entries = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new FormatError('nesting', `header JSON nests deeper than ${maxDepth} levels`);
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      if (++entries >= maxEntries) throw new FormatError('tensor-count', `header has more than ${maxEntries - 1} tensors`);
    }
  }
}

function checkMetadata(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FormatError('metadata', '__metadata__ is not an object');
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new FormatError('metadata', `__metadata__.${JSON.stringify(k)} is not a string`);
    out[k] = v;
  }
  return out;
}

function checkEntry(name: string, value: unknown): HeaderEntry {
  if (name.length === 0) throw new FormatError('header-keys', 'empty tensor name');
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FormatError('header-keys', `entry ${JSON.stringify(name)} is not an object`);
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')
      throw new FormatError(
        'header-keys',
        `entry ${JSON.stringify(name)} has unknown key ${JSON.stringify(k)}; valid: dtype, shape, data_offsets`,
      );
  }
  const dtype = v.dtype;
  if (typeof dtype !== 'string' || !isDType(dtype))
    throw new FormatError(
      'dtype',
      `tensor ${JSON.stringify(name)} has dtype ${JSON.stringify(dtype ?? null)}; valid: ${Object.keys(DTYPES).join(', ')}`,
    );
  const shape = v.shape;
  if (!Array.isArray(shape)) throw new FormatError('shape', `tensor ${JSON.stringify(name)} has no shape array`);
  if (shape.length > MAX_RANK)
    throw new FormatError('dimension', `tensor ${JSON.stringify(name)} has ${shape.length} dimensions, more than ${MAX_RANK}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new FormatError('shape', `tensor ${JSON.stringify(name)} has a non-integer or negative dimension ${JSON.stringify(d)}`);
    if (d > MAX_DIMENSION) throw new FormatError('dimension', `tensor ${JSON.stringify(name)} declares an absurd dimension ${d}`);
  }
  const offs = v.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
    throw new FormatError('offsets', `tensor ${JSON.stringify(name)} data_offsets must be two non-negative integers`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) throw new FormatError('offsets', `tensor ${JSON.stringify(name)} ends (${end}) before it begins (${begin})`);
  const expected = byteLength(dtype, shape as number[]);
  if (!Number.isSafeInteger(expected) || expected > MAX_DIMENSION)
    throw new FormatError('dimension', `tensor ${JSON.stringify(name)} shape [${shape}] is absurdly large`);
  if (end - begin !== expected)
    throw new FormatError('size', `tensor ${JSON.stringify(name)} is ${end - begin} bytes but ${dtype}[${shape}] needs ${expected}`);
  return { name, dtype, shape: [...(shape as number[])], begin, end };
}

/** JSON.parse, but duplicate keys and prototype-polluting keys are refused (check 'header-json'). */
export function parseStrictJson(text: string, check: 'header-json' | 'index' | 'json-keys' = 'header-json'): unknown {
  // config.json, the index, tokenizer files: nested 100k deep they overflowed a reader's stack (HF-folder fuzz)
  if (nestsDeeper(text)) throw new FormatError('nesting', `JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FormatError(check, `invalid JSON (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  const bad = findKeyProblem(text);
  if (bad !== null)
    throw new FormatError(
      check,
      `${bad.problem === 'duplicate' ? 'duplicate' : 'forbidden'} key ${JSON.stringify(bad.key)}${bad.path === '$' ? '' : ` at ${bad.path}`}`,
    );
  return value;
}

/** Parse a whole in-memory safetensors file. Tensor data are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array): { metadata: Record<string, string>; tensors: Tensor[] } {
  const header = parseHeader(bytes, bytes.length);
  const tensors = header.entries.map((e) => ({
    name: e.name,
    dtype: e.dtype,
    shape: e.shape,
    data: bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end),
  }));
  return { metadata: header.metadata, tensors };
}

export function compareNames(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The header bytes (8-byte length + JSON padded with spaces to a multiple of 8) for tensors
 * written in name order, and the data size that follows. Depends only on specs, never on data.
 */
export function encodeHeader(
  specs: readonly TensorSpec[],
  metadata: Record<string, string> = {},
): { header: Uint8Array; order: TensorSpec[]; dataSize: number } {
  const order = [...specs].sort(compareNames);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = sortedObject(metadata);
  let offset = 0;
  for (const t of order) {
    if (t.name.length === 0) throw new FormatError('header-keys', 'empty tensor name');
    if (t.name === '__metadata__' || (FORBIDDEN_KEYS as readonly string[]).includes(t.name))
      throw new FormatError('header-keys', `tensor name ${JSON.stringify(t.name)} is reserved`);
    if (Object.prototype.hasOwnProperty.call(header, t.name))
      throw new FormatError('header-keys', `duplicate tensor name ${JSON.stringify(t.name)}`);
    if (!isDType(t.dtype))
      throw new FormatError(
        'dtype',
        `tensor ${JSON.stringify(t.name)} has dtype ${JSON.stringify(t.dtype)}; valid: ${Object.keys(DTYPES).join(', ')}`,
      );
    const size = byteLength(t.dtype, t.shape);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = encoder.encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  return { header: out, order, dataSize: offset };
}

/**
 * Serialize tensors (sorted by name, so equal models give equal bytes). The header is padded
 * with spaces to a multiple of 8 bytes, as the reference writer does, so data stays aligned.
 */
export function serializeSafetensors(tensors: readonly Tensor[], metadata: Record<string, string> = {}): Uint8Array {
  for (const t of tensors) checkTensorSize(t);
  const { header, order, dataSize } = encodeHeader(tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Uint8Array(header.length + dataSize);
  out.set(header);
  let pos = header.length;
  for (const s of order) {
    const t = byName.get(s.name)!;
    out.set(t.data, pos);
    pos += t.data.length;
  }
  return out;
}

export function checkTensorSize(t: Tensor): void {
  const size = byteLength(t.dtype, t.shape);
  if (t.data.length !== size)
    throw new FormatError('size', `tensor ${JSON.stringify(t.name)} has ${t.data.length} bytes but ${t.dtype}[${t.shape}] needs ${size}`);
}

/**
 * Stream a safetensors file: yields the header, then each tensor's bytes in header order,
 * asking `read` for one tensor at a time (never the whole model at once).
 */
export async function* writeSafetensorsStream(
  specs: readonly TensorSpec[],
  read: (name: string) => Promise<Uint8Array> | Uint8Array,
  metadata: Record<string, string> = {},
): AsyncGenerator<Uint8Array> {
  const { header, order } = encodeHeader(specs, metadata);
  yield header;
  for (const s of order) {
    const data = await read(s.name);
    checkTensorSize({ ...s, data });
    yield data;
  }
}

/**
 * writeSafetensorsStream with each tensor read by byte range (`readRange(name, offset, length)`),
 * `chunkBytes` at a time: the same bytes, and no tensor is ever held whole.
 */
export async function* writeSafetensorsRanges(
  specs: readonly TensorSpec[],
  readRange: (name: string, offset: number, length: number) => Promise<Uint8Array>,
  metadata: Record<string, string> = {},
  chunkBytes: number,
): AsyncGenerator<Uint8Array> {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new Error(`chunk size must be a positive integer, got ${chunkBytes}`);
  const { header, order } = encodeHeader(specs, metadata);
  yield header;
  for (const s of order) {
    const size = byteLength(s.dtype, s.shape);
    for (let at = 0; at < size; at += chunkBytes) {
      const want = Math.min(chunkBytes, size - at);
      const bytes = await readRange(s.name, at, want);
      if (bytes.length !== want)
        throw new FormatError('size', `tensor ${JSON.stringify(s.name)}: read ${bytes.length} bytes at ${at}, expected ${want}`);
      yield bytes;
    }
  }
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  const r: Record<string, string> = {};
  for (const k of Object.keys(o).sort()) r[k] = o[k];
  return r;
}
