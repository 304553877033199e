/**
 * The text playground: a tiny seeded Hugging Face Llama folder (BF16, two shards with their
 * index) written here, picked as a folder, shown and stored; greedy generation in the text worker
 * streams exactly the ids and text that `garden generate FOLDER --ids … --greedy --json` gives;
 * refused folders (a missing shard, an unsupported architecture) show their reason and store
 * nothing; out-of-range parameters are refused at the form; Cancel stops a long run; after a
 * reload the model is still there and answers the same. No request leaves the origin.
 */
import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hfFolderFiles, tinyCheckpoint } from '../src/core/models/llama-testing.ts';
import { loadTokenizer } from '../src/core/models/tokenizer.ts';
import { sha256Hex } from '../src/core/hash.ts';
import { watchOrigin } from './fault-helpers.ts';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });

const root = mkdtempSync(join(tmpdir(), 'app-text-'));
test.afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Seed 7 runs 250 greedy tokens after 0,5,9 without its end-of-sequence token (Cancel has time to act). */
const ckpt = tinyCheckpoint({ architecture: 'LlamaForCausalLM', dtype: 'BF16', seed: 7, scale: 1 });
const files = hfFolderFiles(ckpt, { shards: 2 });
/** With a chat template, as instruction-tuned models have (rendered by @huggingface/jinja in the worker and the CLI). */
const CHAT_TEMPLATE =
  '{% for m in messages %}{{ bos_token }}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}';
files.set(
  'tokenizer_config.json',
  new TextEncoder().encode(
    JSON.stringify({ ...JSON.parse(new TextDecoder().decode(files.get('tokenizer_config.json'))), chat_template: CHAT_TEMPLATE }),
  ),
);

function writeFolder(name: string, edit: (f: Map<string, Uint8Array>) => void = () => undefined): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const copy = new Map(files);
  edit(copy);
  for (const [n, b] of copy) writeFileSync(join(dir, n), b);
  return dir;
}

const PROMPT = [0, 5, 9];
const N = 12;

/** The sampling settings of the seeded run (the form's fields and the CLI's flags). */
const SAMPLING = { temperature: '0.8', 'top-k': '40', 'top-p': '0.9', seed: '3' };

function cli(dir: string, ...decoding: string[]): number[] {
  const args = ['bin/garden.mjs', 'generate', dir, '--ids', PROMPT.join(','), '--max-new', String(N), ...decoding, '--json'];
  const out = JSON.parse(execFileSync('node', args, { encoding: 'utf8' })) as { ids: number[] };
  expect(out.ids.slice(0, PROMPT.length)).toEqual(PROMPT);
  return out.ids.slice(PROMPT.length);
}

