/**
 * Validation on every read: each document is checked against its JSON Schema (precompiled by ajv,
 * see generate.ts) after a scan for prototype-polluting keys. Unknown keys are refused by the
 * schemas (additionalProperties: false). Errors are one line naming the kind, path and problem.
 */
import * as V from './validators.generated.ts';
import { exportName } from './names.ts';
import {
  DOCUMENT_KINDS,
  MANIFEST_KINDS,
  isManifestKind,
  type LabRoundFile,
  type Manifest,
  type ManifestKind,
  type ManifestOf,
  type Policy,
} from './kinds.ts';
import { ManifestError, findUnsafeKey, parseStrictJson } from './strict-json.ts';
import { describeAjvErrors, type ValidateFn } from './ajv-errors.ts';

const VALIDATORS = V as unknown as Record<string, ValidateFn>;

/** Validate any known document (a manifest kind, 'policy' or 'lab-round') against its schema. */
export function validateDocument<T = unknown>(json: unknown, expectedKind?: string): T {
  const unsafe = findUnsafeKey(json);
  if (unsafe) throw new ManifestError(`refused: ${unsafe}`);
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new ManifestError(`a manifest must be a JSON object with a "kind"; valid kinds: ${DOCUMENT_KINDS.join(', ')}`);
  const kind = (json as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !DOCUMENT_KINDS.includes(kind)) {
    throw new ManifestError(`unknown manifest kind ${JSON.stringify(kind ?? null)}; valid kinds: ${DOCUMENT_KINDS.join(', ')}`);
  }
  if (expectedKind !== undefined && kind !== expectedKind)
    throw new ManifestError(`expected a ${expectedKind} manifest, got kind "${kind}"`);
  const fn = VALIDATORS[exportName(kind)];
  if (!fn(json)) throw new ManifestError(`invalid ${kind} manifest: ${describeAjvErrors(fn.errors ?? [])}`);
  return json as T;
}

/** Validate one of the thirteen manifest kinds. Throws ManifestError naming the path; returns the typed manifest. */
export function validateManifest(json: unknown): Manifest;
export function validateManifest<K extends ManifestKind>(json: unknown, kind: K): ManifestOf<K>;
export function validateManifest(json: unknown, kind?: ManifestKind): Manifest {
  const k = (json as { kind?: unknown } | null)?.kind;
  if (json !== null && typeof json === 'object' && !isManifestKind(k)) {
    throw new ManifestError(`unknown manifest kind ${JSON.stringify(k ?? null)}; valid kinds: ${Object.keys(MANIFEST_KINDS).join(', ')}`);
  }
  return validateDocument<Manifest>(json, kind);
}

/** Parse strict JSON text (duplicate and prototype-polluting keys refused) and validate it. */
export function parseManifest(text: string): Manifest;
export function parseManifest<K extends ManifestKind>(text: string, kind: K): ManifestOf<K>;
export function parseManifest(text: string, kind?: ManifestKind): Manifest {
  const json = parseStrictJson(text);
  return kind ? (validateManifest(json, kind) as Manifest) : validateManifest(json);
}

export function validatePolicy(json: unknown): Policy {
  return validateDocument<Policy>(json, 'policy');
}

export function parsePolicy(text: string): Policy {
  return validatePolicy(parseStrictJson(text, 'policy'));
}

export function parseLabRound(text: string): LabRoundFile {
  return validateDocument<LabRoundFile>(parseStrictJson(text, 'lab round'), 'lab-round');
}
