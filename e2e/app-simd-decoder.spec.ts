/**
 * The text playground on the garden's wasm-SIMD decoder (issue 18): a quantized model (a Hugging
 * Face folder imported and quantized by the CLI, int8 and int4 block 32, its .slm picked in the
 * app) answers on the wasm-SIMD decoder (src/runtime/simd-decoder.ts) in the text worker, its
 * matvecs split over min(2, cores) threads (nested matvec workers, src/cpu/matvec-browser.ts) when
 * the page is cross-origin isolated, and its greedy ids equal those of the CPU reference for the
 * same file and prompt (`garden generate Q.slm --ids … --greedy --json --runtime reference`). The
 * float folder still answers on onnxruntime-web. Deleting the loaded model stops its matvec workers.
 */
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hfFolderFiles, tinyCheckpoint } from '../src/core/models/llama-testing.ts';

const root = mkdtempSync(join(tmpdir(), 'app-simd-'));
test.afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Seed 3 (hidden 64, so a row holds two blocks of 32) runs 24 greedy tokens after 0,5,9 without its end-of-sequence token. */
const ckpt = tinyCheckpoint({
  architecture: 'LlamaForCausalLM',
  dtype: 'BF16',
  seed: 3,
  scale: 1,
  hidden: 64,
  intermediate: 96,
  heads: 4,
  kvHeads: 2,
});
const PROMPT = [0, 5, 9];
const N = 24;

const garden = (...args: string[]) => execFileSync('node', ['bin/garden.mjs', ...args], { encoding: 'utf8' });

/** The CPU reference's greedy ids after PROMPT (the oracle the app must equal). */
function reference(model: string): number[] {
  const out = JSON.parse(
    garden('generate', model, '--ids', PROMPT.join(','), '--max-new', String(N), '--greedy', '--json', '--runtime', 'reference'),
  ) as {
    ids: number[];
  };
  expect(out.ids.slice(0, PROMPT.length)).toEqual(PROMPT);
  return out.ids.slice(PROMPT.length);
}

async function store(page: Page, files: string[], name: string) {
  await page.getByTestId('text-pick-files').setInputFiles(files);
  await expect(page.getByTestId('text-arch')).toHaveText('LlamaForCausalLM');
  await page.getByTestId('text-store').click();
  await expect(page.getByTestId('text-import-message')).toContainText(`${name} is stored`);
}

async function greedy(page: Page, name: string): Promise<void> {
  await page.getByTestId('text-models').locator('li', { hasText: name }).getByRole('radio').check();
  await page.getByTestId('text-as-ids').check();
  await page.getByTestId('text-prompt').fill(PROMPT.join(','));
  await page.getByTestId('text-max-new').fill(String(N));
  await page.getByTestId('text-greedy').check();
  await page.getByTestId('text-run').click();
  await expect(page.getByTestId('text-output')).toHaveAttribute('data-status', 'done', { timeout: 90_000 });
  await expect(page.getByTestId('text-answered-by')).toContainText(`Answered by ${name}`);
}

test('a quantized model answers on the wasm-SIMD decoder (2 threads when isolated) with the reference greedy ids; a float one on onnxruntime-web', async ({
  page,
}) => {
  test.setTimeout(300_000);
  const dir = join(root, 'tiny-llama');
  mkdirSync(dir);
  for (const [n, b] of hfFolderFiles(ckpt)) writeFileSync(join(dir, n), b);
  const slm = join(root, 'tiny.slm');
  garden('import', dir, '--out', slm);
  const q8 = join(root, 'tiny-int8.slm');
  const q4 = join(root, 'tiny-int4.slm');
  garden('quantize', slm, '--scheme', 'int8', '--block', '32', '--out', q8);
  garden('quantize', slm, '--scheme', 'int4', '--block', '32', '--out', q4);
  const want = { float: reference(dir), int8: reference(q8), int4: reference(q4) };
  for (const ids of Object.values(want)) expect(ids).toHaveLength(N);
  // int8 and int4 are not the float model: the runs are told apart.
  expect(want.int4).not.toEqual(want.float);

  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await page.getByTestId('text-open').click();
  await expect(page.getByTestId('text-playground')).toBeVisible();
  const env = await page.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
  // The app is served cross-origin isolated (COOP/COEP): the decoder splits over min(2, cores) threads.
  expect(env.isolated).toBe(true);
  const threads = Math.min(2, env.cores);
  const simd = `wasm-SIMD, ${threads} thread${threads === 1 ? '' : 's'}`;

  await store(page, [q8], 'tiny-int8');
  await greedy(page, 'tiny-int8');
  await expect(page.getByTestId('text-runtime')).toHaveText(simd);
  await expect(page.getByTestId('text-ids')).toHaveText(want.int8.join(','));
  await expect(page.getByTestId('text-answered-by')).toContainText('on wasm');
  await expect(page.getByTestId('text-stats')).toContainText('tokens/s');
  await expect(page.getByTestId('text-stats')).toContainText('stopped: length limit');

  await store(page, [q4], 'tiny-int4');
  await greedy(page, 'tiny-int4');
  await expect(page.getByTestId('text-runtime')).toHaveText(simd);
  await expect(page.getByTestId('text-ids')).toHaveText(want.int4.join(','));

  // The float folder: onnxruntime-web, as before.
  await store(
    page,
    readdirSync(dir).map((n) => join(dir, n)),
    'Text model of 5 files',
  );
  await greedy(page, 'Text model of 5 files');
  await expect(page.getByTestId('text-runtime')).toHaveText('onnxruntime-web wasm');
  await expect(page.getByTestId('text-ids')).toHaveText(want.float.join(','));

  // Back to int8 (its decoder built again), then deleted while loaded: its matvec workers stop.
  await greedy(page, 'tiny-int8');
  await expect(page.getByTestId('text-runtime')).toHaveText(simd);
  await expect(page.getByTestId('text-ids')).toHaveText(want.int8.join(','));
  const matvecWorkers = () => page.workers().filter((w) => w.url().includes('matvec-web-worker')).length;
  if (threads > 1) await expect.poll(matvecWorkers).toBe(threads - 1);
  await page.getByTestId('text-models').locator('li', { hasText: 'tiny-int8' }).getByTestId('text-delete').click();
  await expect(page.getByTestId('text-models').locator('li', { hasText: 'tiny-int8' })).toHaveCount(0);
  await expect.poll(matvecWorkers).toBe(0);
  expect(errors).toEqual([]);
});
