/**
 * Faults survived during admission and release (issue 15), each injected for real in headless
 * Chromium (e2e/fault-helpers.ts): the evaluator worker terminated while the candidate is judged,
 * IndexedDB's quota exceeded at each write of an admission (its admission entry, its release
 * entry, its evidence) and of a canary step, and the page reloaded between an admission's two
 * ledger entries and at a Make champion entry. Each ends with no half-admitted candidate or
 * half-applied release on screen or in the stores, a one-line message, the registry as it was, the
 * ledger's chain intact, every earlier model re-hashed, and a retry that goes through.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { ask, breedExampleRecipe } from './app-helpers.ts';
import { arm, checkGarden, expectIntact, expectNotice, installFaults, openGarden, recordFault, type GardenCheck } from './fault-helpers.ts';

mkdirSync('e2e/screenshots', { recursive: true });

test.beforeEach(async ({ context }) => {
  await context.addInitScript(installFaults);
});

/** The registry as the release panel shows it (without this session's shadow comparisons, which a reload clears). */
const registry = (page: Page) =>
  Promise.all(
    ['champion', 'canary', 'shadow', 'version'].map(async (r) =>
      (await page.getByTestId(`registry-${r}`).innerText()).replace(/ · disagreed on .*$/, ''),
    ),
  );

/** Nothing of the failed step: the registry on screen as it was, the ledger as long as it was and intact, every model there. */
async function expectUnchanged(page: Page, before: GardenCheck, shown: string[], fault: string, outcome: string): Promise<void> {
  await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');
  expect(await registry(page)).toEqual(shown);
  const now = await checkGarden(page);
  expect(now.ledger.entries).toBe(before.ledger.entries);
  expect(Object.keys(now.models).sort()).toEqual(Object.keys(before.models).sort());
  expectIntact(now, before);
  recordFault(fault, `${outcome}; the registry and the ledger as they were (chain intact)`, now, before);
}

async function reviewCandidate(page: Page): Promise<void> {
  await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
  await page.locator('[data-testid^="review-candidate-"]').first().click();
}

test('admission and release under faults: evaluator killed, quota at each write, reloads between writes; nothing half-done, retries go through', async ({
  page,
}) => {
  test.setTimeout(180_000);
  await openGarden(page);
  await breedExampleRecipe(page, '0.4');
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 60_000 });
  const name = await page.getByTestId('candidate-name').innerText();
  const admit = page.getByTestId('admit-button');

  const start = await checkGarden(page);
  await test.step('evaluator worker terminated while the candidate is judged: no verdict, admission stays closed', async () => {
    // The next message to the evaluator is the candidate's smoke (a fresh candidate is scored only when evaluated).
    await arm(page, { killAfterPost: 'evaluator' });
    await page.getByTestId('evaluate-button').click();
    await expectNotice(page, /Evaluation failed: .*evaluator/, 'fault-release-evaluator');
    await expect(admit).toBeDisabled();
    await page.getByTestId('evaluate-button').click();
    await expect(admit).toBeEnabled({ timeout: 60_000 });
    const now = await checkGarden(page);
    expectIntact(now, start);
    recordFault(
      'evaluator worker terminated at the smoke of the candidate about to be admitted',
      '"Evaluation failed: … evaluator …"; Admit stays disabled; evaluating again opens it',
      now,
      start,
    );
  });

  let before = await checkGarden(page);
  let shown = await registry(page);
  for (const [store, skip, what] of [
    ['entries', 0, 'its admission entry'],
    ['entries', 1, 'its release entry'],
    ['evidence', 0, 'its evidence'],
  ] as const)
    await test.step(`quota exceeded at ${what}: not admitted, nothing written`, async () => {
      await arm(page, { atStore: { store, skip, fault: 'quota' } });
      await admit.click();
      await expectNotice(page, /Admission failed: .*quota.*\. Nothing was admitted; try again\./, `fault-admit-quota-${store}-${skip}`);
      await expect(admit).toHaveText('Admit to the pool (runs in shadow)');
      await expectUnchanged(
        page,
        before,
        shown,
        `storage quota exceeded at ${what.replace('its', 'the')} of Admit`,
        '"Admission failed: … quota … Nothing was admitted; try again."; the retry admits',
      );
    });

  await test.step('page reloaded between the admission entry and its release entry: not admitted on open', async () => {
    await arm(page, { atStore: { store: 'entries', skip: 1, fault: 'reload' } });
    await Promise.all([page.waitForEvent('load'), admit.click()]);
    await reviewCandidate(page);
    await expect(admit).toHaveText('Admit to the pool (runs in shadow)');
    await expectUnchanged(
      page,
      before,
      shown,
      "page reloaded between an admission's entry and its release entry",
      'not admitted on open (both entries are one transaction); the retry admits',
    );
  });

  await test.step('retry: admitted, in shadow', async () => {
    await expect(admit).toBeEnabled({ timeout: 60_000 });
    await admit.click();
    await expect(page.getByTestId('registry-shadow')).toContainText(name);
    await expect(admit).toContainText('Admitted');
    await ask(page);
    await expect(page.getByTestId('shadow-note')).toContainText(name, { timeout: 60_000 });
  });

  before = await checkGarden(page);
  shown = await registry(page);
  await test.step('quota exceeded at the canary entry: the registry as it was, retry goes through', async () => {
    await arm(page, { atStore: { store: 'entries', skip: 0, fault: 'quota' } });
    await page.getByTestId('to-canary').click();
    await expectNotice(page, /Release step failed: .*quota.*\. The registry is unchanged; try again\./, 'fault-canary-quota');
    await expectUnchanged(
      page,
      before,
      shown,
      'storage quota exceeded at the ledger entry of Make canary',
      '"Release step failed: … quota … The registry is unchanged; try again."; the retry makes it canary',
    );
    await page.getByTestId('to-canary').click();
    await expect(page.getByTestId('registry-canary')).toContainText(name);
  });

  before = await checkGarden(page);
  shown = await registry(page);
  await test.step('page reloaded at the Make champion entry: still canary on open, retry goes through', async () => {
    const champion = page.getByTestId('to-champion');
    await expect(champion).toBeEnabled({ timeout: 60_000 });
    await arm(page, { atStore: { store: 'entries', skip: 0, fault: 'reload' } });
    await Promise.all([page.waitForEvent('load'), champion.click()]);
    await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
    await expectUnchanged(
      page,
      before,
      shown,
      'page reloaded at the ledger entry of Make champion',
      'still canary on open; the retry makes it champion',
    );
    // The candidate's verdict comes back on open (before the fix, an admitted candidate was not
    // judged again, and Make champion waited for "no evaluation verdict" after any reload).
    await expect(champion, await page.getByTestId('release-panel').innerText()).toBeEnabled({ timeout: 60_000 });
    await champion.click();
    await expect(page.getByTestId('registry-champion')).toHaveText(name);
    await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');
    expectIntact(await checkGarden(page), before);
  });
});
