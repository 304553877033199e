/**
 * Hashing throughput in one run: the core's SHA-256 (whatever provider the bench installed, i.e.
 * node:crypto) against raw `crypto.createHash`, and the old pure-JavaScript path for scale.
 * Target (issue 22): the garden hashes at ≥ 0.5 of the platform's native SHA-256.
 */
import { createHash } from 'node:crypto';
import { nobleSha256, sha256Hex, sha256Provider, sha256Stream } from '../src/core/hash.ts';
import { fillSeeded, timeIt } from './common.ts';

export interface HashRow {
  impl: string;
  bytes: number;
  ms: number;
  /** MB/s (1e6 bytes). */
  mbps: number;
  /** mbps / raw createHash's mbps in the same run. */
  ofNative: number;
}

export const HASH_TARGET = 0.5;

export async function benchHash(o: { bytes: number; budgetMs: number; log?: (s: string) => void }): Promise<HashRow[]> {
  const data = new Uint8Array(fillSeeded(new Float32Array(o.bytes / 4), 99).buffer);
  // The old path is ~20× slower: a quarter of the bytes keeps the run short; the rate is per byte.
  const small = data.subarray(0, Math.max(1 << 20, o.bytes / 4));
  const chunk = 4 << 20;
  const cases: [string, Uint8Array, () => unknown][] = [
    ['crypto.createHash("sha256"), raw (the yardstick)', data, () => createHash('sha256').update(data).digest('hex')],
    [`sha256Hex (core, provider: ${sha256Provider().name})`, data, () => sha256Hex(data)],
    [
      `sha256Stream (core), ${chunk >> 20} MiB updates`,
      data,
      () => {
        const h = sha256Stream();
        for (let s = 0; s < data.length; s += chunk) h.update(data.subarray(s, s + chunk));
        return h.digestHex();
      },
    ],
    ['@noble/hashes (the pure-JavaScript fallback)', small, () => nobleSha256.hex(small)],
  ];
  const rows: HashRow[] = [];
  for (const [impl, bytes, fn] of cases) {
    const t = await timeIt(fn, o.budgetMs, 2, 20);
    const mbps = bytes.length / (t.ms * 1e3);
    rows.push({ impl, bytes: bytes.length, ms: t.ms, mbps, ofNative: rows.length ? mbps / rows[0].mbps : 1 });
    o.log?.(`hash: ${impl}: ${mbps.toFixed(0)} MB/s (${rows.at(-1)!.ofNative.toFixed(2)} of native)`);
  }
  return rows;
}
