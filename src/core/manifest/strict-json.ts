/**
 * Strict JSON for manifests: JSON.parse would keep the last of duplicate keys silently and turn a
 * "__proto__" key into a prototype-shaped own property; here both are refused with the path.
 */
import { FORBIDDEN_KEYS, MAX_JSON_DEPTH, findKeyProblem, nestsDeeper } from '../json-keys.ts';

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export { FORBIDDEN_KEYS };

function isForbidden(key: string): boolean {
  return (FORBIDDEN_KEYS as readonly string[]).includes(key);
}

/** Parse JSON text, refusing deep nesting, duplicate keys and prototype-polluting keys anywhere. */
export function parseStrictJson(text: string, what = 'manifest'): unknown {
  // Before parsing: every reader after JSON.parse (key checks, schemas, canonical hashing) recurses.
  if (nestsDeeper(text)) throw new ManifestError(`${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${what} is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const bad = findKeyProblem(text);
  if (bad?.problem === 'forbidden')
    throw new ManifestError(`${what}: key "${bad.key}" at ${bad.path} is refused (it could pollute prototypes)`);
  if (bad) throw new ManifestError(`${what}: duplicate key "${bad.key}" at ${bad.path}`);
  return value;
}

/**
 * Refuse prototype-polluting keys, non-plain objects and non-JSON values in an in-memory value
 * (for manifests built in code rather than parsed). Returns the first problem, or null.
 */
export function findUnsafeKey(value: unknown, path = '$'): string | null {
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findUnsafeKey(value[i], `${path}[${i}]`);
      if (p) return p;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return `${path} is not a plain object`;
  for (const key of Object.keys(value)) {
    if (isForbidden(key)) return `key "${key}" at ${path} is refused (it could pollute prototypes)`;
    const p = findUnsafeKey((value as Record<string, unknown>)[key], `${path}.${key}`);
    if (p) return p;
  }
  return null;
}