/** Drop files on the playground's drop zone (or another element), as a browser builds the event. */
async function dropFiles(page: Page, dir: string, target = 'text-drop') {
  const list = readdirSync(dir).map((name) => ({ name, b64: readFileSync(join(dir, name)).toString('base64') }));
  await page.getByTestId(target).evaluate((el, list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, list);
}

async function seriousViolations(page: Page) {
  const r = await new AxeBuilder({ page }).include('[data-testid="text-section"]').analyze();
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
}

async function openPlayground(page: Page) {
  await page.goto('/');
  await page.getByTestId('text-open').click();
  await expect(page.getByTestId('text-playground')).toBeVisible();
}

/** Greedy N new tokens after PROMPT (as ids); the ids seen on the page while it streamed, and at the end. */
async function generateGreedy(page: Page, maxNew: number): Promise<string[]> {
  await page.getByTestId('text-as-ids').check();
  await page.getByTestId('text-prompt').fill(PROMPT.join(','));
  await page.getByTestId('text-max-new').fill(String(maxNew));
  await page.getByTestId('text-greedy').check();
  await page.evaluate(() => {
    const w = window as unknown as { seen: string[]; watch?: MutationObserver };
    w.seen = [];
    w.watch?.disconnect();
    w.watch = new MutationObserver(() => {
      const t = document.querySelector('[data-testid="text-ids"]')?.textContent ?? '';
      if (w.seen[w.seen.length - 1] !== t) w.seen.push(t);
    });
    w.watch.observe(document.querySelector('[data-testid="text-generate"]')!, { subtree: true, childList: true, characterData: true });
  });
  await page.getByTestId('text-run').click();
  await expect(page.getByTestId('text-output')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  return page.evaluate(() => (window as unknown as { seen: string[] }).seen);
}

test('a Hugging Face folder picked, checked, stored; greedy tokens stream as the CLI gives them; refusals store nothing; kept across a reload', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(300_000);
  const origin = new URL(baseURL!).origin;
  const off = watchOrigin(context, origin);
  // A starter text family as `npm run starter` lays it out (public/starter/lm/manifest.json and a
  // folder per model, every file pinned by SHA-256), served here: one model intact, one tampered.
  const starter = hfFolderFiles(tinyCheckpoint({ architecture: 'LlamaForCausalLM', dtype: 'F32', seed: 8 }));
  const pins = Object.fromEntries([...starter].map(([n, b]) => [n, sha256Hex(b)]));
  const manifest = {
    models: [
      { id: 'lm-base', role: 'base', folder: 'lm-base', files: pins },
      { id: 'lm-moby', role: 'specialist', speciality: 'moby', folder: 'lm-moby', files: { ...pins, 'config.json': '0'.repeat(64) } },
    ],
  };
  await context.route(/\/starter\/lm\//, (route) => {
    const path = new URL(route.request().url()).pathname.split('/').slice(3);
    if (path.join('/') === 'manifest.json') return route.fulfill({ json: manifest });
    const bytes = starter.get(decodeURIComponent(path[1] ?? ''));
    return bytes ? route.fulfill({ body: Buffer.from(bytes), contentType: 'application/octet-stream' }) : route.fulfill({ status: 404 });
  });
  const good = writeFolder('tiny-llama');
  const missingShard = writeFolder('missing-shard', (f) => f.delete('model-00002-of-00002.safetensors'));
  const neox = writeFolder('gpt-neox', (f) =>
    f.set(
      'config.json',
      new TextEncoder().encode(JSON.stringify({ ...ckpt.config, architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox' })),
    ),
  );
  const generated = cli(good, '--greedy');
  expect(generated).toHaveLength(N);
  const sampled = cli(good, ...Object.entries(SAMPLING).flatMap(([k, v]) => [`--${k}`, v]));
  expect(sampled).not.toEqual(generated);
  const tokenizer = loadTokenizer({ tokenizer: new TextDecoder().decode(files.get('tokenizer.json')) });
  const continuation = tokenizer.decode(generated);

  // The digits page does not fetch the playground's code until it is opened.
  const fetched: string[] = [];
  page.on('request', (r) => fetched.push(r.url()));
  await page.goto('/');
  await expect(page.getByTestId('text-open')).toBeVisible({ timeout: 90_000 });
  expect(fetched.filter((u) => /TextPlayground|text\.worker/.test(u))).toEqual([]);
  await page.getByTestId('text-open').click();
  await expect(page.getByTestId('text-none')).toBeVisible();

  // Refused: a shard the index names is missing (folder pick); an unsupported architecture (file pick).
  await page.getByTestId('text-pick-folder').setInputFiles(missingShard);
  await expect(page.getByTestId('text-refused')).toContainText('model-00002-of-00002.safetensors');
  await expect(page.getByTestId('text-refused')).toContainText('Nothing was stored.');
  await expect(page.getByTestId('text-store')).toHaveCount(0);
  await page.getByTestId('text-pick-files').setInputFiles(readdirSync(neox).map((n) => join(neox, n)));
  await expect(page.getByTestId('text-refused')).toContainText('GPTNeoXForCausalLM');
  await expect(page.getByTestId('text-refused')).toContainText('LlamaForCausalLM');
  await expect(page.getByTestId('text-none')).toBeVisible();
  // A dropped folder's files are taken by the playground (not by the page-wide model drop).
  await dropFiles(page, missingShard);
  await expect(page.getByTestId('text-refused')).toContainText('model-00002-of-00002.safetensors');
  await expect(page.getByTestId('import-refused')).toHaveCount(0);
  await dropFiles(page, good);
  await expect(page.getByTestId('text-arch')).toHaveText('LlamaForCausalLM');
  await page.getByTestId('text-discard').click();
  await expect(page.getByTestId('text-none')).toBeVisible();
  // Dropped on the page-wide model import instead, a Hugging Face folder is pointed to the playground.
  await dropFiles(page, good, 'import-panel');
  await expect(page.getByTestId('import-refused')).toContainText('open the Text playground below');
  await expect(page.getByTestId('text-none')).toBeVisible();

  // The good folder: what it is, before anything is stored.
  await page.getByTestId('text-pick-folder').setInputFiles(good);
  await expect(page.getByTestId('text-arch')).toHaveText('LlamaForCausalLM');
  await expect(page.getByTestId('text-layers')).toContainText('2');
  await expect(page.getByTestId('text-dtype')).toHaveText('BF16');
  const params = ckpt.tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  await expect(page.getByTestId('text-params')).toHaveText(params.toLocaleString('en'));
  await expect(page.getByTestId('text-bytes')).toContainText(`${(2 * params).toLocaleString('en')} B`);
  await expect(page.getByTestId('text-tokenizer-hash')).toHaveText(/^[0-9a-f]{64}$/);
  await expect(page.getByTestId('text-chat-template')).toContainText('yes');
  await expect(page.getByTestId('text-none')).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByTestId('text-store').click();
  await expect(page.getByTestId('text-import-message')).toContainText('tiny-llama is stored');
  await expect(page.getByTestId('text-models').locator('li')).toHaveCount(1);

  // Parameters out of range are refused with the valid range, not clamped.
  await page.getByTestId('text-max-new').fill('0');
  await expect(page.getByTestId('text-max-new-why')).toContainText('from 1 up to 255');
  await expect(page.getByTestId('text-run')).toBeDisabled();
  await page.getByTestId('text-sample').check();
  await page.getByTestId('text-top-p').fill('5');
  await expect(page.getByTestId('text-top-p-why')).toContainText('above 0 up to 1');
  await page.getByTestId('text-seed').fill('1e20');
  await expect(page.getByTestId('text-seed-why')).toContainText('from 0 up to 4294967295');
  for (const [k, v] of Object.entries(SAMPLING)) await page.getByTestId(`text-${k}`).fill(v);
  await page.getByTestId('text-max-new').fill(String(N));
  await expect(page.getByTestId('text-invalid')).toHaveCount(0);
  await page.getByTestId('text-as-ids').check();
  await page.getByTestId('text-prompt').fill(PROMPT.join(','));
  await page.getByTestId('text-run').click();
  await expect(page.getByTestId('text-output')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  // Seeded sampling: the same draws as the CLI's.
  await expect(page.getByTestId('text-ids')).toHaveText(sampled.join(','));

  // Greedy: streamed token by token, equal to the CLI's ids and text.
  const seen = await generateGreedy(page, N);
  await expect(page.getByTestId('text-ids')).toHaveText(generated.join(','));
  await expect(page.getByTestId('text-continuation')).toHaveText(continuation);
  expect(seen.length, `the ids as they streamed: ${JSON.stringify(seen)}`).toBeGreaterThan(2);
  for (const s of seen) expect(generated.join(',').startsWith(s)).toBe(true);
  await expect(page.getByTestId('text-answered-by')).toContainText('Answered by tiny-llama');
  await expect(page.getByTestId('text-answered-by')).toContainText('on wasm');
  await expect(page.getByTestId('text-stats')).toContainText('tokens/s');
  await expect(page.getByTestId('text-stats')).toContainText('stopped: length limit');
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByTestId('text-section').screenshot({ path: `${SHOTS}/text-playground.png` });

  // A text prompt, encoded with the model's tokenizer (BOS added) as the CLI's --prompt.
  const byText = JSON.parse(
    execFileSync('node', ['bin/garden.mjs', 'generate', good, '--prompt', 'the cat and', '--max-new', String(N), '--greedy', '--json'], {
      encoding: 'utf8',
    }),
  ) as { ids: number[] };
  const promptIds = tokenizer.encode('the cat and');
  expect(byText.ids.slice(0, promptIds.length)).toEqual(promptIds);
  await page.getByTestId('text-as-ids').uncheck();
  await page.getByTestId('text-prompt').fill('the cat and');
  await page.getByTestId('text-run').click();
  await expect(page.getByTestId('text-output')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('text-ids')).toHaveText(byText.ids.slice(promptIds.length).join(','));
  await expect(page.getByTestId('text-stats')).toContainText(`after ${promptIds.length} prompt tokens`);

  // A chat message through the model's chat template, as the CLI's --chat.
  await expect(page.getByTestId('text-as-chat')).toBeVisible();
  const byChat = JSON.parse(
    execFileSync(
      'node',
      ['bin/garden.mjs', 'generate', good, '--chat', '--prompt', 'the cat', '--max-new', String(N), '--greedy', '--json'],
      {
        encoding: 'utf8',
      },
    ),
  ) as { ids: number[] };
  await page.getByTestId('text-as-chat').check();
  await page.getByTestId('text-prompt').fill('the cat');
  await page.getByTestId('text-run').click();
  await expect(page.getByTestId('text-output')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  const chatPrompt = Number((await page.getByTestId('text-stats').textContent())!.match(/after (\d+) prompt tokens/)![1]);
  expect(chatPrompt).toBeGreaterThan(promptIds.length + 2);
  await expect(page.getByTestId('text-ids')).toHaveText(byChat.ids.slice(chatPrompt).join(','));
  await page.getByTestId('text-as-chat').uncheck();

  // Cancel stops a long run before its length limit.
  await page.getByTestId('text-max-new').fill('250');
  await page.getByTestId('text-run').click();
  await expect(page.getByTestId('text-ids')).not.toHaveText('');
  await page.getByTestId('text-cancel').click();
  await expect(page.getByTestId('text-output')).toHaveAttribute('data-status', 'done');
  await expect(page.getByTestId('text-stats')).toContainText('stopped: cancelled');
  const cancelledAt = (await page.getByTestId('text-ids').textContent())!.split(',').length;
  expect(cancelledAt).toBeLessThan(250);

  // Kept across a reload, and answers the same.
  await openPlayground(page);
  await expect(page.getByTestId('text-models').locator('li')).toHaveCount(1);
  await generateGreedy(page, N);
  await expect(page.getByTestId('text-ids')).toHaveText(generated.join(','));

  // The starter text model: fetched, checked against its pins, shown, stored; a tampered one refused.
  await page.getByTestId('text-starter-select').selectOption({ label: 'lm-moby (specialist: moby)' });
  await page.getByTestId('text-starter-load').click();
  await expect(page.getByTestId('text-import-message')).toContainText('does not match');
  await expect(page.getByTestId('text-store')).toHaveCount(0);
  await page.getByTestId('text-starter-select').selectOption({ label: 'lm-base (base)' });
  await page.getByTestId('text-starter-load').click();
  await expect(page.getByTestId('text-dtype')).toHaveText('F32');
  await page.getByTestId('text-store').click();
  await expect(page.getByTestId('text-models').locator('li')).toHaveCount(2);
  await expect(page.getByTestId('text-models')).toContainText('Starter lm-base');

  // A picked copy of the same folder is the same model: stored once.
  const again = join(root, 'tiny-llama-copy');
  mkdirSync(again);
  for (const n of readdirSync(good)) copyFileSync(join(good, n), join(again, n));
  await page.getByTestId('text-pick-folder').setInputFiles(again);
  await page.getByTestId('text-store').click();
  await expect(page.getByTestId('text-import-message')).toContainText('tiny-llama is stored');
  await expect(page.getByTestId('text-models').locator('li')).toHaveCount(2);

  // On onnxruntime's WebGPU execution provider (SwiftShader here): the same greedy tokens.
  await page.getByTestId('inference-select').selectOption('webgpu');
  await generateGreedy(page, N);
  await expect(page.getByTestId('text-answered-by')).toContainText('on webgpu');
  await expect(page.getByTestId('text-ids')).toHaveText(generated.join(','));

  // Delete: the starter model goes, the picked one stays.
  await page.getByRole('button', { name: 'Delete Starter lm-base' }).click();
  await expect(page.getByTestId('text-models').locator('li')).toHaveCount(1);
  await expect(page.getByTestId('text-models')).not.toContainText('Starter lm-base');

  expect(off, `requests that left ${origin}`).toEqual([]);
});

test('the starter text model loads and answers as garden generate does', async ({ page }) => {
  // npm run starter always writes it (from the committed weights): its absence is a failure.
  expect(existsSync('public/starter/lm/manifest.json'), 'public/starter/lm/manifest.json (npm run starter writes it)').toBe(true);
  test.setTimeout(240_000);
  const expected = JSON.parse(
    execFileSync(
      'node',
      ['bin/garden.mjs', 'generate', 'public/starter/lm/base', '--prompt', 'The whale', '--max-new', '16', '--greedy', '--json'],
      {
        encoding: 'utf8',
      },
    ),
  ) as { ids: number[]; text: string };
  const dir = 'public/starter/lm/base';
  const tokenizer = loadTokenizer({
    tokenizer: readFileSync(join(dir, 'tokenizer.json'), 'utf8'),
    config: readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'),
  });
  const prompt = tokenizer.encode('The whale');
  expect(expected.ids.slice(0, prompt.length)).toEqual(prompt);
  await openPlayground(page);
  await page.getByTestId('text-starter-select').selectOption({ label: 'base (base)' });
  await page.getByTestId('text-starter-load').click();
  await expect(page.getByTestId('text-arch')).toHaveText('LlamaForCausalLM');
  await page.getByTestId('text-store').click();
  await expect(page.getByTestId('text-models')).toContainText('Starter base');
  await page.getByTestId('text-prompt').fill('The whale');
  await page.getByTestId('text-max-new').fill('16');
  await page.getByTestId('text-run').click();
  await expect(page.getByTestId('text-output')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('text-ids')).toHaveText(expected.ids.slice(prompt.length).join(','));
  await expect(page.getByTestId('text-answered-by')).toContainText('Answered by Starter base');
  await page.getByTestId('text-section').screenshot({ path: `${SHOTS}/text-playground-starter.png` });
});
