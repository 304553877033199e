/**
 * The `.slm` format: a safetensors file whose __metadata__ carries the garden's keys. Any
 * safetensors reader reads the weights; the garden also reads its format version, species,
 * shard index/count, the manifest hash it is bound to, and (when written by the garden) the
 * species graph hash and vocabulary so the species can be recomputed and checked.
 *
 * Large models are split into shards (each ≤ DEFAULT_MAX_SHARD_BYTES unless one tensor alone is
 * larger); writing streams one tensor at a time, reading parses headers and reads by offset.
 */
import { FormatError } from './errors.ts';
import {
  compareNames,
  encodeHeader,
  parseSafetensors,
  serializeSafetensors,
  writeSafetensorsStream,
  type TensorSpec,
} from './safetensors.ts';
import { openSafetensors, type SafetensorsReader } from './reader.ts';
import { checkHash, hashSource, type ByteSource } from './source.ts';
import { hashJson, sha256Hex, sha256Stream, type Sha256Hex } from '../hash.ts';
import type { DType, Tensor } from '../tensor.ts';

export const SLM_FORMAT_VERSION = '1';

/** The garden's __metadata__ keys. */
export const SLM_KEYS = Object.freeze({
  format: 'slm.format',
  species: 'slm.species',
  shard: 'slm.shard',
  shards: 'slm.shards',
  manifest: 'slm.manifest',
  /** SHA-256 of the species graph (weights stripped); '' when the model has none. */
  graph: 'slm.graph',
  /** The vocabulary / label set as a JSON array of strings. */
  vocabulary: 'slm.vocabulary',
  /**
   * The content hash of every tensor of the file: a JSON object tensor name → SHA-256 of its bytes
   * (keys sorted). Written by every garden writer; checked on every read. A file without it (written
   * before it existed) is read as before, its tensors unverified, and gets it when written again.
   */
  tensors: 'slm.tensors',
} as const);

/** 64 MiB: the largest shard the garden writes by default. */
export const DEFAULT_MAX_SHARD_BYTES = 64 * 1024 * 1024;

/** What must match for direct-parameter operators (blend, TIES, crossover…). */
export interface SpeciesSignature {
  tensors: { name: string; dtype: DType; shape: number[] }[];
  /** SHA-256 of the inference graph with its weights stripped ('' when the model has none). */
  graph: Sha256Hex;
  /** The label set or tokenizer vocabulary, in order. */
  vocabulary: string[];
}

export function speciesSignature(tensors: readonly TensorSpec[], graph: Sha256Hex, vocabulary: string[]): SpeciesSignature {
  return {
    tensors: [...tensors].map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })).sort(compareNames),
    graph,
    vocabulary,
  };
}

export function speciesId(sig: SpeciesSignature): Sha256Hex {
  return hashJson({ kind: 'species', ...sig });
}

export interface SlmFile {
  metadata: Record<string, string>;
  tensors: Tensor[];
  species: Sha256Hex;
  shard: number;
  shards: number;
  /** SHA-256 of the file's bytes. */
  hash: Sha256Hex;
}

export interface SlmWriteOptions {
  species: Sha256Hex;
  manifest?: Sha256Hex;
  shard?: number;
  shards?: number;
  /** Species graph hash, recorded so readers can recompute the species. */
  graph?: Sha256Hex;
  vocabulary?: string[];
  extra?: Record<string, string>;
}

/** The `slm.tensors` value: tensor name → SHA-256, keys sorted, as JSON. */
export function contentHashesJson(hashes: ReadonlyMap<string, Sha256Hex> | Record<string, Sha256Hex>): string {
  const entries = hashes instanceof Map ? [...hashes] : Object.entries(hashes);
  const o: Record<string, Sha256Hex> = {};
  for (const [k, v] of entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) o[k] = v;
  return JSON.stringify(o);
}

