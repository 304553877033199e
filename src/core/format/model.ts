/**
 * One shape for every imported model — `.slm` (sharded or not), plain safetensors, Hugging Face
 * sharded safetensors, ONNX — as tensor specs plus a reader, a species graph and a vocabulary.
 * Conversion to `.slm` streams one tensor at a time; scans flag non-finite weights.
 */
import { FormatError } from './errors.ts';
import { openHfSharded } from './hf-index.ts';
import { importOnnx, type OnnxImportOptions } from './onnx.ts';
import { openSafetensors } from './reader.ts';
import { checkTensorSize, type TensorSpec } from './safetensors.ts';
import {
  SLM_KEYS,
  openSlm,
  speciesId,
  speciesSignature,
  writeSlmStream,
  type ModelTensors,
  type SlmChunk,
  type SlmStreamOptions,
} from './slm.ts';
import { bytesSource, readAll, type ByteSource } from './source.ts';
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { numel, toFloat32, type Tensor } from '../tensor.ts';

export const MODEL_FORMATS = Object.freeze(['slm', 'safetensors', 'safetensors-sharded', 'onnx'] as const);
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export interface ImportedModel extends ModelTensors {
  format: ModelFormat;
  /** Specs sorted by name. */
  tensors: TensorSpec[];
  read(name: string): Promise<Uint8Array>;
  /** The species graph (ONNX, weights as external data by tensor name), when known. */
  graph: Uint8Array | null;
  /** SHA-256 of the species graph; '' when the model has none. */
  graphHash: Sha256Hex;
  vocabulary: string[];
  /** The source's own metadata (the garden's slm.* keys removed). */
  metadata: Record<string, string>;
  species: Sha256Hex;
}

function finish(
  format: ModelFormat,
  tensors: TensorSpec[],
  read: (n: string) => Promise<Uint8Array>,
  graph: Uint8Array | null,
  vocabulary: string[],
  metadata: Record<string, string>,
  graphHash?: Sha256Hex,
): ImportedModel {
  const specs = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const gh = graphHash ?? (graph ? sha256Hex(graph) : '');
  const own: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (!k.startsWith('slm.')) own[k] = v;
  return {
    format,
    tensors: specs,
    read,
    graph,
    graphHash: gh,
    vocabulary,
    metadata: own,
    species: speciesId(speciesSignature(specs, gh, vocabulary)),
  };
}

/** Is this the start of a safetensors file (plausible header length, then '{')? */
export function looksLikeSafetensors(prefix: Uint8Array): boolean {
  if (prefix.length < 9) return false;
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  return dv.getUint32(4, true) === 0 && dv.getUint32(0, true) > 0 && prefix[8] === 0x7b;
}

/**
 * A safetensors file whose declared header length is impossible (0, or 2^32 or more) but whose
 * header starts as one does (`{"` at byte 8): read as safetensors so that the header-length check
 * refuses it by name, not the ONNX decoder as "not an ONNX model". (An ONNX file starts with a
 * protobuf tag, never 8 zero bytes, and never has `{"` right after 8 bytes of varints and tags.)
 */
export function looksLikeBadSafetensors(prefix: Uint8Array): boolean {
  if (prefix.length < 10 || prefix[8] !== 0x7b || prefix[9] !== 0x22) return false;
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  return dv.getUint32(4, true) !== 0 || dv.getUint32(0, true) === 0;
}

export interface ImportOptions extends OnnxImportOptions {
  /** The species graph that goes with a safetensors/.slm import (checked against slm.graph when recorded). */
  graph?: Uint8Array;
  /** Vocabulary / label set for models whose file does not carry one. */
  vocabulary?: string[];
}

/** A plain safetensors file (or a single-file `.slm` read as plain weights). */
export async function importSafetensors(source: ByteSource, opts: ImportOptions = {}): Promise<ImportedModel> {
  const r = await openSafetensors(source);
  return finish('safetensors', r.tensors, async (n) => (await r.read(n)).data, opts.graph ?? null, opts.vocabulary ?? [], r.metadata);
}

/** `.slm` shard files: the species recorded in them is kept (and checked when recomputable). */
export async function importSlm(sources: readonly ByteSource[], opts: ImportOptions = {}): Promise<ImportedModel> {
  const m = await openSlm(sources);
  const recorded = m.info.graph;
  let graphHash = recorded;
  if (opts.graph) {
    const h = sha256Hex(opts.graph);
    if (recorded !== undefined && h !== recorded)
      throw new FormatError('hash', `the species graph has SHA-256 ${h} but the .slm records ${recorded}`);
    graphHash = h;
  }
  const vocabulary = m.info.vocabulary ?? opts.vocabulary ?? [];
  const model = finish('slm', m.tensors, m.read, opts.graph ?? null, vocabulary, m.metadata, graphHash ?? '');
  // Without a recorded graph/vocabulary the species cannot be recomputed: keep the recorded one.
  if (m.info.graph === undefined || m.info.vocabulary === undefined) model.species = m.species;
  else if (model.species !== m.species)
    throw new FormatError('species', `${SLM_KEYS.species} is ${m.species} but the tensors, graph and vocabulary give ${model.species}`);
  return model;
}

