/**
 * Authority for the ledger: every entry is signed (ECDSA P-256 over SHA-256, WebCrypto
 * `crypto.subtle`, the same in browsers and Node >= 20) by the key of the zone that may write it,
 * and the zones' public keys are pinned in the ledger's policy entries.
 *
 * - Zones and what each may write: ZONE_WRITES. The audit zone only appends; the candidate zone
 *   writes no entry.
 * - Pinning: the first policy-change of a signed ledger carries `keys` (the three zones' public
 *   keys) and is signed by the policy key it pins. A later policy-change may rotate the keys; it is
 *   signed by the policy key in force before it. An entry signed by a key that is not the current
 *   key of its zone is refused (a rotated key by name, any other as unknown).
 * - A garden that keeps a keyring checks the first pin against the keyring's public keys: a ledger
 *   re-chained and re-signed under other keys is refused.
 * - The anchor (count and head hash, signed) is kept apart from the ledger; a truncated ledger,
 *   even with its head rewritten, no longer reaches the anchored head.
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import type { LedgerEntryType } from '../manifest/kinds.ts';

/** Which entry types each signing zone may write. */
export const ZONE_WRITES = Object.freeze({
  policy: Object.freeze(['policy-change', 're-baseline', 'approval'] as const),
  // A storage decision (archive, restore, delete) changes what the pool offers and the slot may route: the release zone's.
  release: Object.freeze(['release', 'rollback', 'storage'] as const),
  evaluation: Object.freeze(['admission', 'allele', 'fitness-evidence', 'proposal'] as const),
});
export type SigningZone = keyof typeof ZONE_WRITES;
export const SIGNING_ZONES = Object.freeze(Object.keys(ZONE_WRITES) as SigningZone[]);

export function zoneOf(type: LedgerEntryType | string): SigningZone | null {
  for (const z of SIGNING_ZONES) if ((ZONE_WRITES[z] as readonly string[]).includes(type)) return z;
  return null;
}

/** The zones' public keys: base64url of the raw uncompressed P-256 point (65 bytes). */
export type ZoneKeys = Record<SigningZone, string>;

/** A record's signature: which zone signed, with which key (its id), and the P1363 r‖s value. */
export interface RecordSignature {
  zone: SigningZone;
  /** keyId of the public key. */
  key: string;
  /** base64url of the 64-byte signature. */
  value: string;
}

/** The anchor: the ledger's length and head hash, signed, kept apart from the ledger. */
export interface LedgerAnchor {
  format: typeof ANCHOR_FORMAT;
  version: 1;
  length: number;
  head: Sha256Hex;
  sig: RecordSignature;
}
export const ANCHOR_FORMAT = 'slm-garden-ledger-anchor' as const;

/** The minimal WebCrypto surface used here (kept apart from DOM typings, as src/core must be). */
interface CryptoKeyLike {
  readonly type: string;
}
interface Subtle {
  generateKey(alg: object, extractable: boolean, usages: string[]): Promise<{ publicKey: CryptoKeyLike; privateKey: CryptoKeyLike }>;
  importKey(format: string, data: unknown, alg: object, extractable: boolean, usages: string[]): Promise<CryptoKeyLike>;
  exportKey(format: string, key: CryptoKeyLike): Promise<ArrayBuffer | Record<string, unknown>>;
  sign(alg: object, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
  verify(alg: object, key: CryptoKeyLike, sig: Uint8Array, data: Uint8Array): Promise<boolean>;
}

export class SigningError extends Error {
  override name = 'SigningError';
}

function subtle(): Subtle {
  const s = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;
  if (!s) throw new SigningError('WebCrypto (crypto.subtle) is not available: the ledger cannot be signed or verified here');
  return s;
}

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN = { name: 'ECDSA', hash: 'SHA-256' };
const enc = new TextEncoder();

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export function toBase64url(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + (i + 1 < b.length ? B64[(n >> 6) & 63] : '') + (i + 2 < b.length ? B64[n & 63] : '');
  }
  return out;
}
export function fromBase64url(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new SigningError('not base64url');
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const c of s) {
    acc = (acc << 6) | B64.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}

