/** Shared steps of the app specs: drawing and asking, and checking a list of checks really passed. */
import { expect, type Locator, type Page } from '@playwright/test';

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
