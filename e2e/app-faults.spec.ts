/**
 * Faults survived (issue 15): each injected for real in headless Chromium (e2e/fault-helpers.ts):
 * the kernel worker terminated mid-breed, IndexedDB's quota exceeded mid-write, the WebGPU device
 * destroyed mid-breed, the page reloaded mid-breed, a stored tensor's bytes flipped, two tabs
 * breeding at once. Each ends with no partial candidate, a one-line message, a retry that works,
 * the ledger's head matching its entries, and every earlier model there with its tensors
 * re-hashed. No request leaves the origin meanwhile.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import {
  arm,
  candidates,
  watchOrigin,
  checkGarden,
  expectIntact,
  expectNotice,
  flipTensor,
  installFaults,
  openGarden,
  pickBlend,
  recordFault,
  type GardenCheck,
} from './fault-helpers.ts';

mkdirSync('e2e/screenshots', { recursive: true });

/** No receipt, no candidate, not one tensor more, every model as it was; the row for docs/RELIABILITY.md. */
async function expectNothingBred(page: Page, before: GardenCheck, fault: string, outcome: string): Promise<void> {
  await expect(page.getByTestId('receipt')).toHaveCount(0);
  const now = await checkGarden(page);
  expect(candidates(now)).toEqual([]);
  expect(now.tensors).toBe(before.tensors);
  expectIntact(now, before);
  recordFault(fault, outcome, now, before);
}

async function breedAndSee(page: Page): Promise<void> {
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 60_000 });
}

test.beforeEach(async ({ context }) => {
  await context.addInitScript(installFaults);
});

test('worker terminated, quota exceeded and GPU device lost, each mid-breed: nothing partial, a message, a retry', async ({
  page,
  context,
  baseURL,
}) => {
  const off = watchOrigin(context, new URL(baseURL!).origin);
  let kernelWorker: import('@playwright/test').Worker | null = null;
  // The kernel worker runs from the fault helpers' wrapper (a blob: URL): known by its name.
  page.on('worker', (w) => {
    void w
      .evaluate(() => self.name)
      .then(
        (name) => name === 'kernels' && (kernelWorker = w),
        () => undefined,
      );
  });
  await openGarden(page);
  const before = await checkGarden(page);
  expect(candidates(before)).toEqual([]);
  await pickBlend(page);

  await test.step('kernel worker terminated at its first progress report', async () => {
    await arm(page, { atProgress: 'terminate' });
    await page.getByTestId('breed-button').click();
    await expectNotice(
      page,
      /Breeding failed: the kernel worker stopped \(terminated or crashed\).*Nothing was stored\./,
      'fault-worker-terminated',
    );
    await expectNothingBred(
      page,
      before,
      'kernel worker terminated at its first progress report of a breed',
      '"Breeding failed: the kernel worker stopped … Nothing was stored."; no candidate, no tensor more; the retry breeds',
    );
  });

  await test.step('storage quota exceeded after the first tensor of the candidate', async () => {
    const smallest = 64 * 4; // fc1.bias: the first put may pass, the 784×64 weight cannot
    await arm(page, { quotaLeft: smallest });
    await page.getByTestId('breed-button').click();
    await expectNotice(
      page,
      /Breeding failed: storage quota exceeded while storing a tensor .*try again\. Nothing was stored\./,
      'fault-quota',
    );
    await expectNothingBred(
      page,
      before,
      "storage quota exceeded after the first tensor of a breed's candidate",
      '"Breeding failed: storage quota exceeded … Nothing was stored."; no candidate, no tensor more; the retry breeds',
    );
    await arm(page, { quotaLeft: Infinity });
  });

  await test.step('retry after both: the breed goes through', async () => {
    await breedAndSee(page);
    const now = await checkGarden(page);
    expect(candidates(now)).toHaveLength(1);
    expectIntact(now, before);
  });

  await test.step('WebGPU device destroyed mid-breed', async () => {
    expect(kernelWorker).not.toBeNull();
    // The worker started after the termination above; patch its GPUDevice so the 2nd encoder of the
    // next breed destroys the device (device.destroy(), as a lost GPU would).
    await kernelWorker!.evaluate(() => {
      const g = globalThis as unknown as { __encoders: number };
      g.__encoders = 2;
      const create = GPUDevice.prototype.createCommandEncoder;
      GPUDevice.prototype.createCommandEncoder = function (this: GPUDevice, d?: GPUCommandEncoderDescriptor) {
        if (g.__encoders > 0 && --g.__encoders === 0) this.destroy();
        return create.call(this, d);
      };
    });
    await pickBlend(page, 'rotated');
    await page.getByTestId('breed-button').click();
    // The tensors after the loss run on the CPU reference: a whole candidate, its receipt naming the fallback.
    await expectNotice(
      page,
      /The WebGPU device was lost during this breed: the tensors after it ran on the CPU reference/,
      'fault-device-lost',
    );
    await expect(page.getByTestId('receipt-adapter')).toContainText(/device lost/i);
    const now = await checkGarden(page);
    expect(candidates(now)).toHaveLength(2);
    expectIntact(now, before);
    recordFault(
      'WebGPU device destroyed at the 2nd command encoder of a breed',
      'the breed finishes on the CPU reference and says so (receipt: device lost); the next breed runs on a fresh device',
      now,
      before,
    );
    // Retry: a fresh device, the whole breed on WebGPU.
    await page.getByLabel('Select Digits rotated specialist').uncheck();
    await pickBlend(page, 'noisy');
    await breedAndSee(page);
    await expect(page.getByTestId('receipt-backend')).toHaveText('WebGPU');
    await expect(page.getByTestId('receipt-adapter')).not.toContainText('lost');
  });
  await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');
  expect(off).toEqual([]);
});

