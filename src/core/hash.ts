/**
 * Content addressing: SHA-256 over canonical bytes. Manifests hash their canonical JSON (sorted
 * keys, no insignificant whitespace), tensors hash their raw little-endian bytes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

export type Sha256Hex = string;

export function sha256Hex(bytes: Uint8Array): Sha256Hex {
  return bytesToHex(sha256(bytes));
}

/** Incremental hashing for streamed data (shards, chunked tensors). */
export function sha256Stream(): { update(bytes: Uint8Array): void; digestHex(): Sha256Hex } {
  const h = sha256.create();
  return {
    update: (bytes) => void h.update(bytes),
    digestHex: () => bytesToHex(h.digest()),
  };
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
      const keys = Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
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
