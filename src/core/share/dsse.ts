/**
 * DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1) signed with one ECDSA P-256 key,
 * as the OpenSSF model-signing format wraps its in-toto statement.
 *
 * - PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN the ASCII decimal
 *   byte length, SP one space (0x20); the signature is over those bytes.
 * - `payload` and `sig` are standard base64 with padding (the spec's JSON envelope).
 * - The signature is ECDSA P-256 over SHA-256 in IEEE P1363 form (r ‖ s, 64 bytes), as WebCrypto
 *   gives it; sigstore's tools write ASN.1 DER, so a verifier outside the garden converts first.
 * - `keyid` is the garden's key id: the first 16 hex digits of the SHA-256 of the raw public point.
 *
 * Keys and signatures go through the ledger's helpers (src/core/lab/signing.ts: WebCrypto,
 * browsers and Node alike); a bundle key is one P-256 pair, kept as a JWK.
 */
import { printable } from '../format/printable.ts';
import {
  createSigner,
  fromBase64url,
  generateKeyring,
  generateSealedKeyring,
  keyId,
  SIGNING_ZONES,
  toBase64url,
  verifySignature,
  type Keyring,
  type SealedKeyring,
  type SigningZone,
} from '../lab/signing.ts';

export class DsseError extends Error {
  override name = 'DsseError';
}

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}

const enc = new TextEncoder();

/** Pre-authentication encoding, byte for byte as the DSSE spec writes it. */
export function pae(payloadType: string, body: Uint8Array): Uint8Array {
  const type = enc.encode(payloadType);
  const head = enc.encode(`DSSEv1 ${type.length} ${payloadType} ${body.length} `);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** Standard base64 with padding, through the ledger's base64url. */
export function toBase64(b: Uint8Array): string {
  const s = toBase64url(b).replace(/-/g, '+').replace(/_/g, '/');
  return s + '='.repeat((4 - (s.length % 4)) % 4);
}

export function fromBase64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new DsseError('not standard base64');
  const b = fromBase64url(s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));
  // One encoding per byte string: a base64 with stray low bits would let two texts carry one payload.
  if (toBase64(b) !== s) throw new DsseError('not canonical base64');
  return b;
}

/* ------------------------------------------------------------------ keys */

/** A P-256 public key as a JWK (RFC 7517/7518), with the garden's key id as `kid`. */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
}
/** The private key file: the public JWK plus `d`. */
export interface PrivateJwk extends PublicJwk {
  d: string;
}

/** The raw uncompressed point (base64url) of a JWK, as the ledger's helpers take it. */
export function rawPoint(jwk: Pick<PublicJwk, 'x' | 'y'>): string {
  const x = fromBase64url(jwk.x);
  const y = fromBase64url(jwk.y);
  if (x.length !== 32 || y.length !== 32) throw new DsseError("the JWK's x and y are not 32-byte P-256 coordinates");
  const p = new Uint8Array(65);
  p[0] = 4;
  p.set(x, 1);
  p.set(y, 33);
  return toBase64url(p);
}

/** Check a parsed JWK file: a P-256 public key, and with `d` when `private` is asked. */
export function checkJwk(json: unknown, want: 'public'): PublicJwk;
export function checkJwk(json: unknown, want: 'private'): PrivateJwk;
export function checkJwk(json: unknown, want: 'public' | 'private'): PublicJwk | PrivateJwk {
  const j = json as Partial<PrivateJwk> | null;
  if (!j || typeof j !== 'object' || j.kty !== 'EC' || j.crv !== 'P-256' || typeof j.x !== 'string' || typeof j.y !== 'string')
    throw new DsseError('not a P-256 JWK (kty "EC", crv "P-256", x, y)');
  const raw = rawPoint(j as PublicJwk);
  const kid = keyId(raw);
  if (j.kid !== undefined && j.kid !== kid) throw new DsseError(`the JWK's kid ${String(j.kid)} is not its key's id ${kid}`);
  const pub: PublicJwk = { kty: 'EC', crv: 'P-256', x: j.x, y: j.y, kid };
  if (want === 'public') return pub;
  if (typeof j.d !== 'string' || fromBase64url(j.d).length !== 32)
    throw new DsseError('the JWK has no private part "d"; a signing key file is needed');
  return { ...pub, d: j.d };
}

export function publicJwk(k: PublicJwk): PublicJwk {
  return { kty: 'EC', crv: 'P-256', x: k.x, y: k.y, kid: k.kid };
}

/** A new signing key (the ledger's keyring generator, one zone's pair). */
export async function generateKey(): Promise<PrivateJwk> {
  const ring = await generateKeyring();
  const priv = ring.private.evaluation as Partial<PrivateJwk>;
  return checkJwk({ kty: 'EC', crv: 'P-256', x: priv.x, y: priv.y, d: priv.d }, 'private');
}

/**
 * A signing key whose private half is a non-extractable CryptoKey (the app keeps it in IndexedDB,
 * which stores CryptoKeys by structured clone): no script can read its bytes. The public half is a JWK.
 */
export interface SealedKey {
  format: 'slm-garden-sealed-bundle-key';
  public: PublicJwk;
  private: SealedKeyring['private'][SigningZone];
}

