/**
 * Manifests: immutable, content-addressed JSON documents. A manifest is identified by the SHA-256
 * of its canonical JSON (sorted keys, no whitespace; src/core/hash.ts).
 */
import { canonicalJson, hashJson, type Sha256Hex } from '../hash.ts';
import { SCHEMA_VERSION, type ManifestBodies, type ManifestKind, type ManifestOf, type Manifest } from './kinds.ts';
import { validateManifest } from './validate.ts';
import { ManifestError } from './strict-json.ts';

export * from './kinds.ts';
export { ManifestError, FORBIDDEN_KEYS, parseStrictJson, findUnsafeKey } from './strict-json.ts';
export { validateManifest, validateDocument, validatePolicy, parseManifest, parsePolicy, parseLabRound } from './validate.ts';

/** Build a manifest of `kind` from its body, validate it, and return it deep-frozen. */
export function makeManifest<K extends ManifestKind>(kind: K, body: ManifestBodies[K]): ManifestOf<K> {
  if (body && typeof body === 'object' && ('kind' in body || 'schemaVersion' in body)) {
    throw new ManifestError(`makeManifest(${kind}): the body must not carry "kind" or "schemaVersion"; they are added`);
  }
  const m = { kind, schemaVersion: SCHEMA_VERSION, ...structuredCloneJson(body) } as ManifestOf<K>;
  validateManifest(m, kind);
  return deepFreeze(m);
}

/** SHA-256 of the manifest's canonical JSON: its identity. */
export function manifestHash(m: Manifest | { kind: string }): Sha256Hex {
  return hashJson(m);
}

/** The manifest's canonical JSON text (what is hashed, and what is written to files). */
export function manifestJson(m: Manifest | { kind: string }): string {
  return canonicalJson(m);
}

/** A deep copy through canonical JSON: drops undefined, refuses non-finite numbers. */
export function structuredCloneJson<T>(v: T): T {
  return JSON.parse(canonicalJson(v)) as T;
}

export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
