/**
 * Manifest-like JSON from files: strict parsing (no duplicate keys, no __proto__ / constructor /
 * prototype anywhere), then a key check against the keys a reader knows. Unknown keys are refused,
 * not ignored, so a file cannot smuggle fields that a later version would trust.
 */
import { FormatError } from './errors.ts';
import { parseStrictJson } from './safetensors.ts';

export interface KeySpec {
  required: readonly string[];
  optional?: readonly string[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decode UTF-8 bytes, refusing invalid sequences. */
export function decodeUtf8(bytes: Uint8Array, check: 'json-keys' | 'index' = 'json-keys'): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new FormatError(check, 'file is not valid UTF-8');
  }
}

/** Refuse an object that is not a plain JSON object or whose keys are missing or unknown. */
export function checkKeys(
  value: unknown,
  spec: KeySpec,
  where: string,
  check: 'json-keys' | 'index' = 'json-keys',
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FormatError(check, `${where} is not a JSON object`);
  const o = value as Record<string, unknown>;
  const known = new Set([...spec.required, ...(spec.optional ?? [])]);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new FormatError(check, `${where} has unknown key ${JSON.stringify(k)}; valid: ${[...known].join(', ')}`);
  }
  for (const k of spec.required) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) throw new FormatError(check, `${where} is missing key ${JSON.stringify(k)}`);
  }
  return o;
}

/** Parse manifest-like JSON text: strict JSON, then the top-level key check. */
export function parseManifestJson(text: string | Uint8Array, spec: KeySpec, where = 'manifest'): Record<string, unknown> {
  const s = typeof text === 'string' ? text : decodeUtf8(text);
  return checkKeys(parseStrictJson(s, 'json-keys'), spec, where);
}
