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
import { compareNames, encodeHeader, parseSafetensors, serializeSafetensors, writeSafetensorsStream, type TensorSpec } from './safetensors.ts';
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

function slmMetadata(opts: SlmWriteOptions, shard: number, shards: number): Record<string, string> {
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
  return metadata;
}

/** Write one `.slm` file in memory (a single shard unless opts.shard/shards say otherwise). */
export function writeSlm(tensors: readonly Tensor[], opts: SlmWriteOptions): Uint8Array {
  return serializeSafetensors(tensors, slmMetadata(opts, opts.shard ?? 0, opts.shards ?? 1));
}

/** The garden keys of a `.slm` header, checked. */
export interface SlmInfo {
  species: Sha256Hex;
  shard: number;
  shards: number;
  manifest?: Sha256Hex;
  graph?: Sha256Hex;
  vocabulary?: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;
const COUNT = /^(0|[1-9][0-9]{0,5})$/;
const KNOWN_SLM_KEYS = new Set<string>(Object.values(SLM_KEYS));

/** Check a header's garden keys; a plain safetensors file (no slm.format) is refused here. */
export function checkSlmMetadata(metadata: Record<string, string>): SlmInfo {
  const format = metadata[SLM_KEYS.format];
  if (format !== SLM_FORMAT_VERSION) throw new FormatError('metadata', `${SLM_KEYS.format} is ${JSON.stringify(format ?? null)}, expected "${SLM_FORMAT_VERSION}"`);
  for (const k of Object.keys(metadata)) {
    if (k.startsWith('slm.') && !KNOWN_SLM_KEYS.has(k)) throw new FormatError('metadata', `unknown garden key ${JSON.stringify(k)}; valid: ${[...KNOWN_SLM_KEYS].join(', ')}`);
  }
  const species = metadata[SLM_KEYS.species];
  if (!species || !HEX64.test(species)) throw new FormatError('metadata', `${SLM_KEYS.species} is not a SHA-256 hex string`);
  const shardText = metadata[SLM_KEYS.shard];
  const shardsText = metadata[SLM_KEYS.shards];
  if (!COUNT.test(shardText ?? '') || !COUNT.test(shardsText ?? '') || Number(shardsText) < 1 || Number(shardText) >= Number(shardsText)) {
    throw new FormatError('metadata', `shard ${JSON.stringify(shardText ?? null)} of ${JSON.stringify(shardsText ?? null)} is not a valid shard index/count`);
  }
  const info: SlmInfo = { species, shard: Number(shardText), shards: Number(shardsText) };
  const manifest = metadata[SLM_KEYS.manifest];
  if (manifest !== undefined) {
    if (!HEX64.test(manifest)) throw new FormatError('metadata', `${SLM_KEYS.manifest} is not a SHA-256 hex string`);
    info.manifest = manifest;
  }
  const graph = metadata[SLM_KEYS.graph];
  if (graph !== undefined) {
    if (graph !== '' && !HEX64.test(graph)) throw new FormatError('metadata', `${SLM_KEYS.graph} is neither empty nor a SHA-256 hex string`);
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
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new FormatError('metadata', `${SLM_KEYS.vocabulary} is not a JSON array of strings`);
    info.vocabulary = v as string[];
  }
  return info;
}

/** When a header records graph and vocabulary, the species must be recomputable from it. */
function checkSpecies(info: SlmInfo, tensors: readonly TensorSpec[]): void {
  if (info.graph === undefined || info.vocabulary === undefined) return;
  const actual = speciesId(speciesSignature(tensors, info.graph, info.vocabulary));
  if (actual !== info.species) throw new FormatError('species', `${SLM_KEYS.species} is ${info.species} but the tensors, graph and vocabulary give ${actual}`);
}

/** Read a `.slm` file; plain safetensors files are refused here (import them instead). */
export function readSlm(bytes: Uint8Array, opts: { expectedHash?: Sha256Hex } = {}): SlmFile {
  const { metadata, tensors } = parseSafetensors(bytes);
  const info = checkSlmMetadata(metadata);
  if (info.shards === 1) checkSpecies(info, tensors);
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
export function planShards(specs: readonly TensorSpec[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES, metadataBytes = 1024): TensorSpec[][] {
  if (!(maxShardBytes > 0)) throw new FormatError('shards', `shard size limit ${maxShardBytes} must be positive`);
  const order = [...specs].sort(compareNames);
  const shards: TensorSpec[][] = [];
  let cur: TensorSpec[] = [];
  let used = 8 + metadataBytes;
  for (const s of order) {
    const { header, dataSize } = encodeHeader([s]);
    const cost = header.length - 8 + dataSize;
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
}

/** One piece of a streamed `.slm` write: bytes to append to shard `shard` of `shards`. */
export interface SlmChunk {
  shard: number;
  shards: number;
  bytes: Uint8Array;
}

/** Stream a model into `.slm` shards, one tensor in memory at a time; shards come in order. */
export async function* writeSlmStream(model: ModelTensors, opts: SlmStreamOptions): AsyncGenerator<SlmChunk> {
  const metaBytes = JSON.stringify(slmMetadata(opts, 99999, 99999)).length + 64;
  const plan = planShards(model.tensors, opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES, metaBytes);
  for (let shard = 0; shard < plan.length; shard++) {
    for await (const bytes of writeSafetensorsStream(plan[shard], model.read, slmMetadata(opts, shard, plan.length))) {
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
export async function openSlm(sources: readonly ByteSource[], opts: { /** SHA-256 of each shard, in shard-index order. */ expectedHashes?: Sha256Hex[] } = {}): Promise<SlmModel> {
  if (sources.length === 0) throw new FormatError('shards', 'no shard files given');
  const readers: SafetensorsReader[] = [];
  const infos: SlmInfo[] = [];
  for (const s of sources) {
    const r = await openSafetensors(s);
    readers.push(r);
    infos.push(checkSlmMetadata(r.metadata));
  }
  const first = infos[0];
  if (first.shards !== sources.length) throw new FormatError('shards', `the model has ${first.shards} shards but ${sources.length} files were given`);
  const byIndex: SafetensorsReader[] = new Array(first.shards);
  const infoByIndex: SlmInfo[] = new Array(first.shards);
  for (let i = 0; i < readers.length; i++) {
    const info = infos[i];
    for (const k of ['species', 'shards', 'manifest', 'graph'] as const) {
      if (info[k] !== first[k]) throw new FormatError('shards', `shard files disagree on ${k}: ${JSON.stringify(first[k] ?? null)} vs ${JSON.stringify(info[k] ?? null)}`);
    }
    if (JSON.stringify(info.vocabulary ?? null) !== JSON.stringify(first.vocabulary ?? null)) throw new FormatError('shards', 'shard files disagree on the vocabulary');
    if (byIndex[info.shard]) throw new FormatError('shards', `shard ${info.shard} is given twice`);
    byIndex[info.shard] = readers[i];
    infoByIndex[info.shard] = info;
  }
  const where = new Map<string, number>();
  const tensors: TensorSpec[] = [];
  byIndex.forEach((r, shard) => {
    for (const t of r.tensors) {
      if (where.has(t.name)) throw new FormatError('shards', `tensor ${JSON.stringify(t.name)} is in shards ${where.get(t.name)} and ${shard}`);
      where.set(t.name, shard);
      tensors.push(t);
    }
  });
  tensors.sort(compareNames);
  checkSpecies(first, tensors);
  const shardHashes = async () => Promise.all(byIndex.map((r) => hashSource(r.source)));
  if (opts.expectedHashes) {
    if (opts.expectedHashes.length !== byIndex.length) throw new FormatError('hash', `${opts.expectedHashes.length} expected hashes for ${byIndex.length} shards`);
    const actual = await shardHashes();
    actual.forEach((h, i) => checkHash(h, opts.expectedHashes![i], `shard ${i}`));
  }
  const shardOf = (name: string) => {
    const s = where.get(name);
    if (s === undefined) throw new FormatError('header-keys', `no tensor named ${JSON.stringify(name)}`);
    return s;
  };
  const readTensor = (name: string) => byIndex[shardOf(name)].read(name);
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
