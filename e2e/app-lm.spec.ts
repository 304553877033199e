/**
 * The language-model family in the app, with the committed starter folders (public/starter/lm):
 * the base and the Moby-Dick specialist picked as folders and stored; bred with task delta in the
 * text worker (the candidate file's SHA-256 equals `garden breed`'s for the same recipe);
 * evaluated by perplexity against its parents on the pinned suites (the numbers equal
 * `garden eval --text` on the same texts); admitted through the gates; put in canary; a prompt
 * routed by the text slot's selector streams the candidate's answer, which names it; exported as
 * a Hugging Face folder, read back in the page (identical tensor hashes) and, downloaded, read by
 * the CLI's importer to the same tensors. No request leaves the origin.
 */
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../src/core/hash.ts';
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

test('starter base and specialist in; bred, evaluated, admitted, routed with a streamed answer; exported and read back', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(180_000);
  const off = watchOrigin(context, new URL(baseURL!).origin);
  const expectedHash = cliBreedHash();

  await page.goto('/');
  await page.getByTestId('text-open').click();
  await expect(page.getByTestId('text-playground')).toBeVisible({ timeout: 60_000 });
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
  await expect(page.getByTestId('lm-ledger-line').filter({ hasText: 'champion (slot text)' })).toHaveCount(1);
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
  await page.getByTestId('text-open').click();
  await expect(page.getByTestId('lm-registry')).toContainText('champion #1 Task delta', { timeout: 60_000 });
  // The scores are kept: the verdict comes back without a new evaluation.
  await expect(page.getByTestId('lm-viable')).toHaveText('Viable');
  await page.getByTestId('lm-max-new').fill('4');
  await page.getByTestId('lm-route-run').click();
  await expect(page.getByTestId('lm-answered-by')).toContainText('The selector picked #1 Task delta');
  await expect(page.getByTestId('lm-answered-by')).toContainText('(champion)');
  await expect(page.getByTestId('lm-answer')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('lm-answer-stats')).toContainText('4 new tokens');
  expect(off).toEqual([]);
});