/** The id of a public key: the first 16 hex digits of the SHA-256 of its raw point. */
export function keyId(publicKey: string): string {
  return sha256Hex(fromBase64url(publicKey)).slice(0, 16);
}

/** What a record's signature covers: the entry hash, domain-separated. */
export const entryMessage = (hash: Sha256Hex) => enc.encode(`slm-garden-ledger-entry:${hash}`);
export const anchorMessage = (length: number, head: Sha256Hex) => enc.encode(`slm-garden-ledger-anchor:${length}:${head}`);

/** A keyring: each zone's private key (JWK) and public key. Kept by the garden, never in the ledger. */
export interface Keyring {
  format: 'slm-garden-keyring';
  version: 1;
  public: ZoneKeys;
  private: Record<SigningZone, Record<string, unknown>>;
  /** Public keys this garden held before a rotation, oldest first: history[0] is what its ledger first pinned. */
  history?: ZoneKeys[];
}

/** The keys a garden's ledger must have pinned first: the oldest it ever held. */
export const rootKeys = (ring: Keyring | SealedKeyring): ZoneKeys => ring.history?.[0] ?? ring.public;

export async function generateKeyring(): Promise<Keyring> {
  const s = subtle();
  const pub: Partial<ZoneKeys> = {};
  const priv: Partial<Record<SigningZone, Record<string, unknown>>> = {};
  for (const z of SIGNING_ZONES) {
    const k = await s.generateKey(ECDSA, true, ['sign', 'verify']);
    pub[z] = toBase64url(new Uint8Array((await s.exportKey('raw', k.publicKey)) as ArrayBuffer));
    priv[z] = (await s.exportKey('jwk', k.privateKey)) as Record<string, unknown>;
  }
  return { format: 'slm-garden-keyring', version: 1, public: pub as ZoneKeys, private: priv as Keyring['private'] };
}

export function checkKeyring(json: unknown): Keyring {
  const k = json as Partial<Keyring> | null;
  if (!k || typeof k !== 'object' || k.format !== 'slm-garden-keyring' || k.version !== 1 || !k.public || !k.private)
    throw new SigningError('not a keyring file (format "slm-garden-keyring", version 1, public and private keys)');
  for (const z of SIGNING_ZONES) {
    if (typeof k.public[z] !== 'string' || fromBase64url(k.public[z]).length !== 65)
      throw new SigningError(`keyring: the ${z} public key is not a raw P-256 point`);
    if (!k.private[z] || typeof k.private[z] !== 'object') throw new SigningError(`keyring: no ${z} private key`);
  }
  if (k.history !== undefined && (!Array.isArray(k.history) || !k.history.every((h) => checkZoneKeys(h) !== null)))
    throw new SigningError('keyring: history must be a list of zone key sets');
  return k as Keyring;
}

/**
 * A keyring whose private keys are non-extractable CryptoKeys: the key material never exists as
 * bytes a script could read or copy (the app keeps the CryptoKeys themselves in IndexedDB, which
 * stores them by structured clone). Public keys stay exportable, as WebCrypto makes them.
 */
export interface SealedKeyring {
  format: 'slm-garden-sealed-keyring';
  version: 1;
  public: ZoneKeys;
  private: Record<SigningZone, CryptoKeyLike>;
  history?: ZoneKeys[];
}

export async function generateSealedKeyring(): Promise<SealedKeyring> {
  const s = subtle();
  const pub: Partial<ZoneKeys> = {};
  const priv: Partial<Record<SigningZone, CryptoKeyLike>> = {};
  for (const z of SIGNING_ZONES) {
    const k = await s.generateKey(ECDSA, false, ['sign', 'verify']);
    pub[z] = toBase64url(new Uint8Array((await s.exportKey('raw', k.publicKey)) as ArrayBuffer));
    priv[z] = k.privateKey;
  }
  return { format: 'slm-garden-sealed-keyring', version: 1, public: pub as ZoneKeys, private: priv as SealedKeyring['private'] };
}

