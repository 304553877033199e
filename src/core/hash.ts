/**
 * Content addressing: SHA-256 over canonical bytes. Manifests hash their canonical JSON (sorted
 * keys, no insignificant whitespace), tensors hash their raw little-endian bytes.
 *
 * The digest comes from one provider, installed by the platform's entry points: Node's native
 * SHA-256 (src/node/sha256.ts: the CLI, the bench, the starter build and the tests install it
 * first thing), else the pure-JavaScript @noble/hashes (browsers, whose native digest is async
 * only). sha256HexAsync uses the installed provider when there is one, else the platform's
 * crypto.subtle.digest, else @noble. Every provider gives the same digest, so content addresses
 * never depend on where they were computed.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

export type Sha256Hex = string;

/** An incremental SHA-256. */
export interface Sha256Stream {
  update(bytes: Uint8Array): void;
  digestHex(): Sha256Hex;
}

/** A synchronous SHA-256 implementation. */
export interface Sha256Provider {
  /** Who computes the digest, for receipts and the bench ("node:crypto", "@noble/hashes"). */
  readonly name: string;
  hex(bytes: Uint8Array): Sha256Hex;
  stream(): Sha256Stream;
}

/** The pure-JavaScript fallback (about 70 MB/s where native SHA-256 does over 1 GB/s). */
export const nobleSha256: Sha256Provider = Object.freeze({
  name: '@noble/hashes (JavaScript)',
  hex: (bytes: Uint8Array) => bytesToHex(sha256(bytes)),
  stream(): Sha256Stream {
    const h = sha256.create();
    return { update: (bytes) => void h.update(bytes), digestHex: () => bytesToHex(h.digest()) };
  },
});

let provider: Sha256Provider = nobleSha256;
let installed = false;

/** Make `p` the SHA-256 of this thread (a platform entry point does this once, before any hashing). */
export function setSha256Provider(p: Sha256Provider): void {
  provider = p;
  installed = p !== nobleSha256;
}

/** The provider in use now. */
export function sha256Provider(): Sha256Provider {
  return provider;
}

export function sha256Hex(bytes: Uint8Array): Sha256Hex {
  return provider.hex(bytes);
}

/** Incremental hashing for streamed data (shards, chunked tensors). */
export function sha256Stream(): Sha256Stream {
  return provider.stream();
}

interface SubtleDigest {
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
}

const subtle = (): SubtleDigest | undefined => (globalThis as { crypto?: { subtle?: SubtleDigest } }).crypto?.subtle;

/**
 * SHA-256 where waiting is possible: the installed native provider, else crypto.subtle (native in
 * browsers and workers), else @noble. The same digest as sha256Hex.
 */
export async function sha256HexAsync(bytes: Uint8Array): Promise<Sha256Hex> {
  const s = installed ? undefined : subtle();
  if (!s) return provider.hex(bytes);
  // crypto.subtle refuses views of shared memory: hash a private copy of exactly the view's bytes.
  const own = typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer ? new Uint8Array(bytes) : bytes;
  return bytesToHex(new Uint8Array(await s.digest('SHA-256', own)));
}

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, no undefined, finite
 * numbers only. Two equal values always give the same string, so the same hash.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(v: unknown, path: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new CanonicalJsonError(`${path}: non-finite number ${v} has no canonical JSON form`);
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map((x, i) => write(x, `${path}[${i}]`)).join(',') + ']';
      const keys = Object.keys(v as object)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + write((v as Record<string, unknown>)[k], `${path}.${k}`)).join(',') + '}';
    }
    default:
      throw new CanonicalJsonError(`${path}: ${typeof v} has no JSON form`);
  }
}

const encoder = new TextEncoder();

export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

export function hashJson(value: unknown): Sha256Hex {
  return sha256Hex(canonicalBytes(value));
}
