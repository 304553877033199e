/**
 * Tests only: the tiny digits family written as a starter catalog, and the lab round of one-hot
 * blends that the lab, exit-check and hostile-input tests run over it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildDigits, DIGITS_TINY } from '../scripts/starter/digits.ts';

/** The digits parents in catalog order. */
export const DIGITS_PARENTS = ['digits-base', 'digits-rotated', 'digits-thick', 'digits-noisy'];

/** Write the tiny digits family and `catalog.json` into `dir`; returns suite id → pinned hash. */
export function writeTinyDigits(dir: string): Record<string, string> {
  const build = buildDigits(DIGITS_TINY);
  for (const [rel, bytes] of build.files) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify({ version: 1, families: [build.entry] }));
  return Object.fromEntries(build.entry.suites.map((s: { id: string; hash: string }) => [s.id, s.hash]));
}

/**
 * A round of one-hot blends over the digits parents: each is one parent unchanged, so one of them
 * equals the best parent exactly. The policy's primary objective is mixed accuracy at `margin`,
 * with test accuracy as a guardrail; `direction` min is a perverse policy.
 */
export function oneHotBlendRound(
  pins: Record<string, string>,
  opts: { margin?: number; direction?: 'max' | 'min' } = {},
): Record<string, unknown> {
  const { margin = 0, direction = 'max' } = opts;
  const P = DIGITS_PARENTS;
  const oneHot = (k: number) => P.map((_, i) => (i === k ? 1 : 0));
  return {
    kind: 'lab-round',
    schemaVersion: 1,
    slot: 'digits',
    catalog: 'catalog.json',
    family: 'digits',
    champion: 'digits-base',
    parents: P,
    recipes: P.map((_, k) => ({ operator: 'blend', parents: P, params: { weights: oneHot(k), normalize: true }, seed: k })),
    suites: { mixed: 'digits-mixed', test: 'digits-test' },
    policy: {
      kind: 'policy',
      schemaVersion: 1,
      allowlist: ['blend'],
      primary: { suite: 'mixed', metric: 'accuracy', direction, margin },
      guardrails: [{ suite: 'test', metric: 'accuracy', direction, tolerance: 1 }],
      ceilings: {},
      suites: { mixed: pins['digits-mixed'], test: pins['digits-test'] },
    },
  };
}
