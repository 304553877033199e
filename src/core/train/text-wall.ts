/**
 * The wall between a language model's training text and the texts it is judged on. Row equality
 * of model inputs (spec.ts refuseSuiteOverlap) suits classifiers; for text, a short shared window
 * is chance ("of the"), so the unit here is a long one: both sides are normalised (NFKC, lower
 * case, curly quotes and dashes folded, every whitespace run one space) and a training file is
 * refused when any window of WALL_WINDOW bytes of its UTF-8 occurs in a suite text. Windows are
 * found by a Rabin–Karp hash over every byte offset and each hit is confirmed byte by byte, so a
 * refusal is never a hash collision. A suite text shorter than the window is compared whole.
 */
import { SpecError } from './spec.ts';

/** 64 bytes: about a dozen English words, which two unrelated texts do not share by chance. */
export const WALL_WINDOW = 64;

export interface NamedText {
  name: string;
  text: string;
}

export function normalizeForWall(text: string): Uint8Array {
  const s = text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc`]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/\s+/g, ' ')
    .trim();
  return new TextEncoder().encode(s);
}

const P1 = 1_000_000_007;
const P2 = 998_244_353;
const BASE = 257;

/** Hashes of every `w`-byte window of `b` (index i = window starting at byte i), as one number < 2^52. */
function windowHashes(b: Uint8Array, w: number): Float64Array {
  const n = b.length - w + 1;
  if (n <= 0) return new Float64Array(0);
  let top1 = 1;
  let top2 = 1;
  for (let i = 0; i < w - 1; i++) {
    top1 = (top1 * BASE) % P1;
    top2 = (top2 * BASE) % P2;
  }
  const out = new Float64Array(n);
  let h1 = 0;
  let h2 = 0;
  for (let i = 0; i < b.length; i++) {
    if (i >= w) {
      h1 = (h1 - ((b[i - w] * top1) % P1) + P1) % P1;
      h2 = (h2 - ((b[i - w] * top2) % P2) + P2) % P2;
    }
    h1 = (h1 * BASE + b[i]) % P1;
    h2 = (h2 * BASE + b[i]) % P2;
    if (i >= w - 1) out[i - w + 1] = h1 * 4_194_304 + (h2 & 0x3fffff);
  }
  return out;
}

function sameBytes(a: Uint8Array, i: number, b: Uint8Array, j: number, w: number): boolean {
  for (let k = 0; k < w; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

export interface WallReport {
  window: number;
  /** Per suite text: its name, normalised bytes and windows checked. */
  checked: { name: string; bytes: number; windows: number }[];
}

/**
 * Refuse when a training (or validation) file shares a normalised WALL_WINDOW-byte window with a
 * suite text; the error names both files and the shared text's offsets (never more than the window).
 */
export function refuseTextOverlap(files: readonly NamedText[], suites: readonly NamedText[], window = WALL_WINDOW): WallReport {
  const checked: WallReport['checked'] = [];
  const normalized = files.map((f) => ({ name: f.name, bytes: normalizeForWall(f.text) }));
  for (const s of suites) {
    const sb = normalizeForWall(s.text);
    if (sb.length === 0) throw new SpecError(`suite text ${s.name} is empty after normalisation`);
    if (sb.length < window) {
      for (const f of normalized) {
        const at = indexOfBytes(f.bytes, sb);
        if (at >= 0)
          throw new SpecError(
            `${f.name} contains the whole of suite text ${s.name} (at normalised byte ${at}); training data must be kept apart from the suites`,
          );
      }
      checked.push({ name: s.name, bytes: sb.length, windows: 1 });
      continue;
    }
    const hs = windowHashes(sb, window);
    const first = new Map<number, number>();
    hs.forEach((h, j) => {
      if (!first.has(h)) first.set(h, j);
    });
    for (const f of normalized) {
      const hf = windowHashes(f.bytes, window);
      for (let i = 0; i < hf.length; i++) {
        const j = first.get(hf[i]);
        if (j === undefined) continue;
        // Confirm against every suite window with this hash (collisions are ~2^-52, but cheap to rule out).
        for (let k = j; k < hs.length; k++) {
          if (hs[k] !== hf[i] || !sameBytes(f.bytes, i, sb, k, window)) continue;
          throw new SpecError(
            `${f.name} shares ${window} bytes (normalised byte ${i}) with suite text ${s.name} (byte ${k}): "${new TextDecoder().decode(f.bytes.subarray(i, i + Math.min(window, 40)))}…"; training data must be kept apart from the suites`,
          );
        }
      }
    }
    checked.push({ name: s.name, bytes: sb.length, windows: hs.length });
  }
  return { window, checked };
}
