/**
 * The language-model family in the app, chosen in the header's family switcher (the header then
 * says "Family lm · slot lm"), with the committed starter folders (public/starter/lm):
 * the base and the Moby-Dick specialist picked as folders and stored; bred with task delta in the
 * text worker (the candidate file's SHA-256 equals `garden breed`'s for the same recipe);
 * evaluated by perplexity against its parents on the pinned suites (the numbers equal
 * `garden eval --text` on the same texts); after a reload the scores, the runtime smoke and the
 * breed's documents are still there and the candidate is admitted through the gates without a
 * new evaluation; put in canary; a prompt
 * routed by the text slot's selector streams the candidate's answer, which names it; exported as
 * a Hugging Face folder, read back in the page (identical tensor hashes) and, downloaded, read by
 * the CLI's importer to the same tensors. The lab's ledger, read from IndexedDB, verifies in Node:
 * chain, head and every entry's zone signature. No request leaves the origin.
 */
import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../src/core/hash.ts';
import { verifyAuthority, verifyLedger, type LedgerRecord } from '../src/core/lab/ledger.ts';
import { watchOrigin } from './fault-helpers.ts';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });
const LM = 'public/starter/lm';
const root = mkdtempSync(join(tmpdir(), 'app-lm-'));
test.afterAll(() => rmSync(root, { recursive: true, force: true }));

const LAMBDA = 0.5;
const SEED = 7;

/** `garden breed` of the same recipe on the same folders: the candidate's SHA-256. */
function cliBreedHash(): string {
  for (const m of ['base', 'moby']) cpSync(join(LM, m), join(root, m), { recursive: true });
  writeFileSync(
    join(root, 'recipe.json'),
    JSON.stringify({
      kind: 'recipe',
      schemaVersion: 1,
      operator: 'task-delta',
      params: { lambda: LAMBDA },
      seed: SEED,
      base: { path: 'base' },
      parents: [{ path: 'moby' }],
      output: { path: 'child.slm' },
    }),
  );
  execFileSync('node', ['bin/garden.mjs', 'breed', join(root, 'recipe.json'), '--root', root, '--threads', '0'], { encoding: 'utf8' });
  return sha256Hex(readFileSync(join(root, 'child.slm')));
}

/** The tensors' SHA-256 of a folder (or .slm), as the CLI's importer reads it. */
function tensorHashesOf(path: string): Record<string, string> {
  const script = `
    import { openCausalLm } from './src/node/hf-folder.ts';
    import { tensorHashes } from './src/core/format/model.ts';
    const { lm, close } = await openCausalLm(process.argv[1]);
    const h = await tensorHashes(lm.model);
    await close();
    console.log(JSON.stringify({ species: lm.model.species, tensors: Object.fromEntries(h) }));`;
  return JSON.parse(execFileSync('node', ['--import', 'tsx', '--input-type=module', '-e', script, path], { encoding: 'utf8' }));
}

/** The LM lab's ledger records as the page stored them (the audit zone's IndexedDB database). */
async function storedLedger(page: Page): Promise<LedgerRecord[]> {
  return page.evaluate(
    () =>
      new Promise<LedgerRecord[]>((resolve, reject) => {
        const r = indexedDB.open('slm-garden-text-audit');
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          const q = r.result.transaction('entries').objectStore('entries').getAll();
          q.onsuccess = () => {
            r.result.close();
            resolve(q.result as LedgerRecord[]);
          };
          q.onerror = () => reject(q.error);
        };
      }),
  );
}

/** Chain intact and every entry signed by the zone that may write it, under the keys its first policy change pins. */
async function expectSignedLedger(page: Page, types: string[]) {
  const records = await storedLedger(page);
  expect(records.map((r) => r.entry.type)).toEqual(expect.arrayContaining(types));
  expect(verifyLedger(records, null).ok).toBe(true);
  const auth = await verifyAuthority(records, { requireSigned: true });
  expect(auth.problems).toEqual([]);
  expect(auth.signed).toBe(true);
  expect(records.every((r) => r.sig && r.sig.value.length > 40)).toBe(true);
  await expect(page.getByTestId('lm-ledger-signed')).toHaveAttribute('data-ok', 'true');
  await expect(page.getByTestId('lm-ledger-signed')).toContainText("every entry signed by its zone's key");
}

