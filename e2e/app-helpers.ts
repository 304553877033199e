/** Shared steps of the app specs: drawing and asking, and checking a list of checks really passed. */
import { expect, type Locator, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';

/** Draw a "1": one vertical stroke. */
export async function drawOne(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByTestId('draw-pad').scrollIntoViewIfNeeded();
  const box = (await page.getByTestId('draw-pad').boundingBox())!;
  const x = box.x + box.width / 2;
  await page.mouse.move(x, box.y + 40);
  await page.mouse.down();
  for (let i = 1; i <= 20; i++) await page.mouse.move(x, box.y + 40 + i * 10);
  await page.mouse.up();
}

/** Breed examples/recipe.json in the app: task delta, λ = 0.5 (or `lambda`), seed 1, the base and the three specialists. */
export async function breedExampleRecipe(page: Page, lambda = '0.5'): Promise<void> {
  await page.getByTestId('operator-select').selectOption('task-delta');
  for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
    await page.getByLabel(`Select ${name}`).check();
  await page.getByTestId('param-lambda').fill(lambda);
  await page.getByTestId('breed-button').click();
}

/** Draw a "1" and send it through the router. */
export async function ask(page: Page): Promise<void> {
  await drawOne(page);
  await page.getByTestId('ask-button').click();
}

/**
 * A list of checks (the runtime smoke, the gates) is rendered, has at least `atLeast` items, and
 * every item passed: no failed and no pending item. (A count of `li.fail` alone is also 0 when
 * the list is not there at all.)
 */
export async function expectAllPassed(list: Locator, atLeast: number, names: readonly string[] = []): Promise<void> {
  await expect(list).toBeVisible();
  await expect(list.locator('li:not(.ok)')).toHaveCount(0);
  await expect.poll(() => list.locator('li.ok').count()).toBeGreaterThanOrEqual(atLeast);
  for (const name of names) await expect(list.locator('li.ok', { hasText: name }).first()).toBeVisible();
}

/** The runtime smoke's four checks (src/core/eval/smoke.ts). */
export const SMOKE_CHECKS = ['runs:', 'shape:', 'finite:', 'repeatable:'] as const;

/** The starter base as a plain safetensors file (no garden metadata), its weights edited by `edit`. */
export function plainSafetensors(
  edit: (header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>, data: Buffer) => void,
): Buffer {
  const slm = readFileSync('public/starter/digits/base.slm');
  const n = Number(slm.readBigUInt64LE(0));
  const header = JSON.parse(slm.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  const data = Buffer.from(slm.subarray(8 + n));
  edit(header, data);
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json, 'utf8'), data]);
}

/** Axe's serious and critical violations on the page as it is now (under the app's own CSP), one line each. */
export async function seriousViolations(page: Page) {
  const r = await new AxeBuilder({ page }).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id}: ${v.help} (${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')})`,
    );
}
