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
import { fileSource, type FileSource } from './file-source.ts';
import { LIMITS } from './confine.ts';
import type { HashWorkers } from './hash-workers.ts';

export interface SlmRangeParent {
  /** The tensors by range; reads are timed on the clock given to openSlmRange. */
  source: ModelSource;
  /** The tensors in header order (as readSlm gives them). */
  tensors: TensorSpec[];
  metadata: Record<string, string>;
  info: SlmInfo;
  species: Sha256Hex;
  /**
   * SHA-256 of the file's bytes. Opened with `verify: 'as-read'`, it is known only once verify()
   * has resolved (reading it before throws).
   */
  readonly hash: Sha256Hex;
  /**
   * The file's SHA-256, with every tensor's content hash checked against slm.tensors (the bytes
   * the reads gave, in file order, plus whatever no read covered). Idempotent.
   */
  verify(): Promise<Sha256Hex>;
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
  /** Reads timed so far. */
  reads = 0;

  async time<T>(fn: () => Promise<T>): Promise<T> {
    this.reads++;
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
 * Memory a range source may read into and reuse (the CPU pool's arena: src/cpu/arena.ts bytes()
 * and freeBytes()), so a breed's reads do not each fault in a fresh buffer. take() gives null when
 * it has none (the read then gets a new buffer).
 */
export interface ReadBuffers {
  take(bytes: number): Uint8Array | null;
  give(buffer: Uint8Array): void;
}

/** Bytes the hash workers may have queued before a parent's next read waits: a bound on the memory the hashing holds. */
export const HASH_QUEUE_BYTES = 256 << 20;

/**
 * When a range-read parent is hashed and checked: 'open' (default) reads the whole file once at
 * open, before any tensor is read; 'as-read' hashes the bytes the breed's reads give, in file
 * order, as they arrive (verify() reads only what no read covered), so a breed that reads each
 * tensor once in file order reads the file once. With 'as-read' a tensor whose content hash is
 * wrong fails the read that completes it, and the file hash is known after verify(): the caller
 * must call it, and keep its output out of place, before trusting anything it computed.
 */
export type VerifyMode = 'open' | 'as-read';

export interface SlmRangeOptions {
  /** Times the reads (share one between the parents of a breed). */
  clock?: ReadClock;
  /** When the file is hashed and checked (default 'open'). */
  verify?: VerifyMode;
  /** SHA-256 workers for every hash (else the installed provider, on this thread). */
  hashers?: HashWorkers;
  /** Memory readLent reads into and reuses. */
  buffers?: ReadBuffers;
  /**
   * Check each tensor's content hash (default true). False only for a file whose hash the caller
   * expects to be one whose tensors were checked (verified-files.ts): the file hash alone is
   * taken, and the caller must compare it with the expected one before trusting anything.
   */
  tensorChecks?: boolean;
  /**
   * The file's SHA-256 as the memo of checked files knows it (verified-files.ts `known`: the file
   * is unchanged since it was hashed and its tensors checked): nothing is hashed, and verify()
   * gives it. The caller must check that the file is still unchanged once its reads are done.
   */
  knownHash?: Sha256Hex;
}

/** Open `path` (already confined) as a range-read `.slm` parent, or null when it is not a one-file `.slm`. */
export async function openSlmRange(path: string, what: string, options: SlmRangeOptions = {}): Promise<SlmRangeParent | null> {
  const { clock = new ReadClock(), verify = 'open', hashers, buffers, tensorChecks = true, knownHash } = options;
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) return null;
  // With hash workers the bytes are read into shared memory, which the workers hash where it lies.
  const file: FileSource = await fileSource(path, LIMITS.model, what, { shared: hashers !== undefined });
  const timed = {
    ...file,
    read: (offset: number, length: number, onPiece?: (offset: number, bytes: Uint8Array) => void, into?: Uint8Array) =>
      clock.time(() => file.read(offset, length, onPiece, into)),
  };
  const fail = (e: unknown) => new Error(`${what} (${path}): ${(e as Error).message}`);
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
    const hasher = new FileVerifier(file.size, dataStart, tensorChecks ? reader.header.entries : [], model.info, hashers);
    let hash: Sha256Hex | null = knownHash ?? null;
    let verifying: Promise<Sha256Hex> | null = knownHash ? Promise.resolve(knownHash) : null;
    const finish = () =>
      (verifying ??= hasher.finish(timed).then(
        (h) => (hash = h),
        (e) => Promise.reject(fail(e)),
      ));
    if (verify === 'open') await finish();
    else if (!knownHash) await hasher.feed(0, await timed.read(0, dataStart));
    /** Bytes [offset, offset + length) of tensor `name` (into `into` when given; `lend` is asked for one release per hash they are queued on). */
    const readRange = async (
      name: string,
      offset: number,
      length: number,
      into: Uint8Array | undefined,
      lend: (() => () => void) | undefined,
    ): Promise<Uint8Array> => {
      const e = reader.entry(name);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > e.end - e.begin)
        throw new Error(`${what} (${path}): ${length} bytes at ${offset} are outside "${name}" (${e.end - e.begin} bytes)`);
      const at = dataStart + e.begin + offset;
      // As-read, each piece is hashed as it lands (on the hash workers, while the rest is read);
      // the read resolves once the tensors it completes are checked.
      const checks: Promise<void>[] = [];
      const feeding = verify === 'as-read' && verifying === null;
      // The reads wait while the workers have more than HASH_QUEUE_BYTES to hash (the queued pieces are held).
      if (feeding) await hashers?.drain(HASH_QUEUE_BYTES);
      const bytes = await timed.read(at, length, feeding ? (o, piece) => checks.push(hasher.feed(o, piece, lend)) : undefined, into);
      try {
        await Promise.all(checks);
      } catch (err) {
        throw fail(err);
      }
      return bytes;
    };
    return {
      tensors: reader.header.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })),
      metadata: model.metadata,
      info: model.info,
      species: model.species,
      get hash(): Sha256Hex {
        if (hash === null) throw new Error(`${what} (${path}): its hash is known once verify() has resolved`);
        return hash;
      },
      verify: finish,
      source: {
        tensors: reader.header.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })),
        read: (name, offset, length) => readRange(name, offset, length, undefined, undefined),
        async readLent(name, offset, length) {
          const buf = buffers?.take(length) ?? null;
          if (!buf) return { bytes: await readRange(name, offset, length, undefined, undefined), give: () => undefined };
          // Lent to the caller and to every hash the bytes are queued on; back to `buffers` when all are done.
          let refs = 1;
          const unref = () => {
            if (--refs === 0) buffers!.give(buf);
          };
          const lend = () => {
            refs++;
            return unref;
          };
          let given = false;
          const give = () => {
            if (given) return;
            given = true;
            unref();
          };
          try {
            return { bytes: await readRange(name, offset, length, buf, lend), give };
          } catch (e) {
            give();
            throw e;
          }
        },
      },
      close: () => file.close(),
    };
  } catch (e) {
    await file.close().catch(() => undefined);
    throw fail(e);
  }
}

