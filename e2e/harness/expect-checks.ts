/**
 * The kernel specs' verdict on a harness's checks (e2e/harness/train-checks.ts): every figure
 * logged beside its bound first, then each one expected within it, so that a failing run still
 * shows all of them.
 */
import { expect } from '@playwright/test';
import type { Check } from './train-checks.ts';

export function expectWithin(checks: Check[]): void {
  for (const c of checks)
    console.log(`${c.value <= c.bound ? 'ok  ' : 'FAIL'} ${c.name} (n=${c.n}): ${c.measure} ${c.value.toPrecision(3)} ≤ ${c.bound}`);
  for (const c of checks)
    expect(c.value, `${c.name}: ${c.measure} error ${c.value} over the bound ${c.bound}`).toBeLessThanOrEqual(c.bound);
}
