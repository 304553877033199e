/**
 * What a first visit costs on the wire: every response the page, its workers and the service
 * worker received, summed by kind. onnxruntime's wasm travels once, and no starter family the page
 * does not open (mail, text) is fetched or precached; no file of weight is fetched twice.
 */
import { test, expect } from '@playwright/test';

test('a first visit fetches the wasm once and no unused family', async ({ context, page }) => {
  // Responses that crossed the wire: those a service worker answered from its cache are left out.
  const got: { url: string; bytes: number }[] = [];
  context.on('requestfinished', (r) => {
    void (async () => {
      if ((await r.response())?.fromServiceWorker()) return;
      got.push({ url: new URL(r.url()).pathname, bytes: (await r.sizes()).responseBodySize });
    })();
  });
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await page.waitForTimeout(1000);
  const sum = (f: (u: string) => boolean) => got.filter((g) => f(g.url)).reduce((a, g) => a + g.bytes, 0);
  const wasm = got.filter((g) => g.url.endsWith('.wasm'));
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `first visit: ${mib(sum(() => true))} over the wire in ${got.length} responses; onnxruntime wasm ${mib(sum((u) => u.endsWith('.wasm')))},`,
    `starter digits ${mib(sum((u) => u.startsWith('/starter/')))}, app code ${mib(sum((u) => /\.(js|css|html)$/.test(u)))}`,
  );
  expect(got.filter((g) => /^\/starter\/(mail|text|lm)\//.test(g.url))).toEqual([]);
  expect(wasm.map((g) => g.url)).toHaveLength(1);
  // No file of weight (the models, suites, the app's bundles) travels twice; the page's icons may.
  const heavy = got.filter((g) => g.bytes > 64 * 1024).map((g) => g.url);
  const twice = heavy.filter((u, i) => heavy.indexOf(u) !== i);
  expect(twice).toEqual([]);
  expect(sum(() => true)).toBeLessThan(40 * 2 ** 20);
});