test('page reloaded mid-breed, then stored tensors corrupted: told on open, a starter restored, nothing partial, retry works', async ({
  page,
}) => {
  await openGarden(page);
  const before = await checkGarden(page);
  await pickBlend(page);

  await test.step('reload at the first progress report', async () => {
    await arm(page, { atProgress: 'reload' });
    await Promise.all([page.waitForEvent('load'), page.getByTestId('breed-button').click()]);
    await expectNotice(
      page,
      /A breed \(Blend\) was cut off when the page closed or reloaded: nothing of it was stored\. Breed again\./,
      'fault-reload',
    );
    await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
    const now = await checkGarden(page);
    expect(candidates(now)).toEqual([]);
    expectIntact(now, before);
    recordFault(
      'page reloaded at the first progress report of a breed',
      'on open: "A breed (Blend) was cut off … nothing of it was stored. Breed again."; no candidate; the retry breeds',
      now,
      before,
    );
  });

  await test.step('retry after the reload: the breed goes through', async () => {
    await pickBlend(page, 'noisy');
    await breedAndSee(page);
  });
  const bred = await checkGarden(page);
  const [candidate] = candidates(bred);
  expect(candidate).toBeTruthy();

  await test.step('a bit of a starter model flipped in IndexedDB: restored from the starter garden on open', async () => {
    const flipped = await flipTensor(page, 'digits-thick', 'fc2.weight');
    expect((await checkGarden(page)).corrupt).toEqual([flipped]);
    await page.reload();
    await expectNotice(
      page,
      new RegExp(
        `Restored from the starter garden \\(the stored copy failed its content hashes\\): Digits thick specialist \\(stored tensor ${flipped.slice(0, 12)} is corrupt`,
      ),
      'fault-corrupt-restored',
    );
    const now = await checkGarden(page);
    expectIntact(now, bred);
    recordFault(
      "one bit of a starter model's stored tensor flipped in IndexedDB",
      'on open: "Restored from the starter garden (the stored copy failed its content hashes)"; the model re-hashes',
      now,
      bred,
    );
  });

  await test.step('a bit of a candidate flipped: refused on open and as a parent, the rest intact, retry with others works', async () => {
    const flipped = await flipTensor(page, candidate, 'fc1.weight');
    await page.reload();
    await expectNotice(page, new RegExp(`Could not evaluate .*: stored tensor ${flipped.slice(0, 12)} is corrupt`), 'fault-corrupt-open');
    await page.getByTestId('operator-select').selectOption('blend');
    await page.getByLabel('Select Digits base').check();
    await page.getByTestId(`model-${candidate}`).getByRole('checkbox').check();
    await page.getByTestId('breed-button').click();
    await expectNotice(
      page,
      /Breeding failed: the parent .* cannot be read: stored tensor .* is corrupt.*Nothing was stored\./,
      'fault-corrupt-breed',
    );
    const now = await checkGarden(page);
    expect(now.corrupt).toEqual([flipped]);
    expect(candidates(now)).toEqual([candidate]);
    expectIntact(now, bred, { corrupt: 1 });
    recordFault(
      "one bit of a candidate's stored tensor flipped in IndexedDB",
      'refused on open ("stored tensor … is corrupt") and as a parent ("Nothing was stored"); every other model re-hashes; a breed of others goes through',
      now,
      bred,
      [candidate],
    );
    await page.getByTestId(`model-${candidate}`).getByRole('checkbox').uncheck();
    await pickBlend(page, 'rotated');
    await breedAndSee(page);
    expect(candidates(await checkGarden(page))).toHaveLength(2);
  });
});

test('two tabs breeding at once: the second waits (Web Locks) and goes on after the first', async ({ context }) => {
  const [a, b] = [await context.newPage(), await context.newPage()];
  await openGarden(a);
  await openGarden(b);
  const before = await checkGarden(a);
  await pickBlend(a, 'thick');
  await pickBlend(b, 'rotated');
  await arm(a, { holdBreed: true });
  await a.getByTestId('breed-button').click();
  await expect.poll(() => a.evaluate(() => navigator.locks.query().then((q) => q.held?.length ?? 0))).toBeGreaterThan(0);
  await b.getByTestId('breed-button').click();
  await expectNotice(b, /Another tab of this garden is breeding: this breed waits until it has finished/, 'fault-two-tabs');
  await b.waitForTimeout(500);
  await expect(b.getByTestId('receipt')).toHaveCount(0);
  expect(candidates(await checkGarden(b))).toEqual([]);
  await a.evaluate(() => (window as unknown as { __faults: { release(): void } }).__faults.release());
  await expect(a.getByTestId('receipt')).toBeVisible({ timeout: 60_000 });
  await expect(b.getByTestId('receipt')).toBeVisible({ timeout: 60_000 });
  const now = await checkGarden(b);
  expect(candidates(now)).toHaveLength(2);
  expectIntact(now, before);
  recordFault(
    'two tabs breeding at once',
    'the second waits on a Web Lock ("Another tab of this garden is breeding …") and breeds after the first: two whole candidates',
    now,
    before,
  );
});