/** The public JWK of a raw uncompressed P-256 point (base64url, 65 bytes). */
function jwkOfPoint(raw: string): PublicJwk {
  const p = fromBase64url(raw);
  return checkJwk({ kty: 'EC', crv: 'P-256', x: toBase64url(p.subarray(1, 33)), y: toBase64url(p.subarray(33, 65)) }, 'public');
}

/** A new non-extractable signing key (the ledger's sealed keyring generator, one zone's pair). */
export async function generateSealedKey(): Promise<SealedKey> {
  const ring = await generateSealedKeyring();
  return { format: 'slm-garden-sealed-bundle-key', public: jwkOfPoint(ring.public.evaluation), private: ring.private.evaluation };
}

/** Check a stored sealed key: a P-256 public JWK and a non-extractable private CryptoKey. */
export function checkSealedKey(v: unknown): SealedKey {
  const k = v as Partial<SealedKey> | null;
  if (!k || typeof k !== 'object' || k.format !== 'slm-garden-sealed-bundle-key')
    throw new DsseError('not a sealed bundle key (format "slm-garden-sealed-bundle-key")');
  const pub = checkJwk(k.public, 'public');
  const priv = k.private as { type?: string; extractable?: boolean } | undefined;
  if (!priv || priv.type !== 'private' || priv.extractable !== false)
    throw new DsseError('the sealed bundle key is not a non-extractable private CryptoKey');
  return { format: 'slm-garden-sealed-bundle-key', public: pub, private: k.private as SealedKey['private'] };
}

const everyZone = <T>(v: T) => Object.fromEntries(SIGNING_ZONES.map((z) => [z, v])) as Record<SigningZone, T>;

/** The ledger's signer over one key: every zone holds the same pair. */
async function signerOf(key: PrivateJwk | SealedKey) {
  if ('format' in key) {
    const ring: SealedKeyring = {
      format: 'slm-garden-sealed-keyring',
      version: 1,
      public: everyZone(rawPoint(key.public)),
      private: everyZone(key.private),
    };
    return createSigner(ring);
  }
  const jwk: Record<string, unknown> = { kty: 'EC', crv: 'P-256', x: key.x, y: key.y, d: key.d, ext: false };
  const ring: Keyring = { format: 'slm-garden-keyring', version: 1, public: everyZone(rawPoint(key)), private: everyZone(jwk) };
  return createSigner(ring);
}

/* ------------------------------------------------------------------ envelopes */

/** Sign with a key file's JWK (the CLI) or a sealed, non-extractable key (the app). */
export async function signEnvelope(payloadType: string, body: Uint8Array, key: PrivateJwk | SealedKey): Promise<DsseEnvelope> {
  const signer = await signerOf(key);
  const s = await signer.sign('evaluation', pae(payloadType, body));
  return { payloadType, payload: toBase64(body), signatures: [{ keyid: s.key, sig: toBase64(fromBase64url(s.value)) }] };
}

/** Check an envelope's shape; returns it typed, or throws one line. */
export function checkEnvelope(json: unknown): DsseEnvelope {
  const e = json as Partial<DsseEnvelope> | null;
  if (!e || typeof e !== 'object' || typeof e.payloadType !== 'string' || typeof e.payload !== 'string' || !Array.isArray(e.signatures))
    throw new DsseError('not a DSSE envelope (payloadType, payload, signatures)');
  for (const s of e.signatures)
    if (!s || typeof s !== 'object' || typeof (s as DsseSignature).sig !== 'string' || typeof (s as DsseSignature).keyid !== 'string')
      throw new DsseError('a DSSE signature needs "keyid" and "sig"');
  return e as DsseEnvelope;
}

export type EnvelopeVerdict = { ok: true; keyid: string; body: Uint8Array } | { ok: false; reason: string };

/**
 * Verify an envelope against trusted public keys: ok when one signature by a trusted key verifies
 * over PAE(payloadType, payload). The reason names what failed.
 */
export async function verifyEnvelope(env: DsseEnvelope, trusted: readonly PublicJwk[]): Promise<EnvelopeVerdict> {
  let body: Uint8Array;
  try {
    body = fromBase64(env.payload);
  } catch (e) {
    return { ok: false, reason: `the envelope's payload is ${(e as Error).message}` };
  }
  if (env.signatures.length === 0) return { ok: false, reason: 'the envelope carries no signature' };
  const byId = new Map(trusted.map((k) => [k.kid, k]));
  const message = pae(env.payloadType, body);
  for (const s of env.signatures) {
    const k = byId.get(s.keyid);
    if (!k) continue;
    let sig: Uint8Array;
    try {
      sig = fromBase64(s.sig);
    } catch {
      return { ok: false, reason: `the signature by key ${s.keyid} is not standard base64` };
    }
    const good = await verifySignature(rawPoint(k), message, { zone: 'evaluation', key: k.kid, value: toBase64url(sig) });
    if (good) return { ok: true, keyid: k.kid, body };
    return { ok: false, reason: `the signature by key ${k.kid} does not verify: the envelope was changed after signing` };
  }
  return {
    ok: false,
    reason: `signed by an unknown key (${env.signatures.map((s) => printable(String(s.keyid))).join(', ')}); trusted: ${trusted.map((k) => k.kid).join(', ') || 'none'}`,
  };
}