/** The same keys, their private halves imported as non-extractable CryptoKeys (the JWKs can then be dropped). */
export async function sealKeyring(ring: Keyring): Promise<SealedKeyring> {
  const priv: Partial<Record<SigningZone, CryptoKeyLike>> = {};
  for (const z of SIGNING_ZONES) priv[z] = await subtle().importKey('jwk', ring.private[z], ECDSA, false, ['sign']);
  const sealed: SealedKeyring = {
    format: 'slm-garden-sealed-keyring',
    version: 1,
    public: { ...ring.public },
    private: priv as SealedKeyring['private'],
  };
  if (ring.history) sealed.history = ring.history;
  return sealed;
}

export function checkSealedKeyring(v: unknown): SealedKeyring {
  const k = v as Partial<SealedKeyring> | null;
  if (!k || typeof k !== 'object' || k.format !== 'slm-garden-sealed-keyring' || k.version !== 1 || !k.public || !k.private)
    throw new SigningError('not a sealed keyring (format "slm-garden-sealed-keyring", version 1, public keys and private CryptoKeys)');
  if (checkZoneKeys(k.public) === null) throw new SigningError('sealed keyring: the public keys are not three raw P-256 points');
  for (const z of SIGNING_ZONES) {
    const key = k.private[z] as (CryptoKeyLike & { extractable?: boolean }) | undefined;
    if (!key || key.type !== 'private' || key.extractable !== false)
      throw new SigningError(`sealed keyring: the ${z} private key is not a non-extractable private CryptoKey`);
  }
  if (k.history !== undefined && (!Array.isArray(k.history) || !k.history.every((h) => checkZoneKeys(h) !== null)))
    throw new SigningError('sealed keyring: history must be a list of zone key sets');
  return k as SealedKeyring;
}

/** Signs records and anchors with a keyring's zone keys. */
export interface LedgerSigner {
  /** The keys it signs with now. */
  readonly keys: ZoneKeys;
  /** The keys the ledger must have pinned first (before any rotation). */
  readonly root: ZoneKeys;
  sign(zone: SigningZone, message: Uint8Array): Promise<RecordSignature>;
}

export async function createSigner(keyring: Keyring | SealedKeyring): Promise<LedgerSigner> {
  const s = subtle();
  const ring = keyring.format === 'slm-garden-sealed-keyring' ? keyring : await sealKeyring(keyring);
  const priv = new Map<SigningZone, CryptoKeyLike>(SIGNING_ZONES.map((z) => [z, ring.private[z]]));
  const keys = { ...ring.public };
  return {
    keys,
    root: { ...rootKeys(ring) },
    async sign(zone, message) {
      const value = new Uint8Array(await s.sign(SIGN, priv.get(zone)!, message));
      return { zone, key: keyId(keys[zone]), value: toBase64url(value) };
    },
  };
}

const imported = new Map<string, Promise<CryptoKeyLike>>();
/** Does `sig` verify `message` under the public key `publicKey`? */
export async function verifySignature(publicKey: string, message: Uint8Array, sig: RecordSignature): Promise<boolean> {
  let key = imported.get(publicKey);
  if (!key) {
    key = subtle().importKey('raw', fromBase64url(publicKey), ECDSA, true, ['verify']);
    imported.set(publicKey, key);
  }
  let value: Uint8Array;
  try {
    value = fromBase64url(sig.value);
  } catch {
    return false;
  }
  if (value.length !== 64) return false;
  try {
    return await subtle().verify(SIGN, await key, value, message);
  } catch {
    return false;
  }
}

/** Zone keys as recorded in a policy entry's payload, checked. */
export function checkZoneKeys(v: unknown): ZoneKeys | null {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).sort().join() !== [...SIGNING_ZONES].sort().join()) return null;
  for (const z of SIGNING_ZONES) {
    if (typeof o[z] !== 'string') return null;
    try {
      if (fromBase64url(o[z] as string).length !== 65) return null;
    } catch {
      return null;
    }
  }
  return o as ZoneKeys;
}