function slmMetadata(
  opts: SlmWriteOptions,
  shard: number,
  shards: number,
  hashes?: ReadonlyMap<string, Sha256Hex>,
): Record<string, string> {
  for (const k of Object.keys(opts.extra ?? {})) {
    if (k.startsWith('slm.')) throw new FormatError('metadata', `extra metadata key ${JSON.stringify(k)} uses the reserved "slm." prefix`);
  }
  const metadata: Record<string, string> = {
    ...opts.extra,
    [SLM_KEYS.format]: SLM_FORMAT_VERSION,
    [SLM_KEYS.species]: opts.species,
    [SLM_KEYS.shard]: String(shard),
    [SLM_KEYS.shards]: String(shards),
  };
  if (opts.manifest) metadata[SLM_KEYS.manifest] = opts.manifest;
  if (opts.graph !== undefined) metadata[SLM_KEYS.graph] = opts.graph;
  if (opts.vocabulary !== undefined) metadata[SLM_KEYS.vocabulary] = JSON.stringify(opts.vocabulary);
  if (hashes) metadata[SLM_KEYS.tensors] = contentHashesJson(hashes);
  return metadata;
}

/**
 * Write one `.slm` file in memory (a single shard unless opts.shard/shards say otherwise). The one
 * writer of `.slm` bytes: it records the content hash of every tensor (slm.tensors).
 */
export function writeSlm(tensors: readonly Tensor[], opts: SlmWriteOptions): Uint8Array {
  const hashes = new Map(tensors.map((t) => [t.name, sha256Hex(t.data)]));
  return serializeSafetensors(tensors, slmMetadata(opts, opts.shard ?? 0, opts.shards ?? 1, hashes));
}

/** The garden keys of a `.slm` header, checked. */
export interface SlmInfo {
  species: Sha256Hex;
  shard: number;
  shards: number;
  manifest?: Sha256Hex;
  graph?: Sha256Hex;
  vocabulary?: string[];
  /** Tensor name → SHA-256 of its bytes, when the file records them (slm.tensors). */
  tensorHashes?: Map<string, Sha256Hex>;
}

const HEX64 = /^[0-9a-f]{64}$/;
const COUNT = /^(0|[1-9][0-9]{0,5})$/;
const KNOWN_SLM_KEYS = new Set<string>(Object.values(SLM_KEYS));

