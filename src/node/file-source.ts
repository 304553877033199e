/** Node file I/O for the format: a ByteSource over a file handle, and a streamed shard writer. */
import { open, mkdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { checkRange, type ByteSource } from '../core/format/source.ts';
import { shardFileName, type SlmChunk } from '../core/format/slm.ts';
import { sha256Stream, type Sha256Hex } from '../core/hash.ts';
import { LIMITS, openRegular, tempName } from './confine.ts';

export interface FileSource extends ByteSource {
  /**
   * `onPiece` is called with each piece of the read as it lands (its file offset and bytes, in
   * order, pieces of at most READ_PIECE_BYTES), so a consumer can start on the first piece while
   * the rest is read. With `into` (at least `length` bytes) the bytes land there, and the read
   * gives its first `length` bytes, instead of a new buffer.
   */
  read(offset: number, length: number, onPiece?: (offset: number, bytes: Uint8Array) => void, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Bytes per positional read of a large range (one read call each, into the caller's buffer). */
export const READ_PIECE_BYTES = 8 << 20;

export interface FileSourceOptions {
  /**
   * Read into SharedArrayBuffer memory, so a worker (a hash worker, src/node/hash-workers.ts) can
   * see the bytes without a copy.
   */
  shared?: boolean;
}

/**
 * A regular file as a ByteSource: a FIFO, device or socket is refused before a byte is read (the
 * open never blocks), and so is a file over `max` bytes. Each read fills one new buffer of its
 * length (or the caller's) with positional reads of up to READ_PIECE_BYTES (no copy after).
 */
export async function fileSource(
  path: string,
  max: number = LIMITS.model,
  what = 'model file',
  options: FileSourceOptions = {},
): Promise<FileSource> {
  const { fh, size } = await openRegular(path, what, max);
  const alloc = options.shared ? (n: number) => new Uint8Array(new SharedArrayBuffer(n)) : (n: number) => new Uint8Array(n);
  return {
    size,
    name: basename(path),
    async read(offset, length, onPiece, into) {
      checkRange(offset, length, size);
      if (into && into.length < length) throw new Error(`read of ${length} bytes into a buffer of ${into.length}`);
      const buf = into ? into.subarray(0, length) : alloc(length);
      let done = 0;
      let fed = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, Math.min(READ_PIECE_BYTES, length - done), offset + done);
        if (bytesRead === 0) throw new Error(`short read from ${path}: ${done} of ${length} bytes at ${offset}`);
        done += bytesRead;
        if (onPiece && (done - fed >= READ_PIECE_BYTES || done === length)) {
          onPiece(offset + fed, buf.subarray(fed, done));
          fed = done;
        }
      }
      return buf;
    },
    close: () => fh.close(),
  };
}

/** fh.write may write fewer bytes than asked: write until all of `bytes` is out (at file position `position`, else at the file's own). */
export async function writeAll(fh: Pick<FileHandle, 'write'>, bytes: Uint8Array, what: string, position?: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position === undefined ? null : position + done);
    if (!(bytesWritten > 0)) throw new Error(`short write to ${what}: ${done} of ${bytes.length} bytes written`);
    done += bytesWritten;
  }
}

const currentPath = (out: { path: string }[]) => out[out.length - 1]?.path ?? 'file';

/**
 * Write a streamed `.slm` (or any sharded chunk stream) to `dir/base[-0000k-of-0000n].ext`, hashing
 * as it goes. Each shard is written under a temporary name and all are renamed into place only once
 * the stream has ended: a refused or failed write leaves no partial file behind.
 */
export async function writeShardFiles(
  chunks: AsyncIterable<SlmChunk>,
  dir: string,
  base: string,
  ext = '.slm',
): Promise<{ path: string; hash: Sha256Hex; bytes: number }[]> {
  await mkdir(dir, { recursive: true });
  const out: { path: string; hash: Sha256Hex; bytes: number }[] = [];
  const temps: string[] = [];
  let fh: FileHandle | null = null;
  let cur = -1;
  let h = sha256Stream();
  let bytes = 0;
  const finish = async () => {
    if (fh) {
      await fh.close();
      out[out.length - 1].hash = h.digestHex();
      out[out.length - 1].bytes = bytes;
    }
  };
  let done = false;
  try {
    for await (const c of chunks) {
      if (c.shard !== cur) {
        await finish();
        fh = null;
        cur = c.shard;
        const path = join(dir, shardFileName(base, c.shard, c.shards, ext));
        const tmp = tempName(path);
        temps.push(tmp);
        fh = await open(tmp, 'wx');
        h = sha256Stream();
        bytes = 0;
        out.push({ path, hash: '', bytes: 0 });
      }
      await writeAll(fh!, c.bytes, currentPath(out));
      h.update(c.bytes);
      bytes += c.bytes.length;
    }
    await finish();
    fh = null;
    for (let i = 0; i < out.length; i++) await rename(temps[i], out[i].path);
    done = true;
  } finally {
    if (fh) await (fh as FileHandle).close().catch(() => undefined);
    if (!done) await Promise.all(temps.map((t) => rm(t, { force: true })));
  }
  return out;
}

/** Sibling shard files of a `.slm` shard path (`x-00001-of-00003.slm` → all three), or the path itself. */
export function shardSiblings(path: string): string[] {
  const m = /^(.*)-(\d{5})-of-(\d{5})(\.[^./\\]+)$/.exec(path);
  if (!m) return [path];
  const n = Number(m[3]);
  return Array.from({ length: n }, (_, i) => join(dirname(path), shardFileName(basename(m[1]), i, n, m[4])));
}
