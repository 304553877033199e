/**
 * The garden as a whole: two candidates bred (task delta of the base and three specialists,
 * admitted; a whole-tensor crossover of the base and one specialist) appear in the lineage graph
 * with an edge from each parent and their badges; a node's decisions read one click (or Enter)
 * away match the candidate panel's; the Pareto front over two chosen objectives matches the
 * numbers the table and the pool show; the crossover, whose tensors are its parents', is deleted,
 * the parents keep every byte and every model still re-hashes. Axe finds nothing serious.
 */
import { test, expect, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.ts';
import { CHROMIUM } from '../scripts/ensure-chromium.mjs';
import { breedExampleRecipe, seriousViolations } from './app-helpers.ts';

test.use({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') } });

const PARENTS_1 = ['digits-base', 'digits-rotated', 'digits-thick', 'digits-noisy'];
const PARENTS_2 = ['digits-base', 'digits-rotated'];

/** The candidates' ids in the lineage graph, in the order they were bred. */
async function candidateIds(page: Page): Promise<string[]> {
  const ids = await page
    .locator('[data-testid^="lineage-node-candidate-"]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')!));
  return ids.map((t) => t.replace('lineage-node-', ''));
}

/** The Pareto table as the page shows it, and the front an independent dominance check finds in those numbers. */
async function readPareto(page: Page, dirs: ['max' | 'min', 'max' | 'min']) {
  const rows = await page.locator('[data-testid^="pareto-row-"]').evaluateAll((els) =>
    els.map((e) => ({
      id: e.getAttribute('data-testid')!.replace('pareto-row-', ''),
      x: Number(e.getAttribute('data-x')),
      y: Number(e.getAttribute('data-y')),
      front: e.getAttribute('data-front') === 'true',
      cells: [...e.querySelectorAll('td')].map((td) => td.textContent ?? ''),
    })),
  );
  const better = (a: number, b: number, d: 'max' | 'min') => (d === 'max' ? a - b : b - a);
  const dominated = (p: (typeof rows)[number]) =>
    rows.some((q) => {
      const dx = better(q.x, p.x, dirs[0]);
      const dy = better(q.y, p.y, dirs[1]);
      return dx >= 0 && dy >= 0 && (dx > 0 || dy > 0);
    });
  return { rows, front: rows.filter((p) => !dominated(p)).map((p) => p.id) };
}

test('lineage graph, Pareto review and storage per model over two bred candidates', async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });

  // Candidate 1: task delta λ = 0.5 of the base and the three specialists, evaluated and admitted.
  await breedExampleRecipe(page);
  await expect(page.getByTestId('candidate-name')).toContainText('#1 Task delta', { timeout: 60_000 });
  await page.getByTestId('evaluate-button').click();
  await expect(page.getByTestId('admit-button')).toBeEnabled({ timeout: 90_000 });
  await page.getByTestId('admit-button').click();
  await expect(page.getByTestId('registry-shadow')).toContainText('#1 Task delta');
  // Candidate 2: a whole-tensor crossover of the base and the rotated specialist (its tensors are theirs), evaluated.
  for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
    await page.getByLabel(`Select ${name}`).uncheck();
  await page.getByTestId('operator-select').selectOption('crossover');
  await page.getByLabel('Select Digits base').check();
  await page.getByLabel('Select Digits rotated specialist').check();
  await page.getByLabel(/What one draw decides/).selectOption('tensor');
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('candidate-name')).toContainText('#2 Crossover · granularity tensor', { timeout: 60_000 });
  await page.getByTestId('evaluate-button').click();
  await expect(page.getByTestId('evaluate-button')).toHaveText('Run smoke test and evaluation again', { timeout: 90_000 });

  // The lineage graph: both candidates, an edge from each recipe parent, the right badges.
  const [c1, c2] = await candidateIds(page);
  expect(c2).toBeTruthy();
  for (const p of PARENTS_1) await expect(page.getByTestId(`lineage-edge-${p}-${c1}`)).toHaveCount(1);
  for (const p of PARENTS_2) await expect(page.getByTestId(`lineage-edge-${p}-${c2}`)).toHaveCount(1);
  await expect(page.locator(`[data-testid^="lineage-edge-"][data-testid$="-${c2}"]`)).toHaveCount(2);
  await expect(page.getByTestId('lineage-node-digits-base')).toHaveAttribute('data-badges', 'source champion');
  await expect(page.getByTestId('lineage-node-digits-thick')).toHaveAttribute('data-badges', 'source');
  await expect(page.getByTestId(`lineage-node-${c1}`)).toHaveAttribute('data-badges', 'candidate admitted shadow');
  await expect(page.getByTestId(`lineage-node-${c2}`)).toHaveAttribute('data-badges', 'candidate');
  await expect(page.getByTestId(`lineage-node-${c1}`)).toHaveAccessibleName(
    /^#1 Task delta · lambda 0\.5\b.* · seed 1: candidate, admitted, shadow$/,
  );

  // One click away: the crossover's verdict, as the candidate panel gives it.
  const gates = await page
    .getByTestId('gates')
    .locator('li', { hasText: 'viability (' })
    .evaluateAll((els) =>
      els.map((e) => ({ failed: e.classList.contains('fail'), detail: e.textContent!.slice(e.textContent!.indexOf('): ') + 3) })),
    );
  expect(gates.length).toBeGreaterThanOrEqual(2);
  const failed = gates.filter((g) => g.failed);
  await page.getByTestId(`lineage-node-${c2}`).click();
  const decisions = page.getByTestId('lineage-decisions');
  await expect(decisions.locator('li[data-kind="origin"]')).toContainText('Crossover of Digits base, Digits rotated specialist');
  const viability = decisions.locator('li[data-kind="viability"]');
  await expect(viability).toContainText(failed.length ? 'no-op: ' : 'viable: ');
  for (const g of failed.length ? failed : gates) await expect(viability).toContainText(g.detail);
  // And by keyboard: Enter on the admitted candidate shows its admission and its release into shadow.
  await page.getByTestId(`lineage-node-${c1}`).focus();
  await page.keyboard.press('Enter');
  await expect(decisions.locator('li[data-kind="admission"]')).toContainText('admitted (admission ');
  await expect(decisions.locator('li[data-kind="release"]')).toContainText('out → shadow');
  await expect(page.getByTestId('lineage-explanation')).toBeFocused();
  await page.getByTestId('lineage-panel').screenshot({ path: 'e2e/screenshots/garden-lineage.png' });

  // The Pareto review: primary against guardrail accuracy, then primary accuracy against size.
  await page.getByTestId('pareto-x').selectOption('mixed-accuracy');
  await page.getByTestId('pareto-y').selectOption('clean-accuracy');
  let pareto = await readPareto(page, ['max', 'max']);
  expect(pareto.rows.map((r) => r.id)).toEqual(expect.arrayContaining([...PARENTS_1, c1, c2]));
  expect(pareto.rows.filter((r) => r.front).map((r) => r.id)).toEqual(pareto.front);
  // The numbers in the table are the pool's (the pool shows one decimal).
  for (const r of pareto.rows) {
    expect(r.cells[0]).toBe(`${(r.x * 100).toFixed(2)} %`);
    await expect(page.getByTestId(`acc-${r.id}`)).toHaveText(`${(r.x * 100).toFixed(1)} %`);
  }
  const frontNames = await page.getByTestId('pareto-front').innerText();
  for (const r of pareto.rows) {
    const name = await page.getByTestId(`pareto-row-${r.id}`).locator('th').innerText();
    expect(frontNames.includes(name)).toBe(r.front);
  }
  await page.getByTestId('pareto-panel').screenshot({ path: 'e2e/screenshots/garden-pareto-accuracy.png' });
  await page.getByTestId('pareto-y').selectOption('bytes');
  pareto = await readPareto(page, ['max', 'min']);
  expect(pareto.rows.filter((r) => r.front).map((r) => r.id)).toEqual(pareto.front);
  for (const r of pareto.rows) expect(r.cells[1]).toBe(`${r.y} B`);
  await page.getByTestId('pareto-panel').screenshot({ path: 'e2e/screenshots/garden-pareto-bytes.png' });
  // At 1024 px every point keeps its label (placed clear of the other labels and points, label-placement.ts).
  await page.setViewportSize({ width: 1024, height: 800 });
  await expect(page.getByTestId('pareto-chart').locator('.uplot')).toHaveAttribute('data-labels', String(pareto.rows.length));
  await page.getByTestId('pareto-panel').screenshot({ path: 'e2e/screenshots/garden-pareto-1024.png' });
  await page.setViewportSize({ width: 1280, height: 720 });

  // Storage per model: the crossover shares its tensors with its parents; the champion and the admitted cannot go.
  const storage = async (id: string) => {
    const row = page.getByTestId(`storage-${id}`);
    await expect(row).toHaveAttribute('data-bytes', /\d+/);
    return { bytes: Number(await row.getAttribute('data-bytes')), shared: Number(await row.getAttribute('data-shared')) };
  };
  const cross = await storage(c2);
  expect(cross.shared).toBe(cross.bytes);
  await expect(page.getByTestId(`storage-shared-${c2}`)).toContainText('Digits base');
  await expect(page.getByTestId(`storage-shared-${c2}`)).toContainText('Digits rotated specialist');
  await expect(page.getByTestId('delete-digits-base')).toBeDisabled();
  await expect(page.getByTestId('delete-why-digits-base')).toContainText("the slot's champion");
  await expect(page.getByTestId(`delete-${c1}`)).toBeDisabled();
  await expect(page.getByTestId(`delete-why-${c1}`)).toContainText("the slot's shadow");
  const before = { base: await storage('digits-base'), rotated: await storage('digits-rotated') };
  expect(before.base.shared).toBeGreaterThan(0);
  await page.getByTestId('storage-panel').screenshot({ path: 'e2e/screenshots/garden-storage.png' });
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByTestId(`delete-${c2}`).click();
  await page.getByTestId(`confirm-delete-${c2}`).click();
  await expect(page.getByTestId('storage-message')).toContainText('kept for Digits base, Digits rotated specialist');
  await expect(page.getByTestId('storage-message')).toContainText('0 B freed');
  await expect(page.getByTestId(`storage-${c2}`)).toHaveCount(0);
  await expect(page.getByTestId(`lineage-node-${c2}`)).toHaveCount(0);
  await expect(page.getByTestId(`lineage-node-${c1}`)).toHaveCount(1);
  // The parents keep every tensor (now theirs alone), and every model rebuilds to its hash.
  expect((await storage('digits-base')).bytes).toBe(before.base.bytes);
  expect((await storage('digits-rotated')).bytes).toBe(before.rotated.bytes);
  await page.getByTestId('rehash-all').click();
  const models = await page.locator('[data-testid^="storage-digits-"], [data-testid^="storage-candidate-"]').count();
  await expect(page.getByTestId('rehash-result').locator('li.ok')).toHaveCount(models, { timeout: 30_000 });
  await expect(page.getByTestId('rehash-result').locator('li.fail')).toHaveCount(0);
  await expect(page.getByTestId('rehash-result')).toContainText(`${models} of ${models} models rebuilt from their stored tensors match`);
  // Archive: kept, badged, and says so in the explanation.
  await page.getByTestId('archive-digits-noisy').click();
  await expect(page.getByTestId('lineage-node-digits-noisy')).toHaveAttribute('data-badges', 'source archived');
  await page.getByTestId('lineage-node-digits-noisy').click();
  await expect(decisions.locator('li[data-kind="archive"]')).toContainText('archived by the user');
  await page.getByTestId('storage-panel').screenshot({ path: 'e2e/screenshots/garden-storage-after-delete.png' });
  await page.getByTestId('lineage-panel').screenshot({ path: 'e2e/screenshots/garden-lineage-after-delete.png' });
  expect(await seriousViolations(page)).toEqual([]);
});