/** Check a header's garden keys; a plain safetensors file (no slm.format) is refused here. */
export function checkSlmMetadata(metadata: Record<string, string>): SlmInfo {
  const format = metadata[SLM_KEYS.format];
  if (format !== SLM_FORMAT_VERSION)
    throw new FormatError('metadata', `${SLM_KEYS.format} is ${JSON.stringify(format ?? null)}, expected "${SLM_FORMAT_VERSION}"`);
  for (const k of Object.keys(metadata)) {
    if (k.startsWith('slm.') && !KNOWN_SLM_KEYS.has(k))
      throw new FormatError('metadata', `unknown garden key ${JSON.stringify(k)}; valid: ${[...KNOWN_SLM_KEYS].join(', ')}`);
  }
  const species = metadata[SLM_KEYS.species];
  if (!species || !HEX64.test(species)) throw new FormatError('metadata', `${SLM_KEYS.species} is not a SHA-256 hex string`);
  const shardText = metadata[SLM_KEYS.shard];
  const shardsText = metadata[SLM_KEYS.shards];
  if (!COUNT.test(shardText ?? '') || !COUNT.test(shardsText ?? '') || Number(shardsText) < 1 || Number(shardText) >= Number(shardsText)) {
    throw new FormatError(
      'metadata',
      `shard ${JSON.stringify(shardText ?? null)} of ${JSON.stringify(shardsText ?? null)} is not a valid shard index/count`,
    );
  }
  const info: SlmInfo = { species, shard: Number(shardText), shards: Number(shardsText) };
  const manifest = metadata[SLM_KEYS.manifest];
  if (manifest !== undefined) {
    if (!HEX64.test(manifest)) throw new FormatError('metadata', `${SLM_KEYS.manifest} is not a SHA-256 hex string`);
    info.manifest = manifest;
  }
  const graph = metadata[SLM_KEYS.graph];
  if (graph !== undefined) {
    if (graph !== '' && !HEX64.test(graph))
      throw new FormatError('metadata', `${SLM_KEYS.graph} is neither empty nor a SHA-256 hex string`);
    info.graph = graph;
  }
  const vocab = metadata[SLM_KEYS.vocabulary];
  if (vocab !== undefined) {
    let v: unknown;
    try {
      v = JSON.parse(vocab);
    } catch {
      throw new FormatError('metadata', `${SLM_KEYS.vocabulary} is not valid JSON`);
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      throw new FormatError('metadata', `${SLM_KEYS.vocabulary} is not a JSON array of strings`);
    info.vocabulary = v as string[];
  }
  if ((info.graph === undefined) !== (info.vocabulary === undefined)) {
    throw new FormatError(
      'species',
      `${info.graph === undefined ? SLM_KEYS.vocabulary : SLM_KEYS.graph} is recorded without ${info.graph === undefined ? SLM_KEYS.graph : SLM_KEYS.vocabulary}: a species is bound to both or to neither`,
    );
  }
  const content = metadata[SLM_KEYS.tensors];
  if (content !== undefined) {
    let v: unknown;
    try {
      v = JSON.parse(content);
    } catch {
      throw new FormatError('metadata', `${SLM_KEYS.tensors} is not valid JSON`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw new FormatError('metadata', `${SLM_KEYS.tensors} is not a JSON object`);
    const m = new Map<string, Sha256Hex>();
    for (const [k, h] of Object.entries(v as Record<string, unknown>)) {
      if (typeof h !== 'string' || !HEX64.test(h))
        throw new FormatError('metadata', `${SLM_KEYS.tensors}[${JSON.stringify(k)}] is not a SHA-256 hex string`);
      m.set(k, h);
    }
    info.tensorHashes = m;
  }
  return info;
}

/** The recorded content hashes name exactly the tensors of the file (or shard). */
function checkContentNames(info: SlmInfo, tensors: readonly { name: string }[], what = 'the file'): void {
  const m = info.tensorHashes;
  if (!m) return;
  for (const t of tensors)
    if (!m.has(t.name))
      throw new FormatError('content-hash', `${SLM_KEYS.tensors} records no hash for tensor ${JSON.stringify(t.name)} of ${what}`);
  if (m.size !== tensors.length) {
    const names = new Set(tensors.map((t) => t.name));
    const extra = [...m.keys()].find((k) => !names.has(k));
    throw new FormatError('content-hash', `${SLM_KEYS.tensors} records tensor ${JSON.stringify(extra)}, which ${what} does not hold`);
  }
}

/** One tensor's bytes against its recorded content hash. */
function checkContent(info: SlmInfo, t: { name: string; data: Uint8Array }): void {
  const want = info.tensorHashes?.get(t.name);
  if (want === undefined) return;
  const actual = sha256Hex(t.data);
  if (actual !== want)
    throw new FormatError(
      'content-hash',
      `tensor ${JSON.stringify(t.name)} hashes to ${actual} but ${SLM_KEYS.tensors} records ${want}: its bytes were changed`,
    );
}

/**
 * The species a set of tensors has under a graph and vocabulary, against the one a file claims:
 * for callers that know the family (catalog) of a file that records no graph/vocabulary itself.
 */
export function checkClaimedSpecies(
  claimed: Sha256Hex,
  tensors: readonly TensorSpec[],
  graph: Sha256Hex,
  vocabulary: readonly string[],
  what = 'the model',
): void {
  const actual = speciesId(speciesSignature(tensors, graph, [...vocabulary]));
  if (actual !== claimed)
    throw new FormatError(
      'species',
      `${what} claims species ${claimed} but its tensors, with the family's graph and vocabulary, give ${actual}`,
    );
}

/** When a header records graph and vocabulary, the species must be recomputable from it. */
function checkSpecies(info: SlmInfo, tensors: readonly TensorSpec[]): void {
  if (info.graph === undefined || info.vocabulary === undefined) return;
  const actual = speciesId(speciesSignature(tensors, info.graph, info.vocabulary));
  if (actual !== info.species)
    throw new FormatError('species', `${SLM_KEYS.species} is ${info.species} but the tensors, graph and vocabulary give ${actual}`);
}

/** Read a `.slm` file; plain safetensors files are refused here (import them instead). */
export function readSlm(bytes: Uint8Array, opts: { expectedHash?: Sha256Hex } = {}): SlmFile {
  const { metadata, tensors } = parseSafetensors(bytes);
  const info = checkSlmMetadata(metadata);
  if (info.shards === 1) checkSpecies(info, tensors);
  checkContentNames(info, tensors);
  for (const t of tensors) checkContent(info, t);
  const hash = sha256Hex(bytes);
  checkHash(hash, opts.expectedHash, 'the .slm file');
  return { metadata, tensors, species: info.species, shard: info.shard, shards: info.shards, hash };
}

/* ------------------------------------------------------------------ sharding */

/** `name.slm` for one shard, `name-00001-of-00003.slm` for several (1-based, as Hugging Face does). */
export function shardFileName(base: string, shard: number, shards: number, ext = '.slm'): string {
  if (shards === 1) return `${base}${ext}`;
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${base}-${pad(shard + 1)}-of-${pad(shards)}${ext}`;
}

/** Split specs (in name order) into shards whose files stay ≤ maxShardBytes (one oversize tensor gets its own). */
export function planShards(
  specs: readonly TensorSpec[],
  maxShardBytes = DEFAULT_MAX_SHARD_BYTES,
  metadataBytes = 1024,
  metadataPerTensor: (s: TensorSpec) => number = () => 0,
): TensorSpec[][] {
  if (!(maxShardBytes > 0)) throw new FormatError('shards', `shard size limit ${maxShardBytes} must be positive`);
  const order = [...specs].sort(compareNames);
  const shards: TensorSpec[][] = [];
  let cur: TensorSpec[] = [];
  let used = 8 + metadataBytes;
  for (const s of order) {
    const { header, dataSize } = encodeHeader([s]);
    const cost = header.length - 8 + dataSize + metadataPerTensor(s);
    if (cur.length > 0 && used + cost > maxShardBytes) {
      shards.push(cur);
      cur = [];
      used = 8 + metadataBytes;
    }
    cur.push(s);
    used += cost;
  }
  if (cur.length > 0 || shards.length === 0) shards.push(cur);
  return shards;
}

/** A model as specs plus a reader: the streaming writer asks for one tensor at a time. */
export interface ModelTensors {
  tensors: readonly TensorSpec[];
  read(name: string): Promise<Uint8Array> | Uint8Array;
}

export interface SlmStreamOptions extends Omit<SlmWriteOptions, 'shard' | 'shards'> {
  maxShardBytes?: number;
  /** The SHA-256 of every tensor, when the caller has them already; else each tensor is read once more to hash it. */
  contentHashes?: ReadonlyMap<string, Sha256Hex>;
}

/** Bytes one tensor's entry adds to slm.tensors (a JSON string inside the JSON header). */
const contentEntryBytes = (s: TensorSpec) => JSON.stringify(JSON.stringify(s.name)).length + 64 + 8;

/** One piece of a streamed `.slm` write: bytes to append to shard `shard` of `shards`. */
export interface SlmChunk {
  shard: number;
  shards: number;
  bytes: Uint8Array;
}

/** Stream a model into `.slm` shards, one tensor in memory at a time; shards come in order. */
export async function* writeSlmStream(model: ModelTensors, opts: SlmStreamOptions): AsyncGenerator<SlmChunk> {
  const { contentHashes, maxShardBytes, ...writeOpts } = opts;
  const metaBytes = JSON.stringify(slmMetadata(writeOpts, 99999, 99999, new Map())).length + 64;
  const plan = planShards(model.tensors, maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES, metaBytes, contentEntryBytes);
  for (let shard = 0; shard < plan.length; shard++) {
    // The header records every tensor's hash before any data: from the caller, or one reading pass.
    const hashes = new Map<string, Sha256Hex>();
    for (const t of plan[shard]) hashes.set(t.name, contentHashes?.get(t.name) ?? sha256Hex(await model.read(t.name)));
    const read = async (name: string) => {
      const data = await model.read(name);
      if (contentHashes) checkContent({ tensorHashes: hashes } as SlmInfo, { name, data });
      return data;
    };
    for await (const bytes of writeSafetensorsStream(plan[shard], read, slmMetadata(writeOpts, shard, plan.length, hashes))) {
      yield { shard, shards: plan.length, bytes };
    }
  }
}

/** Collect a streamed write into in-memory shard files with their SHA-256. */
export async function writeSlmShards(model: ModelTensors, opts: SlmStreamOptions): Promise<{ bytes: Uint8Array; hash: Sha256Hex }[]> {
  const parts: Uint8Array[][] = [];
  for await (const c of writeSlmStream(model, opts)) (parts[c.shard] ??= []).push(c.bytes);
  return parts.map((p) => {
    const size = p.reduce((s, b) => s + b.length, 0);
    const bytes = new Uint8Array(size);
    let o = 0;
    const h = sha256Stream();
    for (const b of p) {
      bytes.set(b, o);
      o += b.length;
      h.update(b);
    }
    return { bytes, hash: h.digestHex() };
  });
}

/** An opened (possibly sharded) `.slm` model: headers parsed, tensors read on demand. */
export interface SlmModel extends ModelTensors {
  species: Sha256Hex;
  shards: number;
  info: SlmInfo;
  /** Metadata of shard 0 (all shards agree on the garden keys). */
  metadata: Record<string, string>;
  tensors: TensorSpec[];
  read(name: string): Promise<Uint8Array>;
  readTensor(name: string): Promise<Tensor>;
  /** Which shard holds a tensor. */
  shardOf(name: string): number;
  /** SHA-256 of each shard file, in shard order (reads every byte once). */
  shardHashes(): Promise<Sha256Hex[]>;
}

/**
 * Open a `.slm` model from its shard files (any order). Checks: every header, the garden keys,
 * one shard of each index 0..n-1, agreement on species/manifest/graph/vocabulary, no tensor in two
 * shards, the species against tensors+graph+vocabulary when recorded, and expected shard hashes.
 */
export async function openSlm(
  sources: readonly ByteSource[],
  opts: { /** SHA-256 of each shard, in shard-index order. */ expectedHashes?: Sha256Hex[] } = {},
): Promise<SlmModel> {
  if (sources.length === 0) throw new FormatError('shards', 'no shard files given');
  const readers: SafetensorsReader[] = [];
  const infos: SlmInfo[] = [];
  for (const s of sources) {
    const r = await openSafetensors(s);
    readers.push(r);
    infos.push(checkSlmMetadata(r.metadata));
  }
  const first = infos[0];
  if (first.shards !== sources.length)
    throw new FormatError('shards', `the model has ${first.shards} shards but ${sources.length} files were given`);
  const byIndex: SafetensorsReader[] = new Array(first.shards);
  const infoByIndex: SlmInfo[] = new Array(first.shards);
  for (let i = 0; i < readers.length; i++) {
    const info = infos[i];
    for (const k of ['species', 'shards', 'manifest', 'graph'] as const) {
      if (info[k] !== first[k])
        throw new FormatError(
          'shards',
          `shard files disagree on ${k}: ${JSON.stringify(first[k] ?? null)} vs ${JSON.stringify(info[k] ?? null)}`,
        );
    }
    if (JSON.stringify(info.vocabulary ?? null) !== JSON.stringify(first.vocabulary ?? null))
      throw new FormatError('shards', 'shard files disagree on the vocabulary');
    if (byIndex[info.shard]) throw new FormatError('shards', `shard ${info.shard} is given twice`);
    byIndex[info.shard] = readers[i];
    infoByIndex[info.shard] = info;
  }
  const where = new Map<string, number>();
  const tensors: TensorSpec[] = [];
  byIndex.forEach((r, shard) => {
    checkContentNames(infoByIndex[shard], r.tensors, `shard ${shard}`);
    for (const t of r.tensors) {
      if (where.has(t.name))
        throw new FormatError('shards', `tensor ${JSON.stringify(t.name)} is in shards ${where.get(t.name)} and ${shard}`);
      where.set(t.name, shard);
      tensors.push(t);
    }
  });
  tensors.sort(compareNames);
  checkSpecies(first, tensors);
  const shardHashes = async () => Promise.all(byIndex.map((r) => hashSource(r.source)));
  if (opts.expectedHashes) {
    if (opts.expectedHashes.length !== byIndex.length)
      throw new FormatError('hash', `${opts.expectedHashes.length} expected hashes for ${byIndex.length} shards`);
    const actual = await shardHashes();
    actual.forEach((h, i) => checkHash(h, opts.expectedHashes![i], `shard ${i}`));
  }
  const shardOf = (name: string) => {
    const s = where.get(name);
    if (s === undefined) throw new FormatError('header-keys', `no tensor named ${JSON.stringify(name)}`);
    return s;
  };
  // Every read is checked against the content hash its shard records.
  const readTensor = async (name: string) => {
    const shard = shardOf(name);
    const t = await byIndex[shard].read(name);
    checkContent(infoByIndex[shard], t);
    return t;
  };
  return {
    species: first.species,
    shards: first.shards,
    info: { ...first, shard: 0 },
    metadata: byIndex[0].metadata,
    tensors,
    readTensor,
    read: async (name) => (await readTensor(name)).data,
    shardOf,
    shardHashes,
  };
}
