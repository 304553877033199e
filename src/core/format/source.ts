/**
 * Random-access byte sources: the streaming reader parses a header from a prefix and then reads
 * tensors by offset, so a model never has to be in memory as a whole. Implementations here are
 * for bytes already in memory; see src/store/blob-source.ts (Blob/File) and
 * src/node/file-source.ts (Node file handles) for the others.
 */
import { FormatError } from './errors.ts';
import { sha256Stream, type Sha256Hex } from '../hash.ts';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` (a short read is an error, not a short result). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** A name for messages (a file name), when there is one. */
  readonly name?: string;
}

/** A ByteSource over bytes in memory (reads are views, not copies). */
export function bytesSource(bytes: Uint8Array, name?: string): ByteSource {
  return {
    size: bytes.length,
    name,
    read(offset, length) {
      checkRange(offset, length, bytes.length);
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
}

/** Shared range check for every ByteSource implementation. */
export function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new FormatError('file-length', `read of ${length} bytes at ${offset} is outside the ${size}-byte file`);
  }
}

/** Read a whole source (for small files and tests). */
export async function readAll(src: ByteSource): Promise<Uint8Array> {
  return src.read(0, src.size);
}

/** The default chunk used when streaming through a source (hashing, copying). */
export const STREAM_CHUNK_BYTES = 4 * 1024 * 1024;

/** SHA-256 of a source's bytes, read in chunks. */
export async function hashSource(src: ByteSource, chunk = STREAM_CHUNK_BYTES): Promise<Sha256Hex> {
  const h = sha256Stream();
  for (let off = 0; off < src.size; off += chunk) h.update(await src.read(off, Math.min(chunk, src.size - off)));
  return h.digestHex();
}

/** Refuse bytes whose SHA-256 is not the expected one. */
export function checkHash(actual: Sha256Hex, expected: Sha256Hex | undefined, what: string): void {
  if (expected !== undefined && actual !== expected.toLowerCase())
    throw new FormatError('hash', `${what} has SHA-256 ${actual}, expected ${expected}`);
}
