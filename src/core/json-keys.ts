/**
 * The one scanner behind every strict JSON reader (safetensors headers, HF indexes, manifests,
 * recipes): JSON.parse silently keeps the last of duplicate keys and turns "__proto__" into a
 * prototype-shaped own property, so the text is scanned for both before it is trusted.
 */

/** Keys that could pollute prototypes when a parsed object is spread or merged. */
export const FORBIDDEN_KEYS = Object.freeze(['__proto__', 'constructor', 'prototype'] as const);

export interface KeyProblem {
  problem: 'duplicate' | 'forbidden';
  key: string;
  /** JSONPath-like location of the object holding the key, e.g. `$.tensors[2]`. */
  path: string;
}

/** The first duplicate or prototype-polluting key in already-valid JSON text, or null. */
export function findKeyProblem(text: string): KeyProblem | null {
  const stack: { keys: Set<string> | null; path: string; index: number }[] = [];
  let pendingKey: string | null = null;
  let expectKey = false;
  const here = () => {
    const top = stack[stack.length - 1];
    if (!top) return '$';
    return top.keys ? `${top.path}.${pendingKey}` : `${top.path}[${top.index}]`;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '{' || c === '[') {
      stack.push({ keys: c === '{' ? new Set() : null, path: here(), index: 0 });
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
        if ((FORBIDDEN_KEYS as readonly string[]).includes(key)) return { problem: 'forbidden', key, path: top.path };
        if (top.keys!.has(key)) return { problem: 'duplicate', key, path: top.path };
        top.keys!.add(key);
        pendingKey = key;
        expectKey = false;
      }
      i = j + 1;
    } else {
      i++;
    }
  }
  return null;
}

/** How deep a strict JSON document may nest ({ and [): past it, recursive readers would overflow the stack. */
export const MAX_JSON_DEPTH = 64;

/** Whether JSON text nests deeper than `max`, by one pass that skips strings (checked before it is parsed). */
export function nestsDeeper(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) i += text.charCodeAt(i) === 0x5c ? 1 : 0;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
