/**
 * A breed from the tensor store into the tensor store, never holding a model: the parents are
 * read chunk by chunk (storedModelSource), the core's breedStream runs, each output tensor goes
 * into the store chunk by chunk (storeSink), and the candidate's `.slm` identity is taken without
 * writing the file: its header as candidateSlm would write it (candidateHeader), then the SHA-256
 * of header + the outputs' stored bytes in the file's order, read back chunk by chunk. The hash,
 * species, lineage key and metadata are those candidateSlm gives for the same breed.
 *
 * The app's kernel worker runs it over IndexedDB (workers/kernel.worker.ts). On a failure or a
 * Cancel (checked between chunks, in the breed and in the hashing pass alike) the outputs no
 * model lists are dropped: no half candidate stays in the store.
 */
import { BreedCancelled, breedStream, type BreedProgress, type StreamBreedResult } from '../core/operators/breed.ts';
import type { KernelBackend } from '../core/operators/backend.ts';
import { STATISTICS_FOR, getOperator, type OperatorId } from '../core/operators/registry.ts';
import { elementBytes } from '../core/operators/stream.ts';
import { numel } from '../core/tensor.ts';
import type { RecipeParams } from '../core/operators/types.ts';
import { candidateHeader, type ParentHeaderInfo } from '../core/operators/candidate.ts';
import { checkSlmMetadata, writeSlmStream } from '../core/format/slm.ts';
import { toSlm, type ImportedModel } from '../core/format/model.ts';
import { compareNames, parseHeader } from '../core/format/safetensors.ts';
import { sha256Stream, type Sha256Hex } from '../core/hash.ts';
import { storeSink, storedModelSource } from './source.ts';
import { StoreError, type StoredTensorInput, type TensorStore } from './tensor-store.ts';

/** One parent: its model id in the store and what the candidate's header reads of it. */
export interface StoredParent {
  /** The store's model id (the hash of its tensor-set manifest). */
  id: Sha256Hex;
  header: ParentHeaderInfo;
}

export interface StoredBreedRequest {
  operator: string;
  params: RecipeParams;
  seed: number;
  /** Base first when the operator takes one. */
  parents: readonly StoredParent[];
}

export interface StoredBreedOptions {
  /** Bytes done of bytesTotal: the breed's outputs written (the first half), then the candidate file hashed (the second). */
  onProgress?(p: BreedProgress): void;
  /** Checked between chunks: an aborted signal ends the breed with BreedCancelled, the outputs dropped. */
  signal?: { readonly aborted: boolean };
  /** Elements per chunk of breedStream (default its own). */
  chunkElements?: number;
}

/** The candidate as candidateSlm would describe it, its tensors already in the store. */
export interface StoredCandidate {
  hash: Sha256Hex;
  /** Bytes of the `.slm` file. */
  size: number;
  species: Sha256Hex;
  lineageKey: Sha256Hex;
  /** The file's `__metadata__` (what readSlm(bytes).metadata gives). */
  metadata: Record<string, string>;
}

export interface StoredBreedResult {
  /** breedStream's result: stats, backend, operator, params, seed, metadata, ms and the stream figures. */
  result: StreamBreedResult;
  candidate: StoredCandidate;
  /** The candidate's tensors by hash, for TensorStore.putModel (unlisted until a model lists them). */
  tensors: StoredTensorInput[];
}

/**
 * Whether an operator breeds through breedStream: one that keeps each tensor's place (no layout),
 * has no storage of its own (quantize), and needs no whole-tensor pre-pass but the task-arithmetic
 * family's (which breedStream streams). The others breed whole (breed() and candidateSlm).
 */
export function streamsFromStore(operator: string): boolean {
  const op = getOperator(operator);
  // The data-informed merges need whole tensors and their statistics (operators/data-informed.ts).
  if (op.layout || op.store || STATISTICS_FOR[op.id as OperatorId]) return false;
  return !op.prepare || op.kernel?.id === 'task-arithmetic';
}

/** Bytes per read of the hashing pass (the store's chunk size is the natural one). */
const HASH_READ_BYTES = 4 << 20;

export async function breedStored(
  store: TensorStore,
  req: StoredBreedRequest,
  backend: KernelBackend,
  options: StoredBreedOptions = {},
): Promise<StoredBreedResult> {
  if (!streamsFromStore(req.operator)) throw new StoreError(`${req.operator} does not breed from the store chunk by chunk; breed it whole`);
  const signal = options.signal;
  const sources = await Promise.all(req.parents.map((p) => storedModelSource(store, p.id)));
  const sink = storeSink(store);
  const first = sources[0].tensors;
  const modelBytes = first.reduce((s, t) => s + elementBytes(t.dtype, 0, numel(t.shape))[1], 0);
  // One bar over the two passes: the breed's outputs written, then the candidate file hashed.
  const bytesTotal = 2 * modelBytes;
  let written = 0;
  let at: { tensor: number; name: string } = { tensor: 0, name: first[0]?.name ?? '' };
  const report = (bytesDone: number) =>
    options.onProgress?.({
      tensor: at.tensor,
      tensors: first.length,
      name: at.name,
      bytesDone: Math.min(bytesDone, bytesTotal),
      bytesTotal,
    });
  const result = await breedStream({ operator: req.operator, params: req.params, seed: req.seed, parents: sources }, backend, {
    output(t) {
      const out = store.tensorWriter();
      at = { tensor: Math.min(first.length, at.tensor + 1), name: t.name };
      return {
        async write(bytes) {
          await out.write(bytes);
          written += bytes.length;
          report(written);
        },
        finish: () => out.finish(),
        abort: () => out.abort(),
      };
    },
    discard: sink.discard,
    chunkElements: options.chunkElements,
    signal,
    onProgress: (p) => {
      at = { tensor: p.tensor, name: p.name };
      written = Math.max(written, p.bytesDone);
      report(written);
    },
  });
  try {
    const candidate = await candidateOf(
      store,
      result,
      req.parents,
      (done) => {
        at = { tensor: first.length, name: 'hashing the candidate file' };
        report(modelBytes + done);
      },
      signal,
    );
    return {
      result,
      candidate,
      tensors: result.outputs.map((o) => ({ name: o.name, dtype: o.dtype, shape: [...o.shape], hash: o.hash })),
    };
  } catch (e) {
    await sink.discard(result.outputs).catch(() => undefined);
    throw e;
  }
}

