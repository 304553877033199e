/**
 * The mail family in the app, as a full pipeline: switch the header to mail (its own garden: pool,
 * policy pins, slot), breed a candidate from the two starter specialists (blend), evaluate it on
 * the mail suites the policy pins, admit it to shadow, route a pasted e-mail and a dropped .eml
 * and see spam or ham with the model that answered, then release it (canary, champion) and see it
 * answer. Nothing leaves the origin. After a reload made offline (the family's files were cached on
 * its first open) the mail family is still the one open, with its candidate, its evaluation and its
 * champion, which still answers.
 */
import { test, expect } from '@playwright/test';
import { expectAllPassed, seriousViolations } from './app-helpers.ts';
import { watchOrigin } from './fault-helpers.ts';

const SPAM = `From: "Best Deals" <promo@cheap-meds.example>
Subject: You have WON $1,000,000 !!!

Dear friend, you have been selected to receive a FREE prize of $1,000,000 cash!!!
Click here now to claim your money, limited time offer. Buy cheap viagra, no prescription,
100% guaranteed. Act now! Unsubscribe: reply with remove. Order today and save $$$ !!!
`;

const HAM = `From: Alice <alice@lists.example.org>
Subject: Re: patch for the build script

I tried your patch on my machine and the build works now, thanks. One question though:
the Makefile still calls the old perl script in the docs target, should we drop it too?
I can send a follow-up patch to the list tomorrow if you agree.
`;

test('mail family: breed, evaluate, admit, route an e-mail, release; the family and its evidence survive a reload', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(90_000);
  const off = watchOrigin(context, new URL(baseURL!).origin);
  await page.goto('/');
  await expect(page.getByTestId('family-slot')).toHaveText('Family digits · slot digits', { timeout: 60_000 });

  // The switcher opens the mail family's own garden.
  await page.getByTestId('family-switch').selectOption('mail');
  await expect(page.getByTestId('family-slot')).toHaveText('Family mail · slot mail', { timeout: 60_000 });
  await expect(page.getByTestId('family-switch')).toHaveValue('mail');
  const pool = page.getByTestId('parent-pool');
  await expect(pool.locator('li.card')).toHaveCount(3);
  await expect(pool).not.toContainText('Digits');
  await expect(page.getByTestId('acc-mail-later')).toContainText('%', { timeout: 60_000 });
  await expect(page.getByTestId('draw-pad')).toHaveCount(0);
  await page.locator('header.top').screenshot({ path: 'e2e/screenshots/mail-header.png' });

  // Blend (the default operator) of the hard-ham and later-collections specialists.
  await page.getByLabel('Select Mail hard-ham specialist').check();
  await page.getByLabel('Select Mail later-collections specialist').check();
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 60_000 });
  const candidate = await page.getByTestId('candidate-name').innerText();
  expect(candidate).toContain('#1 Blend');

  await page.getByTestId('evaluate-button').click();
  for (const suite of ['clean', 'later', 'hard']) await expect(page.getByTestId(`candidate-accuracy-${suite}`)).toContainText('%');
  await expectAllPassed(page.getByTestId('gates'), 4, ['runtime smoke in onnxruntime-web', 'evaluation sidecar', 'viability']);
  await page.getByTestId('candidate-panel').screenshot({ path: 'e2e/screenshots/mail-candidate.png' });
  await page.getByTestId('admit-button').click();
  await expect(page.getByTestId('registry-shadow')).toContainText(candidate);

  // A pasted spam: the champion (the mail base) answers, the candidate runs beside it in shadow.
  await page.getByTestId('mail-text').fill(SPAM);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('answer-label')).toHaveText('spam');
  await expect(page.getByTestId('answered-by')).toHaveText('Mail base');
  await expect(page.getByTestId('shadow-note')).toContainText(candidate);

  // A dropped .eml of ordinary list mail: ham.
  const drop = await page.evaluateHandle((text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], 'patch.eml', { type: 'message/rfc822' }));
    return dt;
  }, HAM);
  await page.getByTestId('mail-drop').dispatchEvent('drop', { dataTransfer: drop });
  await expect(page.getByTestId('mail-file-note')).toContainText('Read patch.eml');
  await expect(page.getByTestId('mail-text')).toHaveValue(HAM);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('answer-label')).toHaveText('ham');
  await expect(page.getByTestId('answered-by')).toHaveText('Mail base');
  await page.getByTestId('mail-playground').screenshot({ path: 'e2e/screenshots/mail-playground.png' });
  await page.screenshot({ path: 'e2e/screenshots/mail-page.png' });
  // The mail page under the app's own CSP: no serious or critical axe violation.
  expect(await seriousViolations(page)).toEqual([]);

  // Release: the mail slot is medium blast radius, so champion waits for the canary stage.
  await expect(page.getByTestId('to-champion')).toBeDisabled();
  await expect(page.getByTestId('champion-why')).toContainText('has not been in canary');
  await page.getByTestId('to-canary').click();
  await expect(page.getByTestId('registry-canary')).toContainText(candidate);
  await expect(page.getByTestId('benefit-decision')).toHaveText('release as champion');
  await expect(page.getByTestId('to-champion')).toBeEnabled();
  await page.getByTestId('release-panel').screenshot({ path: 'e2e/screenshots/mail-release.png' });
  await page.getByTestId('to-champion').click();
  await expect(page.getByTestId('registry-champion')).toContainText(candidate);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('answered-by')).toHaveText(candidate);
  await expect(page.getByTestId('answer-label')).toHaveText('ham');

  // The choice, the candidate and its evaluation are kept across a reload, made offline: the mail
  // family's files were cached when it was first opened.
  await context.setOffline(true);
  await page.reload();
  await expect(page.getByTestId('family-slot')).toHaveText('Family mail · slot mail', { timeout: 60_000 });
  await expect(page.getByTestId('family-switch')).toHaveValue('mail');
  await expect(page.getByTestId('registry-champion')).toContainText(candidate);
  await page.locator('[data-testid^="review-candidate-"]').first().click();
  await expect(page.getByTestId('candidate-name')).toHaveText(candidate);
  await expectAllPassed(page.getByTestId('gates'), 4, ['runtime smoke in onnxruntime-web', 'evaluation sidecar', 'viability']);
  await expect(page.getByTestId('candidate-accuracy-clean')).toContainText('%');

  // Offline, the champion still answers.
  await page.getByTestId('mail-text').fill(SPAM);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('answered-by')).toHaveText(candidate);
  await expect(page.getByTestId('answer-label')).toHaveText('spam');
  await context.setOffline(false);

  // Back to digits: its own garden, untouched by the mail one.
  await page.getByTestId('family-switch').selectOption('digits');
  await expect(page.getByTestId('family-slot')).toHaveText('Family digits · slot digits', { timeout: 60_000 });
  await expect(page.getByTestId('parent-pool').locator('li.card')).toHaveCount(4);
  expect(off).toEqual([]);
});