test('starter base and specialist in; bred, evaluated, admitted, routed with a streamed answer; exported and read back', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(180_000);
  const off = watchOrigin(context, new URL(baseURL!).origin);
  const expectedHash = cliBreedHash();

  // The header's switcher opens the language-model family's page; the header names family and slot.
  await page.goto('/');
  await expect(page.getByTestId('family-slot')).toHaveText('Family digits · slot digits', { timeout: 60_000 });
  await page.getByTestId('family-switch').selectOption('lm');
  await expect(page.getByTestId('family-slot')).toHaveText('Family lm · slot lm', { timeout: 60_000 });
  await expect(page.getByTestId('family-switch')).toHaveValue('lm');
  await expect(page.getByTestId('text-playground')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('lm-lab')).toBeVisible({ timeout: 60_000 });
  // The LM page is that family's pipeline, not the classifier garden's.
  await expect(page.getByTestId('parent-pool')).toHaveCount(0);
  await expect(page.getByTestId('text-open')).toHaveCount(0);
  await page.screenshot({ path: `${SHOTS}/app-lm-family.png` });
  for (const m of ['base', 'moby']) {
    await page.getByTestId('text-pick-folder').setInputFiles(join(LM, m));
    await expect(page.getByTestId('text-arch')).toHaveText('LlamaForCausalLM');
    await page.getByTestId('text-store').click();
    await expect(page.getByTestId('text-import-message')).toContainText(`${m} is stored`);
  }
  await expect(page.getByTestId('lm-pool-row')).toHaveCount(2);

  // Breed: task delta, base + the Moby-Dick specialist.
  await page.getByTestId('lm-operator').selectOption('task-delta');
  await page.getByTestId('lm-param-lambda').fill('11');
  await expect(page.getByTestId('lm-breed-why')).toContainText('lambda must be a number from -10 to 10');
  await expect(page.getByTestId('lm-breed-run')).toBeDisabled();
  await page.getByTestId('lm-param-lambda').fill(String(LAMBDA));
  await page.getByTestId('lm-seed').fill(String(SEED));
  await page.getByTestId('lm-base').selectOption({ label: 'base' });
  await expect(page.getByTestId('lm-parent')).toHaveCount(1);
  await expect(page.getByTestId('lm-parent')).toBeChecked();
  await page.getByTestId('lm-breed-run').click();
  await expect(page.getByTestId('lm-notice')).toContainText('Bred #1 Task delta', { timeout: 60_000 });
  await expect(page.getByTestId('lm-lineage')).toHaveAttribute('data-hash', expectedHash);
  await expect(page.getByTestId('lm-pool-row')).toHaveCount(3);
  await expect(page.getByTestId('lm-breed-docs')).toHaveAttribute('data-ok', 'true');

  // Evaluate against the parents, then admit through the gates.
  // Cancel stops the evaluation between windows: no verdict; then it runs to the end.
  await page.getByTestId('lm-evaluate').click();
  await expect(page.getByTestId('lm-task')).toContainText('evaluate');
  await page.getByTestId('lm-cancel').click();
  await expect(page.getByTestId('lm-notice')).toHaveText('Evaluation cancelled: no verdict was given.');
  await expect(page.getByTestId('lm-viable')).toHaveCount(0);
  await page.getByTestId('lm-evaluate').click();
  await expect(page.getByTestId('lm-verdict')).toHaveAttribute('data-viable', /true|false/, { timeout: 90_000 });
  await page.getByTestId('lm-lab').screenshot({ path: `${SHOTS}/app-lm-verdict.png` });
  await expect(page.getByTestId('lm-smoke')).toContainText('passed');
  // The parents' scores are the starter build's (public/starter/lm/manifest.json rows, the same ONNX decoder and windows).
  const rows = (
    JSON.parse(readFileSync(join(LM, 'manifest.json'), 'utf8')) as { rows: { model: string; suite: string; perplexity: number }[] }
  ).rows;
  for (const [i, model] of ['base', 'moby'].entries())
    for (const suite of ['moby', 'mixed'])
      await expect(page.getByTestId('lm-pool-row').nth(i).getByTestId(`lm-score-${suite}`)).toHaveText(
        rows.find((r) => r.model === model && r.suite === suite)!.perplexity.toFixed(2),
      );
  await expect(page.getByTestId('lm-verdict')).toHaveAttribute('data-viable', 'true');
  const scoresBefore = await page.getByTestId('lm-pool-row').nth(2).locator('td.lm-num').allTextContents();
  const smokeBefore = await page.getByTestId('lm-smoke').textContent();

  // A reload keeps the evaluation (its sidecars), the runtime smoke and the breed's documents: admitted without a new evaluation.
  await page.reload();
  await expect(page.getByTestId('family-slot')).toHaveText('Family lm · slot lm', { timeout: 60_000 });
  await expect(page.getByTestId('lm-pool-row')).toHaveCount(3, { timeout: 60_000 });
  await expect(page.getByTestId('lm-viable')).toHaveText('Viable');
  await expect(page.getByTestId('lm-smoke')).toHaveText(smokeBefore!);
  await expect(page.getByTestId('lm-smoke')).toContainText('passed');
  expect(await page.getByTestId('lm-pool-row').nth(2).locator('td.lm-num').allTextContents()).toEqual(scoresBefore);
  await expect(page.getByTestId('lm-breed-docs')).toHaveAttribute('data-ok', 'true');
  await expect(page.getByTestId('lm-task')).toHaveCount(0);
  await page.getByTestId('lm-lab').screenshot({ path: `${SHOTS}/app-lm-reloaded.png` });
  const cand = page.getByTestId('lm-pool-row').nth(2);
  await page.getByTestId('lm-admit').click();
  await expect(cand.getByTestId('lm-role')).toHaveText('shadow');
  await expect(page.getByTestId('lm-ledger-line').filter({ hasText: 'admitted #1 Task delta' })).toHaveCount(1);
  await page.getByTestId('lm-canary').click();
  await expect(cand.getByTestId('lm-role')).toHaveText('canary 100 %');

  // Route a prompt: the selector picks the canary; its answer streams and names it.
  await page.getByTestId('lm-prompt').fill('The whale');
  await page.getByTestId('lm-max-new').fill('10');
  await page.getByTestId('lm-route-run').click();
  await expect(page.getByTestId('lm-answered-by')).toContainText('The selector picked #1 Task delta');
  await expect(page.getByTestId('lm-answered-by')).toContainText('(canary)');
  await expect(page.getByTestId('lm-answer')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('lm-answer-stats')).toContainText('10 new tokens');
  await expect(page.getByTestId('lm-champion')).toBeEnabled();
  await page.getByTestId('lm-champion').click();
  await expect(cand.getByTestId('lm-role')).toHaveText('champion');
  await expect(page.getByTestId('lm-ledger-line').filter({ hasText: 'champion (slot lm)' })).toHaveCount(1);
  await expectSignedLedger(page, ['policy-change', 'release', 'admission']);
  const axe = await new AxeBuilder({ page }).include('[data-testid="lm-lab"]').analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`)).toEqual([]);

  // Export as a Hugging Face folder; read back in the page, then downloaded and read by the CLI's importer.
  await page.getByTestId('lm-shard').fill('262144');
  await page.getByTestId('lm-export-run').click();
  await expect(page.getByTestId('lm-readback')).toHaveAttribute('data-ok', 'true', { timeout: 60_000 });
  await page.getByTestId('lm-lab').screenshot({ path: `${SHOTS}/app-lm-exported.png` });
  const links = page.getByTestId('lm-file');
  const names = await links.allTextContents();
  expect(names).toEqual(expect.arrayContaining(['config.json', 'tokenizer.json', 'model.safetensors.index.json', 'README.md']));
  expect(names.filter((n) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(n)).length).toBeGreaterThan(1);
  const out = join(root, 'exported');
  mkdirSync(out);
  for (let i = 0; i < names.length; i++) {
    const [download] = await Promise.all([page.waitForEvent('download'), links.nth(i).click()]);
    await download.saveAs(join(out, download.suggestedFilename()));
  }
  expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('task-delta');
  const back = tensorHashesOf(out);
  const bred = tensorHashesOf(join(root, 'child.slm'));
  expect(back).toEqual(bred);

  // After a reload the ledger gives the slot back: the new champion answers a routed prompt.
  await page.reload();
  await expect(page.getByTestId('family-slot')).toHaveText('Family lm · slot lm', { timeout: 60_000 });
  await expect(page.getByTestId('lm-registry')).toContainText('champion #1 Task delta', { timeout: 60_000 });
  // The scores are kept: the verdict comes back without a new evaluation.
  await expect(page.getByTestId('lm-viable')).toHaveText('Viable');
  await page.getByTestId('lm-max-new').fill('4');
  await page.getByTestId('lm-route-run').click();
  await expect(page.getByTestId('lm-answered-by')).toContainText('The selector picked #1 Task delta');
  await expect(page.getByTestId('lm-answered-by')).toContainText('(champion)');
  await expect(page.getByTestId('lm-answer')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('lm-answer-stats')).toContainText('4 new tokens');
  await expectSignedLedger(page, ['policy-change', 'release', 'admission']);

  // Delete from the playground: the champion is refused with the reason; the Moby-Dick parent goes, ledgered and signed.
  await page.getByRole('button', { name: 'Delete #1 Task delta' }).click();
  await expect(page.getByTestId('text-error')).toHaveText(/^#1 Task delta · .* was not deleted: the lm slot routes to it$/);
  await expect(page.getByTestId('lm-pool-row')).toHaveCount(3);
  await page.getByRole('button', { name: 'Delete moby' }).click();
  await expect(
    page.getByTestId('lm-ledger-line').filter({ hasText: 'delete moby: deleted by the user from the text playground' }),
  ).toHaveCount(1);
  await expect(page.getByTestId('lm-pool-row')).toHaveCount(2);
  await expect(page.getByTestId('text-error')).toHaveCount(0);
  await expectSignedLedger(page, ['policy-change', 'release', 'admission', 'storage']);
  await page.getByTestId('lm-ledger').locator('summary').click();
  await page.getByTestId('lm-lab').screenshot({ path: `${SHOTS}/app-lm-ledger.png` });

  // Back to digits: its own garden, as before.
  await page.getByTestId('family-switch').selectOption('digits');
  await expect(page.getByTestId('family-slot')).toHaveText('Family digits · slot digits', { timeout: 60_000 });
  await expect(page.getByTestId('text-open')).toBeVisible();
  expect(off).toEqual([]);
});
