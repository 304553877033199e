/**
 * The contributor's flow (issue 16, "Sharing by file"): garden A breeds and evaluates a candidate,
 * exports it as a signed bundle and its public key; garden B (a fresh browser profile holding the
 * same starter parents) trusts the key, imports the bundle by drop and gets "reproduced: identical
 * hash". A bundle whose parents are not in B's pool is not reproduced, naming them; the same bundle
 * with one changed byte, one signed by an unknown key, and one that carries an old selector
 * registry version (signed by a trusted key) are refused with their reasons, and none of them
 * writes anything: B's pool, ledger and registry are as before. `garden verify` agrees on A's file.
 */
import { test, expect, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, publicJwk, signEnvelope, fromBase64, toBase64, type PrivateJwk } from '../src/core/share/dsse.ts';
import { PAYLOAD_TYPE } from '../src/core/share/intoto.ts';
import { manifestJson, type Manifest } from '../src/core/manifest/index.ts';
import { sha256Hex } from '../src/core/hash.ts';
import type { Bundle } from '../src/core/share/bundle.ts';
import { breedExampleRecipe } from './app-helpers.ts';
import { watchOrigin } from './fault-helpers.ts';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });
/** The share panel itself (the page is long; the panel is what each step changes). */
const shot = (page: Page, name: string) => page.getByTestId('share-panel').screenshot({ path: `${SHOTS}/share-${name}.png` });

const dir = mkdtempSync(join(tmpdir(), 'garden-share-'));

async function download(page: Page, testId: string, to: string): Promise<string> {
  const d = page.waitForEvent('download');
  await page.getByTestId(testId).click();
  const path = join(dir, to);
  await (await d).saveAs(path);
  return path;
}

/** Drop one file on an element, as a drag from the desktop does. */
async function drop(page: Page, testId: string, name: string, text: string): Promise<void> {
  const dt = await page.evaluateHandle(
    ([n, t]) => {
      const d = new DataTransfer();
      d.items.add(new File([t], n, { type: 'application/json' }));
      return d;
    },
    [name, text] as const,
  );
  await page.getByTestId(testId).dispatchEvent('drop', { dataTransfer: dt });
}

async function pick(page: Page, name: string, text: string): Promise<void> {
  await page.getByTestId('bundle-input').setInputFiles({ name, mimeType: 'application/json', buffer: Buffer.from(text) });
}

/** The statement of a bundle, changed by `edit`, signed again by `key`. */
async function resigned(
  b: Bundle,
  key: PrivateJwk,
  edit: (statement: { subject: { name: string; digest: { sha256: string } }[] }) => void,
) {
  const out = JSON.parse(JSON.stringify(b)) as Bundle;
  const statement = JSON.parse(new TextDecoder().decode(fromBase64(b.envelope.payload)));
  edit(statement);
  out.envelope = await signEnvelope(PAYLOAD_TYPE, new TextEncoder().encode(JSON.stringify(statement)), key);
  return out;
}

/**
 * What no import may change (but by one reproduced candidate in the pool): the release and
 * admission entries of the ledger (the app writes other evidence in the background), the chain's
 * verdict, the registry version, the pool.
 */
async function gardenState(page: Page) {
  const entries = await page.getByTestId('ledger').locator('li').allInnerTexts();
  return {
    chain: /chain intact/.test(await page.getByTestId('ledger-verdict').innerText()),
    registryEntries: entries.filter((t) => /^(release|rollback|admission)\b/.test(t)),
    registry: await page.getByTestId('registry-version').innerText(),
    pool: await page.locator('[data-testid^="model-"]').count(),
  };
}

