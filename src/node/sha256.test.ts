import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { nobleSha256, setSha256Provider, sha256Hex, sha256HexAsync, sha256Provider, sha256Stream } from '../core/hash.ts';
import { installNodeSha256, nodeSha256 } from './sha256.ts';
import { xorshift32 } from '../cpu/test-inputs.ts';

const bytesOf = (n: number, seed: number) => {
  const b = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = xorshift32(s);
    b[i] = s & 255;
  }
  return b;
};

describe('SHA-256 providers', () => {
  afterEach(() => installNodeSha256());

  it('the tests hash natively: the vitest setup installs node:crypto', () => {
    expect(sha256Provider()).toBe(nodeSha256);
  });

  it('native, @noble and crypto.subtle give the same digest, whole and streamed in any split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
        async (n, seed, cuts) => {
          const b = bytesOf(n, seed);
          const want = createHash('sha256').update(b).digest('hex');
          expect(nodeSha256.hex(b)).toBe(want);
          expect(nobleSha256.hex(b)).toBe(want);
          const bounds = [0, ...cuts.map((c) => Math.floor(c * n)).sort((x, y) => x - y), n];
          for (const p of [nodeSha256, nobleSha256]) {
            const s = p.stream();
            for (let i = 0; i + 1 < bounds.length; i++) s.update(b.subarray(bounds[i], bounds[i + 1]));
            expect(s.digestHex()).toBe(want);
          }
          setSha256Provider(nobleSha256);
          expect(await sha256HexAsync(b)).toBe(want); // through crypto.subtle: no native provider installed
          installNodeSha256();
          expect(await sha256HexAsync(b)).toBe(want);
        },
      ),
      { numRuns: 40, seed: 5 },
    );
  });

  it('hashes views of shared memory by their own bytes only', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(64));
    shared.set(bytesOf(64, 3));
    const view = shared.subarray(8, 40);
    const want = createHash('sha256').update(Buffer.from(view)).digest('hex');
    expect(sha256Hex(view)).toBe(want);
    setSha256Provider(nobleSha256);
    expect(sha256Hex(view)).toBe(want);
    expect(await sha256HexAsync(view)).toBe(want);
    const s = sha256Stream();
    s.update(view);
    expect(s.digestHex()).toBe(want);
  });
});
