/**
 * mergekit YAML both ways in the app: the breed form saved as a config, which the CLI reads back
 * into the same recipe (`garden recipe --from-mergekit`) and breeds from the downloaded parents;
 * then the config loaded into a changed form restores operator, parameters, seed and parents.
 * A config naming a model the pool does not hold is refused on screen, the form left as it was.
 */
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('the breed form round-trips through a mergekit YAML config, in the app and the CLI', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'garden-yaml-'));
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  await page.getByTestId('operator-select').selectOption('ties');
  await page.getByLabel('Select Digits base').check();
  await page.getByLabel('Select Digits rotated specialist').check();
  await page.getByLabel('Select Digits noisy specialist').check();
  await page.getByTestId('param-density').fill('0.3');
  await page.getByTestId('seed').fill('7');
  const saved = page.waitForEvent('download');
  await page.getByTestId('mergekit-download').click();
  const yml = join(dir, 'recipe.yml');
  await (await saved).saveAs(yml);
  const text = readFileSync(yml, 'utf8');
  expect(text).toMatch(/merge_method: ties/);
  expect(text).toMatch(/base_model: digits-base\.slm/);
  expect(text).toMatch(/density: 0\.3/);

  // The CLI reads the same recipe, and breeds it from the files "Download .slm" gives.
  for (const m of ['base', 'rotated', 'noisy']) copyFileSync(`public/starter/digits/${m}.slm`, join(dir, `digits-${m}.slm`));
  const out = join(dir, 'recipe.json');
  execFileSync('node', ['bin/garden.mjs', 'recipe', '--from-mergekit', yml, '--out', out]);
  const recipe = JSON.parse(readFileSync(out, 'utf8'));
  expect(recipe.operator).toBe('ties');
  expect(recipe.seed).toBe(7);
  expect(recipe.params.density).toBe(0.3);
  expect(recipe.base.path).toBe('digits-base.slm');
  expect(recipe.parents.map((p: { path: string }) => p.path)).toEqual(['digits-rotated.slm', 'digits-noisy.slm']);
  const bred = execFileSync('node', ['bin/garden.mjs', 'breed', out, '--out', join(dir, 'c.slm'), '--root', dir], { encoding: 'utf8' });
  expect(bred).toMatch(/ties/i);

  // Back into a changed form.
  await page.getByTestId('operator-select').selectOption('blend');
  await page.getByLabel('Select Digits rotated specialist').uncheck();
  await page.getByTestId('seed').fill('1');
  await page.getByTestId('mergekit-file').setInputFiles(yml);
  await expect(page.getByTestId('mergekit-message')).toContainText('Loaded recipe.yml: TIES merge of Digits base');
  await expect(page.getByTestId('operator-select')).toHaveValue('ties');
  await expect(page.getByTestId('param-density')).toHaveValue('0.3');
  await expect(page.getByTestId('seed')).toHaveValue('7');
  for (const name of ['Digits base', 'Digits rotated specialist', 'Digits noisy specialist'])
    await expect(page.getByLabel(`Select ${name}`)).toBeChecked();
  await expect(page.getByLabel('Select Digits thick specialist')).not.toBeChecked();
  await page.screenshot({ path: 'e2e/screenshots/mergekit-yaml.png', fullPage: false });

  // A model the pool does not hold: refused, the form unchanged.
  const stranger = join(dir, 'stranger.yml');
  writeFileSync(stranger, text.replace(/digits-noisy\.slm/g, 'someone-else.slm').replace(/^# garden:.*$/m, ''));
  await page.getByTestId('mergekit-file').setInputFiles(stranger);
  await expect(page.getByTestId('mergekit-message')).toContainText(
    'stranger.yml not loaded: parent 2 "someone-else.slm" is not in the pool',
  );
  await expect(page.getByTestId('operator-select')).toHaveValue('ties');
});