/** The candidate file's identity: candidateSlm's header, then the outputs' bytes in name order, hashed chunk by chunk. */
async function candidateOf(
  store: TensorStore,
  result: StreamBreedResult,
  parents: readonly StoredParent[],
  onHashed: (bytes: number) => void,
  signal?: { readonly aborted: boolean },
): Promise<StoredCandidate> {
  const specs = result.outputs.map((o) => ({ name: o.name, dtype: o.dtype, shape: [...o.shape] }));
  const header = candidateHeader(
    { ...result, tensors: specs },
    parents.map((p) => p.header),
  );
  const contentHashes = new Map(result.outputs.map((o) => [o.name, o.hash as Sha256Hex]));
  const head = await writeSlmStream(
    { tensors: specs, read: () => Promise.reject(new Error('the streamed candidate has no tensor in memory')) },
    { ...header.options, contentHashes, maxShardBytes: Number.MAX_SAFE_INTEGER },
  ).next();
  if (head.done) throw new Error('the candidate header was not written');
  const headerBytes = head.value.bytes;
  const data = result.outputs.reduce((s, o) => s + o.bytes, 0);
  const metadata = parseHeader(headerBytes, headerBytes.length + data).metadata;
  const hash = await hashStoredFile(store, headerBytes, result.outputs, onHashed, signal);
  return { hash, size: headerBytes.length + data, species: header.species, lineageKey: header.lineageKey, metadata };
}

/**
 * The SHA-256 of a one-shard `.slm` (or safetensors) file whose tensors are in the store: its
 * header, then each tensor's stored bytes in the file's (name) order, read chunk by chunk.
 */
async function hashStoredFile(
  store: TensorStore,
  headerBytes: Uint8Array,
  tensors: readonly { name: string; hash: string; bytes: number }[],
  onHashed?: (bytes: number) => void,
  signal?: { readonly aborted: boolean },
): Promise<Sha256Hex> {
  const h = sha256Stream();
  h.update(headerBytes);
  let hashed = 0;
  for (const o of [...tensors].sort(compareNames)) {
    for (let off = 0; off < o.bytes; off += HASH_READ_BYTES) {
      if (signal?.aborted) throw new BreedCancelled();
      const piece = await store.readTensorRange(o.hash as Sha256Hex, off, Math.min(HASH_READ_BYTES, o.bytes - off));
      h.update(piece);
      hashed += piece.length;
      onHashed?.(hashed);
    }
  }
  return h.digestHex();
}

/** What a stored model's one-shard `.slm` is written from besides its tensors (as `garden import` writes it: toSlm). */
export interface StoredModelInfo {
  species: Sha256Hex;
  graphHash: Sha256Hex | '';
  vocabulary?: string[];
  /** The model's own metadata (a causal LM's folder files, HF_KEYS), as importing it gave. */
  metadata: Record<string, string>;
}

/**
 * A stored model as a breed's parent: the one-shard `.slm` that toSlm writes for it (its lineage
 * identity) hashed without holding the model (its header, then its tensors read chunk by chunk
 * from the store), and what the candidate's header reads of that file's metadata.
 */
export async function storedParent(
  store: TensorStore,
  id: Sha256Hex,
  info: StoredModelInfo,
  signal?: { readonly aborted: boolean },
): Promise<StoredParent> {
  const stored = await store.matchModel(id);
  if (!stored) throw new StoreError(`no model ${id.slice(0, 12)} in the store`);
  const specs = stored.manifest.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] }));
  const model: ImportedModel = {
    format: 'safetensors',
    tensors: specs,
    read: () => Promise.reject(new Error('the stored parent has no tensor in memory')),
    graph: null,
    graphHash: info.graphHash,
    vocabulary: info.vocabulary ?? [],
    metadata: info.metadata,
    species: info.species,
  };
  const contentHashes = new Map(stored.manifest.tensors.map((t) => [t.name, t.hash]));
  const head = await toSlm(model, { contentHashes, maxShardBytes: Number.MAX_SAFE_INTEGER }).next();
  if (head.done) throw new Error('the parent header was not written');
  const headerBytes = head.value.bytes;
  const tensors = stored.manifest.tensors.map((t) => ({ name: t.name, hash: t.hash, bytes: elementBytes(t.dtype, 0, numel(t.shape))[1] }));
  const data = tensors.reduce((s, t) => s + t.bytes, 0);
  const metadata = parseHeader(headerBytes, headerBytes.length + data).metadata;
  const hash = await hashStoredFile(store, headerBytes, tensors, undefined, signal);
  // As the whole-model breed reads a parent: its file's metadata checked, with the file's hash and tensors.
  return { id, header: { ...checkSlmMetadata(metadata), hash, tensors: specs, metadata } };
}