/** Hugging Face sharded safetensors through their index JSON. */
export async function importHfSharded(
  indexText: string | Uint8Array,
  open: (file: string) => Promise<ByteSource>,
  opts: ImportOptions = {},
): Promise<ImportedModel> {
  const s = await openHfSharded(indexText, open);
  return finish('safetensors-sharded', s.tensors, s.read, opts.graph ?? null, opts.vocabulary ?? [], s.metadata);
}

/** An ONNX model: initializers become tensors, the weight-free graph becomes the species graph. */
export async function importOnnxModel(bytes: Uint8Array, opts: ImportOptions = {}): Promise<ImportedModel> {
  const r = await importOnnx(bytes, opts);
  const byName = new Map(r.tensors.map((t) => [t.name, t.data]));
  return finish(
    'onnx',
    r.tensors,
    async (n) => {
      const d = byName.get(n);
      if (!d) throw new FormatError('header-keys', `no tensor named ${JSON.stringify(n)}`);
      return d;
    },
    r.graph,
    opts.vocabulary ?? [],
    {},
  );
}

/**
 * Import one file by its content: `.slm` (garden metadata present), plain safetensors, or ONNX.
 * Sharded inputs go through importSlm / importHfSharded.
 */
export async function importFile(source: ByteSource, opts: ImportOptions = {}): Promise<ImportedModel> {
  const prefix = await source.read(0, Math.min(10, source.size));
  if (looksLikeSafetensors(prefix) || looksLikeBadSafetensors(prefix)) {
    const r = await openSafetensors(source);
    if (r.metadata[SLM_KEYS.format] !== undefined) return importSlm([source], opts);
    return importSafetensors(source, opts);
  }
  if (source.size < 9) throw new FormatError('file-length', `file is ${source.size} bytes, too short for safetensors or ONNX`);
  return importOnnxModel(await readAll(source), opts);
}

/** Stream a model into `.slm` shards that record its species, graph hash and vocabulary. */
export function toSlm(
  model: ImportedModel,
  opts: Omit<SlmStreamOptions, 'species' | 'graph' | 'vocabulary'> = {},
): AsyncGenerator<SlmChunk> {
  // Record graph and vocabulary only when they recompute the species (a .slm from elsewhere may not).
  const recomputable = speciesId(speciesSignature(model.tensors, model.graphHash, model.vocabulary)) === model.species;
  return writeSlmStream(model, {
    ...opts,
    species: model.species,
    ...(recomputable ? { graph: model.graphHash, vocabulary: model.vocabulary } : {}),
    extra: { ...model.metadata, ...opts.extra },
  });
}

/** Read every tensor once (one at a time): its SHA-256, with sizes checked. */
export async function tensorHashes(model: ModelTensors): Promise<Map<string, Sha256Hex>> {
  const out = new Map<string, Sha256Hex>();
  for (const t of model.tensors) {
    const data = await model.read(t.name);
    checkTensorSize({ ...t, data });
    out.set(t.name, sha256Hex(data));
  }
  return out;
}

export interface NonFiniteReport {
  /** True when every float weight is finite. Policy decides what a flagged model may do. */
  finite: boolean;
  flagged: { name: string; nan: number; posInf: number; negInf: number; elements: number }[];
}

/** Count NaN/±Inf per float tensor of a tensor. */
export function scanTensor(t: Tensor): NonFiniteReport['flagged'][number] | null {
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') return null;
  const v = toFloat32(t);
  let nan = 0;
  let posInf = 0;
  let negInf = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x !== x) nan++;
    else if (x === Infinity) posInf++;
    else if (x === -Infinity) negInf++;
  }
  return nan + posInf + negInf > 0 ? { name: t.name, nan, posInf, negInf, elements: numel(t.shape) } : null;
}

/** Scan a model's float tensors for NaN/Inf, one tensor in memory at a time: flagged, not refused. */
export async function scanNonFinite(model: ModelTensors): Promise<NonFiniteReport> {
  const flagged: NonFiniteReport['flagged'] = [];
  for (const t of model.tensors) {
    const f = scanTensor({ ...t, data: await model.read(t.name) });
    if (f) flagged.push(f);
  }
  return { finite: flagged.length === 0, flagged };
}

/** Collect a model's tensors into memory (small models, tests, the store). */
export async function loadTensors(model: ModelTensors): Promise<Tensor[]> {
  const out: Tensor[] = [];
  for (const t of model.tensors) out.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], data: await model.read(t.name) });
  return out;
}

export { bytesSource };
