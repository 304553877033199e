/**
 * Hostile content and a sealed origin (issue 15), one full run as a user makes it: import a model
 * whose file name carries HTML, a second named with a script (refused), breed, evaluate, admit,
 * route. The names are shown as text and never run; the ledger's signing keys cannot be exported;
 * not one request leaves the origin; the CSP blocks a fetch injected into the page. (Training,
 * bundle import and the lab round from a failure cluster watch the origin in their own specs:
 * app-train, app-share and app-lab.)
 */
import { test, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { ask, expectAllPassed, plainSafetensors } from './app-helpers.ts';
import { openGarden, watchOrigin } from './fault-helpers.ts';

mkdirSync('e2e/screenshots', { recursive: true });

const NAME = '<img src=x onerror="window.__pwned=1">';
const TENSOR = '<script>window.__pwned=2</script>';

test('hostile names shown as text, keys sealed, a full run without one off-origin request, the CSP blocking an injected fetch', async ({
  page,
  context,
  baseURL,
}) => {
  const origin = new URL(baseURL!).origin;
  const off = watchOrigin(context, origin);
  await openGarden(page);
  const pwned = () => page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? null);

  await test.step('the ledger keys are non-extractable CryptoKeys', async () => {
    const keys = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((res) => {
        const r = indexedDB.open('slm-garden-keys');
        r.onsuccess = () => res(r.result);
      });
      const ring = await new Promise<{ private: Record<string, CryptoKey> }>((res) => {
        const g = db.transaction('keyring').objectStore('keyring').get('zones');
        g.onsuccess = () => res(g.result);
      });
      db.close();
      const out: Record<string, string> = {};
      for (const [zone, key] of Object.entries(ring.private))
        out[zone] = await crypto.subtle.exportKey('jwk', key).then(
          () => 'exported',
          (e: Error) => `${e.name}; extractable ${key.extractable}`,
        );
      return out;
    });
    expect(keys).toEqual({
      policy: 'InvalidAccessError; extractable false',
      release: 'InvalidAccessError; extractable false',
      evaluation: 'InvalidAccessError; extractable false',
    });
  });

  await test.step('a file named with HTML joins the pool under its name, as text', async () => {
    const mine = plainSafetensors((h, data) => {
      const [start] = h['fc2.bias'].data_offsets;
      data.writeFloatLE(data.readFloatLE(start) + 0.01, start);
    });
    await page
      .getByTestId('import-input')
      .setInputFiles({ name: `${NAME}.safetensors`, mimeType: 'application/octet-stream', buffer: mine });
    await expect(page.getByTestId('import-species')).toContainText('joins the species of the digits');
    await page.getByTestId('import-store').click();
    await expect(page.getByTestId('import-message')).toContainText(`${NAME} (imported) joined the pool`);
    await expect(page.locator('[data-testid^="model-imported-"]')).toContainText(`${NAME} (imported)`);
    await page.locator('[data-testid^="model-imported-"]').screenshot({ path: 'e2e/screenshots/hostile-name-card.png' });
  });

  await test.step('a file named with a script, its tensor renamed, is refused: the name shown as text', async () => {
    const renamed = plainSafetensors((h) => {
      h[TENSOR] = h['fc1.bias'];
      delete h['fc1.bias'];
    });
    await page
      .getByTestId('import-input')
      .setInputFiles({ name: `${TENSOR}.safetensors`, mimeType: 'application/octet-stream', buffer: renamed });
    await expect(page.getByTestId('import-refused')).toContainText(
      `Refused ${TENSOR}.safetensors: ${TENSOR}.safetensors lacks tensor "fc1.bias"`,
    );
  });
  expect(await pwned()).toBeNull();
  expect(await page.locator('img[src="x"], script:not([src])').count()).toBe(0);

  await test.step('breed, evaluate, admit, route', async () => {
    await page.getByTestId('operator-select').selectOption('task-delta');
    for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
      await page.getByLabel(`Select ${name}`).check();
    await page.getByTestId('param-lambda').fill('0.5');
    await page.getByTestId('breed-button').click();
    await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 60_000 });
    await page.getByTestId('evaluate-button').click();
    await expectAllPassed(page.getByTestId('gates'), 4, ['runtime smoke in onnxruntime-web', 'evaluation sidecar', 'viability']);
    await page.getByTestId('admit-button').click();
    const candidate = await page.getByTestId('candidate-name').innerText();
    await expect(page.getByTestId('registry-shadow')).toContainText(candidate);
    await ask(page);
    await expect(page.getByTestId('answered-by')).toHaveText('Digits base', { timeout: 60_000 });
    await expect(page.getByTestId('shadow-note')).toContainText(candidate);
    await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');
  });
  expect(off, `requests that left ${origin}`).toEqual([]);
  expect(await pwned()).toBeNull();

  await test.step('the CSP blocks a fetch injected into the page', async () => {
    const blocked = await page.evaluate(async () => {
      const violation = new Promise<string>((res) =>
        document.addEventListener('securitypolicyviolation', (e) => res(`${e.violatedDirective} ${e.blockedURI}`), { once: true }),
      );
      const fetched = await fetch('https://example.com/').then(
        () => 'fetched',
        (e: Error) => `rejected: ${e.name}`,
      );
      return { fetched, violation: await violation };
    });
    expect(blocked).toEqual({ fetched: 'rejected: TypeError', violation: 'connect-src https://example.com/' });
  });
  expect(
    off.filter((u) => !u.startsWith('https://example.com')),
    `requests that left ${origin}`,
  ).toEqual([]);
});