/** An incremental SHA-256 whose digest may come later (a hash worker's, or the installed provider's at once). */
interface LaterHash {
  /** `hashed` is called once the bytes are hashed (at once here; later on a hash worker). */
  update(bytes: Uint8Array, hashed?: () => void): void;
  digest(): Promise<Sha256Hex>;
}

function laterHash(hashers: HashWorkers | undefined): LaterHash {
  if (hashers) return hashers.stream();
  const h = sha256Stream();
  return {
    update: (bytes, hashed) => {
      h.update(bytes);
      hashed?.();
    },
    digest: async () => h.digestHex(),
  };
}

/**
 * The file's SHA-256 and each tensor's content hash (checked against slm.tensors as readSlm
 * checks it, same error), fed bytes in file order: a piece that starts at or before the bytes
 * hashed so far and reaches past them advances the hash; any other piece is left for finish(),
 * which reads the rest of the file in 4 MiB pieces. With hash workers, the file's hash and each
 * tensor's run on them (the file's on one worker, the tensors' spread over all), off the caller's
 * thread; feed() then resolves once the tensors that piece completes are checked.
 */
class FileVerifier {
  private readonly file: LaterHash;
  private readonly spans: { name: string; begin: number; end: number; h: LaterHash | null; done: boolean }[];
  private k = 0;
  /** Bytes [0, at) of the file are hashed. */
  private at = 0;

  constructor(
    private readonly size: number,
    private readonly dataStart: number,
    entries: readonly { name: string; begin: number; end: number }[],
    private readonly info: SlmInfo,
    private readonly hashers?: HashWorkers,
  ) {
    this.file = laterHash(hashers);
    this.spans = [...entries].sort((a, b) => a.begin - b.begin).map((e) => ({ ...e, h: null, done: false }));
  }

  /**
   * Bytes read at file offset `offset`; rejects when a tensor they complete has the wrong content
   * hash. `lend` (for lent bytes) is asked for a release per hash they are queued on, each called
   * once that hash is done with them.
   */
  feed(offset: number, bytes: Uint8Array, lend?: () => () => void): Promise<void> {
    const end = offset + bytes.length;
    if (offset > this.at || end <= this.at) return Promise.resolve();
    const piece = bytes.subarray(this.at - offset);
    this.file.update(piece, lend?.());
    const lo = this.at - this.dataStart;
    const hi = end - this.dataStart;
    this.at = end;
    while (this.k < this.spans.length && this.spans[this.k].end <= lo) this.k++;
    const checks: Promise<void>[] = [];
    for (let j = this.k; j < this.spans.length && this.spans[j].begin < hi; j++) {
      const s = this.spans[j];
      const a = Math.max(s.begin, lo);
      const b = Math.min(s.end, hi);
      if (b > a) (s.h ??= laterHash(this.hashers)).update(piece.subarray(a - lo, b - lo), lend?.());
      if (s.end <= hi) checks.push(this.check(s));
    }
    if (checks.length === 0) return Promise.resolve();
    const all = Promise.all(checks).then(() => undefined);
    // Awaited later (once the read's other pieces are in): handled now, so an early failure is not unhandled.
    all.catch(() => undefined);
    return all;
  }

  private async check(s: (typeof this.spans)[number]): Promise<void> {
    if (s.done) return;
    s.done = true;
    const want = this.info.tensorHashes?.get(s.name);
    const actual = await (s.h ??= laterHash(this.hashers)).digest();
    if (want !== undefined && actual !== want)
      throw new FormatError(
        'content-hash',
        `tensor ${JSON.stringify(s.name)} hashes to ${actual} but ${SLM_KEYS.tensors} records ${want}: its bytes were changed`,
      );
  }

  /** Hash what no read covered, check the tensors not yet checked (an empty one too), and give the file's SHA-256. */
  async finish(src: ByteSource): Promise<Sha256Hex> {
    const checks: Promise<void>[] = [];
    while (this.at < this.size) {
      checks.push(this.feed(this.at, await src.read(this.at, Math.min(STREAM_CHUNK_BYTES, this.size - this.at))));
      // The workers hash while the next piece is read; the queue stays bounded.
      await this.hashers?.drain(64 << 20);
    }
    for (const s of this.spans) checks.push(this.check(s));
    const hex = this.file.digest();
    hex.catch(() => undefined);
    await Promise.all(checks);
    return hex;
  }
}
