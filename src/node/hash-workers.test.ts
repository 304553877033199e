import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashWorkers } from './hash-workers.ts';

const dir = mkdtempSync(join(tmpdir(), 'hash-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const native = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('HashWorkers', () => {
  it('gives node:crypto’s digest for shared views, plain bytes and file ranges, many streams at once, in any split', async () => {
    const n = 3 * (1 << 20) + 17;
    const shared = new Uint8Array(new SharedArrayBuffer(n + 64));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 2654435761) >>> 24;
    const bytes = shared.subarray(32, 32 + n);
    const path = join(dir, 'f.bin');
    writeFileSync(path, bytes);
    const fd = openSync(path, 'r');
    const w = new HashWorkers(3);
    try {
      const digests: Promise<string>[] = [];
      // Tiny pieces over the first 1 000 bytes (a message each), large ones over all of it.
      for (const [len, split] of [
        [1000, 1],
        [1000, 7],
        [n, 1 << 20],
        [n, n],
      ]) {
        const want = native(bytes.subarray(0, len));
        const a = w.stream();
        const b = w.stream();
        const c = w.stream();
        for (let o = 0; o < len; o += split) {
          const end = Math.min(len, o + split);
          a.update(bytes.subarray(o, end)); // shared: posted as a view
          b.update(bytes.slice(o, end)); // plain: copied into the message
          c.updateFile(fd, o, end - o);
        }
        digests.push(a.digest(), b.digest(), c.digest());
        expect(await Promise.all(digests.splice(0))).toEqual([want, want, want]);
      }
      const empty = w.stream();
      expect(await empty.digest()).toBe(native());
      // Only the view's own bytes are hashed, not the rest of its buffer.
      const part = w.stream();
      part.update(shared.subarray(5, 9));
      expect(await part.digest()).toBe(native(shared.slice(5, 9)));
      expect(w.bytes).toBeGreaterThanOrEqual(6 * n);
      expect(w.queued).toBe(0);
      await w.drain(0);
    } finally {
      closeSync(fd);
      await w.terminate();
    }
  });

  it('a file range past the end fails that stream’s digest, and a stream takes nothing after its digest', async () => {
    const path = join(dir, 'short.bin');
    writeFileSync(path, new Uint8Array(100));
    const fd = openSync(path, 'r');
    const w = new HashWorkers(1);
    try {
      const s = w.stream();
      s.updateFile(fd, 50, 100);
      await expect(s.digest()).rejects.toThrow(/SHA-256 worker: short read at 100/);
      const t = w.stream();
      t.updateFile(fd, 0, 100);
      expect(await t.digest()).toBe(native(new Uint8Array(100)));
      expect(() => t.update(new Uint8Array(1))).toThrow(/update after digest/);
    } finally {
      closeSync(fd);
      await w.terminate();
    }
  });

  it('gives streams opened one after another while the workers are idle to each worker in turn', async () => {
    const w = new HashWorkers(2);
    try {
      const bytes = new Uint8Array(1 << 16).fill(3);
      for (let k = 0; k < 4; k++) {
        const s = w.stream();
        s.update(bytes);
        expect(await s.digest()).toBe(native(bytes));
      }
      // Each was idle when its stream opened: two streams each.
      expect(w.perWorker).toEqual([2 << 16, 2 << 16]);
    } finally {
      await w.terminate();
    }
  });
});
