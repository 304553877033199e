/**
 * Declared text perturbations for robustness suites. A perturbation is data: a list of steps
 * (kind + rate), applied in order, each drawing from the counter-based generator keyed by
 * (seed, stream, kind) and the character index, so the same text, steps, seed and stream always
 * give the same perturbed text, and a suite's metadata can state exactly what was done
 * (`declarePerturbation`).
 *
 * Kinds:
 * - typos: each letter, with probability `rate`, is swapped with the next letter of its word or
 *   dropped (half and half; a swap at a word's last letter becomes a drop);
 * - casing: each word (a run of non-space characters), with probability `rate`, is upper-cased
 *   or title-cased (half and half).
 */
import { randomUnit, tensorKey } from '../operators/prng.ts';

export const PERTURBATION_KINDS = Object.freeze({
  typos: {
    description: 'each letter, with probability rate, swapped with the next letter of its word or dropped',
    unit: 'letter',
    variants: 'swap|drop',
  },
  casing: { description: 'each word, with probability rate, upper-cased or title-cased', unit: 'word', variants: 'upper|title' },
} as const);
export type PerturbationKind = keyof typeof PERTURBATION_KINDS;

export interface PerturbationStep {
  kind: PerturbationKind;
  /** Probability per unit (letter or word), in [0, 1]. */
  rate: number;
}

export interface PerturbOptions {
  seed: number;
  /** Names an independent random stream (e.g. a message id), so texts get independent perturbations. */
  stream?: string;
  /**
   * Index of the text's first character in a longer text: draws are keyed by absolute position, so
   * perturbing a window gives the same decisions as perturbing the whole text (except that a swap
   * never reaches past the window's end).
   */
  offset?: number;
}

export function checkPerturbation(steps: readonly PerturbationStep[]): void {
  if (steps.length === 0) throw new Error('a perturbation needs at least one step');
  for (const s of steps) {
    if (!Object.prototype.hasOwnProperty.call(PERTURBATION_KINDS, s.kind))
      throw new Error(`unknown perturbation kind "${s.kind}"; valid: ${Object.keys(PERTURBATION_KINDS).join(', ')}`);
    if (!(s.rate >= 0 && s.rate <= 1)) throw new Error(`perturbation ${s.kind}: rate must be in [0, 1], got ${s.rate}`);
  }
}

/** The declaration stored in a suite's metadata, e.g. "typos(p=0.04/letter: swap|drop)+casing(p=0.25/word: upper|title)". */
export function declarePerturbation(steps: readonly PerturbationStep[]): string {
  checkPerturbation(steps);
  return steps.map((s) => `${s.kind}(p=${s.rate}/${PERTURBATION_KINDS[s.kind].unit}: ${PERTURBATION_KINDS[s.kind].variants})`).join('+');
}

const isLetter = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isSpace = (c: string) => c === ' ' || c === '\n' || c === '\t' || c === '\r';

function typos(text: string, rate: number, key: number, offset: number): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (!isLetter(c) || randomUnit(key, offset + i) >= rate) {
      out += c;
      continue;
    }
    const swap = randomUnit(key, offset + i, 1) < 0.5;
    if (swap && i + 1 < text.length && isLetter(text[i + 1])) {
      out += text[i + 1] + c;
      i++;
    }
    // otherwise: dropped
  }
  return out;
}

function casing(text: string, rate: number, key: number, offset: number): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (isSpace(text[i])) {
      out += text[i++];
      continue;
    }
    let j = i;
    while (j < text.length && !isSpace(text[j])) j++;
    const word = text.slice(i, j);
    if (randomUnit(key, offset + i) < rate) {
      out += randomUnit(key, offset + i, 1) < 0.5 ? word.toUpperCase() : word[0].toUpperCase() + word.slice(1).toLowerCase();
    } else out += word;
    i = j;
  }
  return out;
}

/** Apply the steps in order. Pure and deterministic in (text, steps, seed, stream, offset). */
export function perturbText(text: string, steps: readonly PerturbationStep[], opts: PerturbOptions): string {
  checkPerturbation(steps);
  const offset = opts.offset ?? 0;
  let s = text;
  for (const step of steps) {
    const key = tensorKey(opts.seed, `perturb:${opts.stream ?? ''}:${step.kind}`);
    s = step.kind === 'typos' ? typos(s, step.rate, key, offset) : casing(s, step.rate, key, offset);
  }
  return s;
}