test('a signed bundle exported from one garden is verified and reproduced in another; tampered, unknown-key and replayed bundles are refused', async ({
  browser,
  baseURL,
}) => {
  test.setTimeout(360_000);
  const origin = new URL(baseURL!).origin;
  // Garden A: breed (task arithmetic of the three specialists on the base), evaluate, export.
  const ctxA = await browser.newContext({ acceptDownloads: true });
  const offA = watchOrigin(ctxA, origin);
  const a = await ctxA.newPage();
  await a.goto('/');
  await breedExampleRecipe(a);
  await expect(a.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
  const first = (await a.getByTestId('candidate-name').innerText()).trim();
  await a.getByTestId('evaluate-button').click();
  await expect(a.getByTestId('candidate-accuracy-clean')).toContainText('%', { timeout: 120_000 });
  await expect(a.getByTestId('gates')).toContainText('viability', { timeout: 60_000 });

  await a.getByTestId('share-key-name').fill("Alice's garden");
  await a.getByTestId('share-key-rename').click();
  await expect(a.getByTestId('share-export-message')).toContainText("now named “Alice's garden”");
  const kid = (await a.getByTestId('share-key-kid').innerText()).replace('key ', '').trim();
  expect(kid).toMatch(/^[0-9a-f]{16}$/);
  const pubPath = await download(a, 'share-export-key', 'alice.pub.jwk');
  expect(JSON.parse(readFileSync(pubPath, 'utf8'))).toMatchObject({ kty: 'EC', crv: 'P-256', kid });
  expect(JSON.parse(readFileSync(pubPath, 'utf8')).d).toBeUndefined();
  const bundlePath = await download(a, 'share-export-bundle', 'first.bundle.json');
  await expect(a.getByTestId('share-export-message')).toContainText(`signed by key ${kid}`);
  const bundleText = readFileSync(bundlePath, 'utf8');
  const bundle = JSON.parse(bundleText) as Bundle;
  // The candidate's documents, its evaluation sidecars among them; the model itself only by hash.
  expect(Object.keys(bundle.files).sort()).toEqual(
    expect.arrayContaining([
      'candidate-manifest.json',
      'compatibility-report.json',
      'lineage-template.json',
      'operator-receipt.json',
      'evaluation-sidecar.json',
    ]),
  );
  expect(Object.keys(bundle.files).some((n) => n.endsWith('.slm'))).toBe(false);
  await shot(a, 'export');

  // A second breed from the first candidate and the base: its bundle names a parent only A holds.
  for (const name of ['Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
    await a.getByLabel(`Select ${name}`).uncheck();
  await a.getByLabel(`Select ${first}`).check();
  await a.getByTestId('breed-button').click();
  await expect(a.getByTestId('candidate-name')).not.toHaveText(first, { timeout: 120_000 });
  await a.getByTestId('share-with-model').check();
  const secondPath = await download(a, 'share-export-bundle', 'second.bundle.json');
  const second = readFileSync(secondPath, 'utf8');
  expect(Object.keys((JSON.parse(second) as Bundle).files).some((n) => n.endsWith('.slm'))).toBe(true);
  // An old version of A's selector registry (its first: the starter base as champion), for the replay below.
  const oldRegistry = await a.evaluate(
    () =>
      new Promise<Manifest>((resolve, reject) => {
        const r = indexedDB.open('slm-garden-audit');
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          const q = r.result.transaction('entries').objectStore('entries').getAll();
          q.onsuccess = () =>
            resolve(
              (q.result as { entry: { type: string; payload: { registry: Manifest } } }[]).find((x) => x.entry.type === 'release')!.entry
                .payload.registry,
            );
        };
      }),
  );
  expect(oldRegistry.kind).toBe('selector-registry');
  await ctxA.close();

  // The CLI agrees on A's file: signature, hashes, and the breed again from the starter parents on the CPU.
  const cli = spawnSync('node', ['bin/garden.mjs', 'verify', bundlePath, '--trust', pubPath, '--parents', 'public/starter/digits'], {
    encoding: 'utf8',
  });
  expect(cli.stdout).toContain(`signature: good, key ${kid}`);
  expect(cli.stdout.trim().split('\n').at(-1)).toBe('reproduced: identical hash');
  expect(cli.status).toBe(0);

  // Garden B: a fresh profile, the same starter parents.
  const ctxB = await browser.newContext();
  const offB = watchOrigin(ctxB, origin);
  const b = await ctxB.newPage();
  await b.goto('/');
  await expect(b.getByLabel('Select Digits base')).toBeVisible();
  await expect(b.getByTestId('ledger-verdict')).toContainText('chain intact');
  const before = await gardenState(b);

  // Not trusted yet: refused with the reason, naming the key.
  await pick(b, 'first.bundle.json', bundleText);
  await expect(b.getByTestId('share-refused')).toContainText(`signed by an unknown key (${kid}); trusted: none`);

  await b.getByTestId('trust-name').fill('Alice');
  await b.getByTestId('trust-file').setInputFiles(pubPath);
  await b.getByTestId('trust-add').click();
  await expect(b.getByTestId('trusted-list')).toContainText(`Alice ${kid}`);

  // Its parents are not all here: verified, not reproduced, nothing stored.
  await pick(b, 'second.bundle.json', second);
  await expect(b.getByTestId('share-verdict')).toContainText(/not reproduced: missing parent [0-9a-f]{64}/);
  await expect(b.getByTestId('share-stored')).toHaveText('nothing stored.');
  expect(await gardenState(b)).toEqual(before);
  await shot(b, 'missing-parents');

  // One changed byte (in the receipt's bytes): refused, its hash against the signed one.
  const at = bundleText.indexOf('"operator-receipt.json": "') + 40;
  const flipped = bundleText.slice(0, at) + (bundleText[at] === 'A' ? 'B' : 'A') + bundleText.slice(at + 1);
  await pick(b, 'tampered.bundle.json', flipped);
  await expect(b.getByTestId('share-refused')).toContainText(
    /^Refused: file operator-receipt\.json has sha256 [0-9a-f]{64}, the signed statement says [0-9a-f]{64}\. Nothing was stored\.$/,
  );
  await shot(b, 'tampered');

  // The same statement signed by a key B does not trust.
  const mallory = await generateKey();
  const unknown = await resigned(bundle, mallory, () => undefined);
  await pick(b, 'unknown.bundle.json', JSON.stringify(unknown));
  await expect(b.getByTestId('share-refused')).toContainText(`signed by an unknown key (${mallory.kid}); trusted: ${kid}`);
  await shot(b, 'unknown-key');

  // A trusted signer replays an old registry version inside a bundle: a bundle carries a
  // candidate's documents only, so it is refused, and B's registry stays as it is.
  const carol = await generateKey();
  await b.getByTestId('trust-name').fill('Carol');
  await b.getByTestId('trust-text').fill(JSON.stringify(publicJwk(carol)));
  await b.getByTestId('trust-add').click();
  await expect(b.getByTestId('trusted-list')).toContainText(`Carol ${carol.kid}`);
  const registryBytes = new TextEncoder().encode(manifestJson(oldRegistry));
  const replay = await resigned(bundle, carol, (s) => {
    s.subject.push({ name: 'selector-registry.json', digest: { sha256: sha256Hex(registryBytes) } });
  });
  replay.files['selector-registry.json'] = toBase64(registryBytes);
  await pick(b, 'replay.bundle.json', JSON.stringify(replay));
  await expect(b.getByTestId('share-refused')).toContainText(
    'Refused: a bundle carries no selector-registry: release state (registry versions, admissions, ledger entries) is never imported, so none can be replayed. Nothing was stored.',
  );
  await shot(b, 'replay');
  expect(await gardenState(b)).toEqual(before);

  // Another tab of this garden holds the breed lock: the verified bundle waits, and Cancel stops it, storing nothing.
  await b.evaluate(() => {
    void navigator.locks.request(
      'slm-garden-breed',
      () => new Promise<void>((release) => ((window as unknown as { releaseBreed: () => void }).releaseBreed = release)),
    );
  });
  await pick(b, 'first.bundle.json', bundleText);
  await expect(b.getByTestId('share-progress-text')).toContainText('waits for another tab');
  await b.getByTestId('share-cancel').click();
  await expect(b.getByTestId('share-refused')).toHaveText('Refused: the reproduction was cancelled. Nothing was stored.');
  await b.evaluate(() => (window as unknown as { releaseBreed: () => void }).releaseBreed());
  expect(await gardenState(b)).toEqual(before);

  // Dropped on the model import instead: it says where a bundle goes.
  await drop(b, 'import-panel', 'first.bundle.json', bundleText);
  await expect(b.getByTestId('import-message')).toContainText('first.bundle.json is a signed bundle, not a model: import it in 3b');

  // The bundle as A wrote it, dropped on the panel: signature, hashes, and the breed again here.
  await drop(b, 'bundle-drop', 'first.bundle.json', bundleText);
  await expect(b.getByTestId('share-verdict')).toHaveText('✓ reproduced: identical hash', { timeout: 120_000 });
  await expect(b.getByTestId('share-import-report')).toContainText(`signature: good, by “Alice” (key ${kid})`);
  await expect(b.getByTestId('share-stored')).toHaveText(`added to the pool as ${first}.`);
  await shot(b, 'reproduced');
  const after = await gardenState(b);
  expect({ ...after, pool: after.pool - 1 }).toEqual(before);

  // Now the second bundle's parents are all here: it is reproduced too (and carries the model).
  await pick(b, 'second.bundle.json', second);
  await expect(b.getByTestId('share-verdict')).toHaveText('✓ reproduced: identical hash', { timeout: 120_000 });
  await expect(b.getByTestId('share-import-report')).toContainText('the model included');

  // Removing the key: the bundle is refused again.
  await b.getByTestId(`trust-remove-${kid}`).click();
  await pick(b, 'first.bundle.json', bundleText);
  await expect(b.getByTestId('share-refused')).toContainText(`signed by an unknown key (${kid}); trusted: ${carol.kid}`);
  expect((await gardenState(b)).registry).toBe(before.registry);
  // Export, import and the reproduction never left the origin, in either garden.
  expect([...offA, ...offB], `requests that left ${origin}`).toEqual([]);
  await ctxB.close();
});
