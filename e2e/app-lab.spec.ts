/**
 * The lab's rules where the user acts: a champion is displaced and turns recessive, answers the
 * user marks wrong form the failure cluster, a resilience check on them fails the new champion,
 * the recessive is re-expressed without breeding, and the exit check answers its five questions
 * on this garden. The ledger verifies after every step (read from the page). The breed runs on the
 * CPU reference (no WebGPU), so the exit check can breed the candidate again bit for bit.
 */
import { test, expect, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.ts';
import { CHROMIUM } from '../scripts/ensure-chromium.mjs';
import { ask, breedExampleRecipe } from './app-helpers.ts';

test.use({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') } });

const ledgerIntact = (page: Page) => expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');

test('a displaced champion turns recessive, a failed resilience check brings it back, a recessive is re-expressed; the exit check answers all five', async ({
  page,
}) => {
  test.setTimeout(120_000);
  await page.goto('/');
  await breedExampleRecipe(page);
  await expect(page.getByTestId('receipt-backend')).toHaveText('CPU', { timeout: 60_000 });
  await page.getByTestId('evaluate-button').click();
  await expect(page.getByTestId('admit-button')).toBeEnabled({ timeout: 60_000 });
  await page.getByTestId('admit-button').click();
  const cand = await page.getByTestId('candidate-name').innerText();
  await ask(page);
  await expect(page.getByTestId('answered-by')).toHaveText('Digits base', { timeout: 30_000 });
  // Benefit-centred release judges the shadow against the champion, with its numbers.
  await expect(page.getByTestId('benefit')).toContainText("benefit: accuracy on the user's suite mixed");
  await expect(page.getByTestId('benefit')).toContainText('exit: 2 of 2 exit checks hold');
  await page.getByTestId('release-panel').screenshot({ path: 'e2e/screenshots/lab-benefit.png' });
  // Blast radius: the digits slot is low, so champion waits for the canary stage.
  await expect(page.getByTestId('to-champion')).toBeDisabled();
  await expect(page.getByTestId('champion-why')).toContainText('has not been in canary');
  await page.getByTestId('to-canary').click();
  await page.getByTestId('to-champion').click();
  await expect(page.getByTestId('registry-champion')).toHaveText(cand);
  await ledgerIntact(page);

  // The displaced base is a recessive allele, with why.
  await expect(page.getByTestId('allele-state-digits-base')).toHaveText('recessive');
  await expect(page.getByTestId('allele-digits-base')).toContainText(`displaced by`);

  // Two answers of the new champion marked wrong (the right answer given: 7): the failure cluster.
  for (let i = 0; i < 2; i++) {
    await ask(page);
    await expect(page.getByTestId('answered-by')).toHaveText(cand, { timeout: 30_000 });
    await page.getByTestId('right-answer').selectOption('7');
    await page.getByTestId('mark-wrong-button').click();
    await expect(page.getByTestId('mark-wrong-button')).toHaveText('Marked: in the failure cluster');
  }
  await expect(page.getByTestId('cluster-digest')).toContainText('2 examples');

  // A lab round from the cluster proposes and never promotes: the registry and the ledger stay as they were.
  // (Which half an example falls in hangs on its random request id: with both in one half the round says so.)
  const entries = await page.getByTestId('ledger').locator('li').count();
  await page.getByTestId('cluster-round').click();
  await expect(page.getByTestId('cluster-round-result').or(page.getByTestId('lab-message'))).toBeVisible({ timeout: 30_000 });
  if (await page.getByTestId('cluster-round-result').isVisible()) {
    await expect(page.getByTestId('cluster-round-result')).toContainText('Proposal (nothing promoted)');
    await page.getByTestId('allele-panel').screenshot({ path: 'e2e/screenshots/lab-cluster-round.png' });
  } else await expect(page.getByTestId('lab-message')).toContainText('a round needs examples in both halves of the cluster; it has 2');
  await expect(page.getByTestId('registry-champion')).toHaveText(cand);
  await expect(page.getByTestId('ledger').locator('li')).toHaveCount(entries);

  // A later resilience check on those examples fails the new champion: its temporal fitness falls
  // below the threshold and no recessive has earned enough to be re-expressed in its place, so it is
  // demoted down the stack and the base, recessive in the fallback, answers again.
  await page.getByTestId('resilience-check').click();
  await expect(page.getByTestId('lab-message')).toContainText('0/2 right', { timeout: 30_000 });
  await expect(page.getByTestId('lab-message')).toContainText('failed; temporal fitness 0.0000; demoted, Digits base answers');
  await expect(page.getByTestId('registry-champion')).toHaveText('Digits base');
  const candId = (await page.locator('[data-testid^="allele-state-candidate-"]').getAttribute('data-testid'))!.replace('allele-state-', '');
  await expect(page.getByTestId(`allele-state-${candId}`)).toHaveText('recessive');
  await expect(page.getByTestId(`allele-history-${candId}`)).toContainText('resilience failed: fresh labelled examples: 0/2 right');
  await ledgerIntact(page);

  // A recessive is re-expressed without breeding (the user's action, ledgered on the recessive basis).
  await page.getByTestId(`reexpress-${candId}`).click();
  await expect(page.getByTestId('registry-champion')).toHaveText(cand);
  await expect(page.getByTestId(`allele-state-${candId}`)).toHaveText('dominant');
  await expect(page.getByTestId('allele-state-digits-base')).toHaveText('recessive');
  await expect(page.getByTestId('ledger')).toContainText('re-expressed');
  await ledgerIntact(page);
  await page.getByTestId('allele-panel').screenshot({ path: 'e2e/screenshots/lab-alleles.png' });

  // The exit check answers each of its five questions, with evidence.
  await page.getByTestId('run-exit-check').click();
  await expect(page.getByTestId('exit-report')).toBeVisible({ timeout: 60_000 });
  for (const k of ['reproduce', 'reject', 'explain', 'verify', 'rollback']) {
    await expect(page.getByTestId(`exit-${k}`)).toHaveClass(/ok/);
    await expect(page.getByTestId(`exit-${k}-summary`)).not.toBeEmpty();
  }
  await expect(page.getByTestId('exit-reproduce-summary')).toContainText('1 of 1 admitted candidates bred again bit for bit');
  await expect(page.getByTestId('exit-reject-summary')).toContainText('3 of 3 known-bad candidates refused');
  await page.getByTestId('exit-panel').screenshot({ path: 'e2e/screenshots/lab-exit-check.png' });
});
