/**
 * Strict JSON for manifests: JSON.parse would keep the last of duplicate keys silently and turn a
 * "__proto__" key into a prototype-shaped own property; here both are refused with the path.
 */
export class ManifestError extends Error {
  override name = 'ManifestError';
}

/** Keys that could pollute prototypes when a parsed object is spread or merged. */
export const FORBIDDEN_KEYS = Object.freeze(['__proto__', 'constructor', 'prototype'] as const);

function isForbidden(key: string): boolean {
  return (FORBIDDEN_KEYS as readonly string[]).includes(key);
}

/** Parse JSON text, refusing duplicate keys and prototype-polluting keys anywhere. */
export function parseStrictJson(text: string, what = 'manifest'): unknown {
  try {
    JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${what} is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  // The text is valid JSON, so a small scanner only has to track keys and paths.
  const stack: { keys: Set<string> | null; path: string; index: number }[] = [];
  let pendingKey: string | null = null;
  let i = 0;
  const here = () => {
    const top = stack[stack.length - 1];
    if (!top) return '$';
    return top.keys ? `${top.path}.${pendingKey}` : `${top.path}[${top.index}]`;
  };
  let expectKey = false;
  while (i < text.length) {
    const c = text[i];
    if (c === '{' || c === '[') {
      const path = here();
      stack.push({ keys: c === '{' ? new Set() : null, path, index: 0 });
      expectKey = c === '{';
      i++;
    } else if (c === '}' || c === ']') {
      stack.pop();
      i++;
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top && !top.keys) top.index++;
      expectKey = !!top?.keys;
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const top = stack[stack.length - 1]!;
        if (isForbidden(key)) throw new ManifestError(`${what}: key "${key}" at ${top.path} is refused (it could pollute prototypes)`);
        if (top.keys!.has(key)) throw new ManifestError(`${what}: duplicate key "${key}" at ${top.path}`);
        top.keys!.add(key);
        pendingKey = key;
        expectKey = false;
      }
      i = j + 1;
    } else {
      i++;
    }
  }
  return JSON.parse(text);
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
