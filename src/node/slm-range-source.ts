/**
 * A one-file `.slm` parent read range by range from its file (breedStream's ModelSource): the
 * header is parsed and checked as openSlm checks it, the file hashed in 4 MiB pieces, and each
 * tensor read by byte range at its header offset, so no tensor is ever held whole. Anything else
 * (a sharded or imported model, a Hugging Face folder) gives null: the caller reads it whole.
 */
import { statSync } from 'node:fs';
import { SLM_KEYS, openSlm, type SlmInfo } from '../core/format/slm.ts';
import { openSafetensors } from '../core/format/reader.ts';
import { looksLikeSafetensors } from '../core/format/model.ts';
import { STREAM_CHUNK_BYTES, type ByteSource } from '../core/format/source.ts';
import { FormatError } from '../core/format/errors.ts';
import type { TensorSpec } from '../core/format/safetensors.ts';
import { sha256Stream, type Sha256Hex } from '../core/hash.ts';
import type { ModelSource } from '../core/operators/stream.ts';
import { fileSource } from './file-source.ts';
import { LIMITS } from './confine.ts';

export interface SlmRangeParent {
  /** The tensors by range; reads are timed into `readMs`. */
  source: ModelSource;
  /** The tensors in header order (as readSlm gives them). */
  tensors: TensorSpec[];
  metadata: Record<string, string>;
  info: SlmInfo;
  species: Sha256Hex;
  /** SHA-256 of the file's bytes. */
  hash: Sha256Hex;
  close(): Promise<void>;
}

/**
 * Wall time during which at least one read is in flight, ms: reads of several parents run at
 * once (breedStream reads every parent's chunk together), so their times are not summed.
 */
export class ReadClock {
  private inFlight = 0;
  private since = 0;
  private total = 0;

  async time<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight++ === 0) this.since = performance.now();
    try {
      return await fn();
    } finally {
      if (--this.inFlight === 0) this.total += performance.now() - this.since;
    }
  }

  ms(): number {
    return this.total + (this.inFlight > 0 ? performance.now() - this.since : 0);
  }
}

/**
 * Open `path` (already confined) as a range-read `.slm` parent, or null when it is not a one-file
 * `.slm`. Its reads are timed on `clock` (share one between the parents of a breed).
 */
export async function openSlmRange(path: string, what: string, clock = new ReadClock()): Promise<SlmRangeParent | null> {
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) return null;
  const file = await fileSource(path, LIMITS.model, what);
  const timed = { ...file, read: (offset: number, length: number) => clock.time(() => file.read(offset, length)) };
  try {
    if (file.size < 9 || !looksLikeSafetensors(await timed.read(0, 9))) {
      await file.close();
      return null;
    }
    const reader = await openSafetensors(timed);
    const shards = reader.metadata[SLM_KEYS.shards] ?? '1';
    if (reader.metadata[SLM_KEYS.format] === undefined || shards !== '1') {
      await file.close();
      return null;
    }
    const model = await openSlm([timed]);
    const { dataStart } = reader.header;
    const hash = await hashWithContent(timed, dataStart, reader.header.entries, model.info);
    return {
      tensors: reader.header.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })),
      metadata: model.metadata,
      info: model.info,
      species: model.species,
      hash,
      source: {
        tensors: reader.header.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })),
        read(name, offset, length) {
          const e = reader.entry(name);
          if (
            !Number.isSafeInteger(offset) ||
            !Number.isSafeInteger(length) ||
            offset < 0 ||
            length < 0 ||
            offset + length > e.end - e.begin
          )
            return Promise.reject(
              new Error(`${what} (${path}): ${length} bytes at ${offset} are outside "${name}" (${e.end - e.begin} bytes)`),
            );
          return timed.read(dataStart + e.begin + offset, length);
        },
      },
      close: () => file.close(),
    };
  } catch (e) {
    await file.close().catch(() => undefined);
    throw new Error(`${what} (${path}): ${(e as Error).message}`);
  }
}

/**
 * One pass over the file in 4 MiB pieces: the file's SHA-256, and each tensor's content hash
 * checked against slm.tensors as readSlm checks it (same error), so a range-read parent is
 * verified before any of it is bred.
 */
async function hashWithContent(
  src: ByteSource,
  dataStart: number,
  entries: readonly { name: string; begin: number; end: number }[],
  info: SlmInfo,
): Promise<Sha256Hex> {
  const file = sha256Stream();
  const spans = [...entries].sort((a, b) => a.begin - b.begin).map((e) => ({ ...e, h: sha256Stream() }));
  let k = 0;
  for (let at = 0; at < src.size; at += STREAM_CHUNK_BYTES) {
    const piece = await src.read(at, Math.min(STREAM_CHUNK_BYTES, src.size - at));
    file.update(piece);
    const lo = at - dataStart;
    const hi = lo + piece.length;
    while (k < spans.length && spans[k].end <= lo) k++;
    for (let j = k; j < spans.length && spans[j].begin < hi; j++) {
      const s = spans[j];
      const a = Math.max(s.begin, lo);
      const b = Math.min(s.end, hi);
      if (b > a) s.h.update(piece.subarray(a - lo, b - lo));
    }
  }
  for (const s of spans) {
    const want = info.tensorHashes?.get(s.name);
    const actual = s.h.digestHex();
    if (want !== undefined && actual !== want)
      throw new FormatError(
        'content-hash',
        `tensor ${JSON.stringify(s.name)} hashes to ${actual} but ${SLM_KEYS.tensors} records ${want}: its bytes were changed`,
      );
  }
  return file.digestHex();
}
