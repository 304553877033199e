/**
 * SHA-256 off the main thread: a few worker_threads, each running node:crypto, hash streams the
 * main thread feeds without copying. A stream lives on one worker (its updates stay in order);
 * each new stream goes to the worker with the fewest bytes queued (in turns among equals). Bytes reach a worker either as
 * a view of a SharedArrayBuffer (posted, not copied: the caller must not change them until the
 * stream's next digest has resolved) or as a byte range of an open file descriptor, which the
 * worker reads itself into a buffer it reuses (for the bytes the main thread just wrote). Any
 * other bytes are copied once into the message. Every digest is node:crypto's, so the hashes are
 * those of the core's sha256Stream on the same bytes.
 */
import { Worker } from 'node:worker_threads';
import type { Sha256Hex } from '../core/hash.ts';

/** What a worker is asked to do (one message each). */
type HashMessage =
  | { op: 'update'; id: number; bytes: Uint8Array }
  | { op: 'file'; id: number; fd: number; offset: number; length: number }
  | { op: 'digest'; id: number; reply: number };

type HashReply = { reply: number; hex?: string; error?: string } | { done: number; ms: number };

// Plain JavaScript, so a worker starts in milliseconds (no TypeScript loader).
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const streams = new Map();
let buf = null;
const at = (id) => { let h = streams.get(id); if (!h) streams.set(id, (h = { h: createHash('sha256'), error: null })); return h; };
parentPort.on('message', (m) => {
  const s = at(m.id);
  const t0 = performance.now();
  if (m.op === 'update') {
    if (!s.error) s.h.update(m.bytes);
    parentPort.postMessage({ done: m.bytes.length, ms: performance.now() - t0 });
  } else if (m.op === 'file') {
    try {
      if (!buf) buf = Buffer.allocUnsafe(8 << 20);
      for (let o = 0; o < m.length && !s.error; ) {
        const n = readSync(m.fd, buf, 0, Math.min(buf.length, m.length - o), m.offset + o);
        if (n === 0) throw new Error('short read at ' + (m.offset + o));
        s.h.update(buf.subarray(0, n));
        o += n;
      }
    } catch (e) { s.error ??= e.message; }
    parentPort.postMessage({ done: m.length, ms: performance.now() - t0 });
  } else {
    streams.delete(m.id);
    parentPort.postMessage(s.error ? { reply: m.reply, error: s.error } : { reply: m.reply, hex: s.h.digest('hex') });
  }
});
`;

/** An incremental SHA-256 on a hash worker. */
export interface WorkerHash {
  /**
   * Hash `bytes` next (a SharedArrayBuffer view is posted as is: leave it unchanged until
   * `hashed` is called, or digest() resolves). `hashed` is called once the worker is done with them.
   */
  update(bytes: Uint8Array, hashed?: () => void): void;
  /** Hash `length` bytes of file descriptor `fd` at `offset` next (the worker reads them). */
  updateFile(fd: number, offset: number, length: number): void;
  /** The SHA-256 of everything given (the stream is then finished). */
  digest(): Promise<Sha256Hex>;
}

interface Slot {
  worker: Worker;
  /** Bytes posted to this worker and not yet hashed. */
  queued: number;
  /** What to call as each posted update or file range is done, in posting order (the worker answers in order). */
  done: ((() => void) | undefined)[];
  /** Bytes this worker has hashed. */
  hashed: number;
}

export class HashWorkers {
  private readonly slots: Slot[];
  private nextId = 1;
  private nextReply = 1;
  private turn = 0;
  private readonly replies = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  private waiters: (() => void)[] = [];
  /** A worker's failure: what is queued will never be hashed. */
  private failed: Error | null = null;
  /** Bytes hashed by the workers so far. */
  bytes = 0;
  /** Time the workers spent hashing (and reading back, for file ranges), ms, summed over the workers. */
  ms = 0;

  constructor(threads: number) {
    this.slots = Array.from({ length: Math.max(1, threads) }, () => {
      const slot: Slot = { worker: new Worker(WORKER, { eval: true }), queued: 0, done: [], hashed: 0 };
      slot.worker.unref();
      slot.worker.on('message', (m: HashReply) => {
        if ('done' in m) {
          slot.done.shift()?.();
          slot.queued -= m.done;
          slot.hashed += m.done;
          this.bytes += m.done;
          this.ms += m.ms;
          const w = this.waiters;
          this.waiters = [];
          for (const f of w) f();
          return;
        }
        const r = this.replies.get(m.reply);
        if (!r) return;
        this.replies.delete(m.reply);
        if (m.error !== undefined) r.reject(new Error(`SHA-256 worker: ${m.error}`));
        else r.resolve(m.hex!);
      });
      slot.worker.on('error', (e) => {
        this.failed ??= e;
        for (const r of this.replies.values()) r.reject(e);
        this.replies.clear();
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      });
      return slot;
    });
  }

  /** Bytes each worker has hashed so far. */
  get perWorker(): number[] {
    return this.slots.map((s) => s.hashed);
  }

  /** Bytes posted to the workers and not yet hashed. */
  get queued(): number {
    return this.slots.reduce((a, s) => a + s.queued, 0);
  }

  /** Resolves once no more than `bytes` are queued (backpressure for a reader that outruns the hashing). */
  async drain(bytes: number): Promise<void> {
    while (this.queued > bytes) {
      if (this.failed) throw new Error(`SHA-256 worker failed: ${this.failed.message}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  stream(): WorkerHash {
    // The fewest bytes queued; among equals, the workers take turns (idle ones would otherwise all go to the first).
    const turn = this.turn++;
    const n = this.slots.length;
    let slot = this.slots[turn % n];
    for (let k = 1; k < n; k++) {
      const s = this.slots[(turn + k) % n];
      if (s.queued < slot.queued) slot = s;
    }
    const id = this.nextId++;
    const post = (m: HashMessage, bytes: number, hashed?: () => void) => {
      slot.queued += bytes;
      slot.done.push(hashed);
      slot.worker.postMessage(m);
    };
    let finished = false;
    const live = () => {
      if (finished) throw new Error('SHA-256 worker: update after digest');
    };
    return {
      update(bytes, hashed) {
        live();
        // A shared view travels as a view; anything else is copied into the message (and is done with at once).
        const shared = bytes.buffer instanceof SharedArrayBuffer;
        post({ op: 'update', id, bytes: shared ? bytes : bytes.slice() }, bytes.length, shared ? hashed : undefined);
        if (!shared) hashed?.();
      },
      updateFile(fd, offset, length) {
        live();
        if (length > 0) post({ op: 'file', id, fd, offset, length }, length);
      },
      digest: () => {
        live();
        finished = true;
        const reply = this.nextReply++;
        const p = new Promise<string>((resolve, reject) => this.replies.set(reply, { resolve, reject }));
        slot.worker.postMessage({ op: 'digest', id, reply } satisfies HashMessage);
        return p;
      },
    };
  }

  terminate(): Promise<void> {
    return Promise.all(this.slots.map((s) => s.worker.terminate())).then(() => undefined);
  }
}
