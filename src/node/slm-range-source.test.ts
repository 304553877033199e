import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../core/format/slm.ts';
import { serializeSafetensors } from '../core/format/safetensors.ts';
import { fromFloat32 } from '../core/tensor.ts';
import { ReadClock, openSlmRange, type ReadBuffers } from './slm-range-source.ts';
import { HashWorkers } from './hash-workers.ts';

const dir = mkdtempSync(join(tmpdir(), 'slm-range-'));
const tensors = [
  fromFloat32('b', [3], new Float32Array([1, 2, 3])),
  fromFloat32(
    'a',
    [2, 4],
    Float32Array.from({ length: 8 }, (_, i) => i / 8),
  ),
];
const bytes = writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', [])), graph: '', vocabulary: [] });
const path = join(dir, 'm.slm');
writeFileSync(path, bytes);

describe('openSlmRange', () => {
  it('reads every tensor by range as readSlm gives it whole, with the same hash, species and order', async () => {
    const whole = readSlm(bytes);
    const clock = new ReadClock();
    const m = (await openSlmRange(path, 'parent 0', { clock }))!;
    try {
      expect(m.hash).toBe(whole.hash);
      expect(m.species).toBe(whole.species);
      expect(m.tensors.map((t) => t.name)).toEqual(whole.tensors.map((t) => t.name));
      for (const t of whole.tensors) {
        expect(await m.source.read(t.name, 0, t.data.length)).toEqual(t.data);
        expect(await m.source.read(t.name, 4, 8)).toEqual(t.data.subarray(4, 12));
      }
      await expect(m.source.read('a', 28, 8)).rejects.toThrow(/outside "a"/);
      expect(clock.ms()).toBeGreaterThan(0);
    } finally {
      await m.close();
    }
  });

  it('refuses a file whose tensor bytes no longer match slm.tensors, naming the tensor', async () => {
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    const p = join(dir, 'flipped.slm');
    writeFileSync(p, flipped);
    await expect(openSlmRange(p, 'parent 1')).rejects.toThrow(/parent 1 .*content-hash check failed: tensor "b" hashes to/);
  });

  it("as-read: the file hash and content checks come from the breed's own reads, one pass when they run in file order", async () => {
    const whole = readSlm(bytes);
    const clock = new ReadClock();
    const m = (await openSlmRange(path, 'parent 0', { clock, verify: 'as-read' }))!;
    try {
      expect(() => m.hash).toThrow(/known once verify\(\) has resolved/);
      // In file order (the data section is in name order), in pieces, as breedStream reads.
      const order = [...whole.tensors].sort((x, y) => (x.name < y.name ? -1 : 1));
      for (const t of order) for (let o = 0; o < t.data.length; o += 8) await m.source.read(t.name, o, Math.min(8, t.data.length - o));
      const before = clock.reads;
      expect(await m.verify()).toBe(whole.hash);
      expect(clock.reads, 'verify read nothing more').toBe(before);
      expect(m.hash).toBe(whole.hash);
      expect(await m.verify()).toBe(whole.hash);
    } finally {
      await m.close();
    }
    // Read out of order (or not at all), verify reads what was not hashed and gives the same hash.
    for (const reads of [[], ['b', 'a']]) {
      const n = (await openSlmRange(path, 'parent 0', { verify: 'as-read' }))!;
      try {
        for (const name of reads) await n.source.read(name, 0, whole.tensors.find((t) => t.name === name)!.data.length);
        expect(await n.verify()).toBe(whole.hash);
      } finally {
        await n.close();
      }
    }
  });

  it('as-read refuses a changed tensor on the read that completes it, or at verify() when no read did', async () => {
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    const p = join(dir, 'flipped-as-read.slm');
    writeFileSync(p, flipped);
    const changed = /parent 1 .*content-hash check failed: tensor "b" hashes to/;
    const m = (await openSlmRange(p, 'parent 1', { verify: 'as-read' }))!;
    try {
      await m.source.read('a', 0, 32);
      await expect(m.source.read('b', 0, 12)).rejects.toThrow(changed);
    } finally {
      await m.close();
    }
    const n = (await openSlmRange(p, 'parent 1', { verify: 'as-read' }))!;
    try {
      await expect(n.verify()).rejects.toThrow(changed);
      expect(() => n.hash).toThrow(/verify/);
    } finally {
      await n.close();
    }
  });

  it('readLent: chunks read into reused memory, each buffer back only once the hash workers are done with it', async () => {
    // 4 tensors of 4 MiB, read in 1 MiB chunks: the reads outrun one hash worker, so a buffer
    // given back while its bytes still wait to be hashed would be overwritten under the hash.
    const big = Array.from({ length: 4 }, (_, k) =>
      fromFloat32(
        `t${k}`,
        [1 << 20],
        Float32Array.from({ length: 1 << 20 }, (_, i) => Math.sin(i * 0.37 + k)),
      ),
    );
    const file = writeSlm(big, { species: speciesId(speciesSignature(big, '', [])), graph: '', vocabulary: [] });
    const p = join(dir, 'big.slm');
    writeFileSync(p, file);
    const whole = readSlm(file);
    // A pool of buffers that scribbles over each one as it comes back, and hands it out again first.
    const free: Uint8Array[] = [];
    let taken = 0;
    let made = 0;
    let out = 0;
    const buffers: ReadBuffers = {
      take(n) {
        taken++;
        out++;
        const b = free.pop() ?? (made++, new Uint8Array(new SharedArrayBuffer(1 << 20)));
        return n <= b.length ? b.subarray(0, n) : null;
      },
      give(b) {
        out--;
        b.fill(0x5a);
        free.push(new Uint8Array(b.buffer));
      },
    };
    const hashers = new HashWorkers(1);
    const m = (await openSlmRange(p, 'parent 0', { verify: 'as-read', hashers, buffers }))!;
    try {
      const chunk = 1 << 20;
      for (const t of whole.tensors)
        for (let o = 0; o < t.data.length; o += chunk) {
          const lent = await m.source.readLent!(t.name, o, chunk);
          expect(Buffer.compare(lent.bytes, t.data.subarray(o, o + chunk))).toBe(0);
          lent.give();
          lent.give(); // a second give is a no-op
        }
      expect(await m.verify()).toBe(whole.hash);
      expect(taken).toBe(16);
      expect(made, 'buffers were reused').toBeLessThan(16);
      expect(out, 'every buffer came back').toBe(0);
    } finally {
      await m.close();
      await hashers.terminate();
    }
  });

  it('gives null for what is not a one-file .slm (plain safetensors, a folder): the caller reads it whole', async () => {
    const p = join(dir, 'plain.safetensors');
    writeFileSync(p, serializeSafetensors(tensors));
    expect(await openSlmRange(p, 'parent 0')).toBeNull();
    expect(await openSlmRange(dir, 'parent 0')).toBeNull();
  });
});
