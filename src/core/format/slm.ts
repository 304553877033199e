/**
 * The `.slm` format: a safetensors file whose __metadata__ carries the garden's keys. Any
 * safetensors reader reads the weights; the garden also reads its format version, species,
 * shard index/count and the manifest hash it is bound to.
 */
import { FormatError } from './errors.ts';
import { parseSafetensors, serializeSafetensors } from './safetensors.ts';
import { hashJson, sha256Hex, type Sha256Hex } from '../hash.ts';
import type { DType, Tensor } from '../tensor.ts';

export const SLM_FORMAT_VERSION = '1';

/** The garden's __metadata__ keys. */
export const SLM_KEYS = Object.freeze({
  format: 'slm.format',
  species: 'slm.species',
  shard: 'slm.shard',
  shards: 'slm.shards',
  manifest: 'slm.manifest',
} as const);

/** What must match for direct-parameter operators (blend, TIES, crossover…). */
export interface SpeciesSignature {
  tensors: { name: string; dtype: DType; shape: number[] }[];
  /** SHA-256 of the inference graph with its weights stripped ('' when the model has none). */
  graph: Sha256Hex;
  /** The label set or tokenizer vocabulary, in order. */
  vocabulary: string[];
}

export function speciesSignature(tensors: readonly Tensor[], graph: Sha256Hex, vocabulary: string[]): SpeciesSignature {
  return {
    tensors: [...tensors]
      .map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
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
  extra?: Record<string, string>;
}

export function writeSlm(tensors: readonly Tensor[], opts: SlmWriteOptions): Uint8Array {
  const metadata: Record<string, string> = {
    ...opts.extra,
    [SLM_KEYS.format]: SLM_FORMAT_VERSION,
    [SLM_KEYS.species]: opts.species,
    [SLM_KEYS.shard]: String(opts.shard ?? 0),
    [SLM_KEYS.shards]: String(opts.shards ?? 1),
  };
  if (opts.manifest) metadata[SLM_KEYS.manifest] = opts.manifest;
  return serializeSafetensors(tensors, metadata);
}

/** Read a `.slm` file; plain safetensors files are refused here (import them instead). */
export function readSlm(bytes: Uint8Array): SlmFile {
  const { metadata, tensors } = parseSafetensors(bytes);
  const format = metadata[SLM_KEYS.format];
  if (format !== SLM_FORMAT_VERSION) throw new FormatError('metadata', `${SLM_KEYS.format} is ${JSON.stringify(format ?? null)}, expected "${SLM_FORMAT_VERSION}"`);
  const species = metadata[SLM_KEYS.species];
  if (!species || !/^[0-9a-f]{64}$/.test(species)) throw new FormatError('metadata', `${SLM_KEYS.species} is not a SHA-256 hex string`);
  const shard = Number(metadata[SLM_KEYS.shard]);
  const shards = Number(metadata[SLM_KEYS.shards]);
  if (!Number.isInteger(shards) || shards < 1 || !Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new FormatError('metadata', `shard ${metadata[SLM_KEYS.shard]} of ${metadata[SLM_KEYS.shards]} is not a valid shard index/count`);
  }
  return { metadata, tensors, species, shard, shards, hash: sha256Hex(bytes) };
}
