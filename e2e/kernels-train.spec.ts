/**
 * WebGPU training-kernel conformance (src/gpu/train): every forward and gradient kernel against
 * the CPU training engine (src/core/train) on seeded inputs, and two whole training steps of the
 * MLP species (loss, every parameter gradient, the AdamW update), in headless Chromium (SwiftShader
 * where there is no GPU). The measures and their bounds are stated in
 * e2e/harness/kernels-train-entry.ts; each check logs its figure beside its bound.
 *
 *   npx playwright test e2e/kernels-train.spec.ts --project kernels
 */
import { test, expect, type Page } from '@playwright/test';
import { bundleKernelHarness } from './harness/bundle.ts';
import { expectWithin } from './harness/expect-checks.ts';

let page: Page;

test.beforeAll(async ({ browser }) => {
  const [harness, p] = await Promise.all([bundleKernelHarness('kernels-train-entry.ts'), browser.newPage()]);
  page = p;
  page.on('pageerror', (e) => console.log(`[page] ${e.message}`));
  await page.goto('/');
  // The bundle is an IIFE that sets globalThis.__trainKernels.
  await page.evaluate(harness);
  expect(await page.evaluate(() => typeof window.__trainKernels)).toBe('object');
});

test.afterAll(async () => {
  await page?.close();
});

test('a WebGPU adapter is present for the training kernels', async () => {
  const info = await page.evaluate(() => window.__trainKernels.info());
  console.log(`adapter: ${info.adapter} (software: ${info.software})`);
  expect(info.adapter, 'navigator.gpu.requestAdapter() returned null').not.toBeNull();
});

test('every training kernel agrees with the CPU engine within its stated bound', async () => {
  const checks = await page.evaluate(() => window.__trainKernels.kernels(1));
  const names = checks.map((c) => c.name).join('\n');
  for (const op of ['matmul', 'dX', 'dW', 'bias add', 'bias grad', 'relu', 'silu', 'cross-entropy', 'rmsnorm', 'lora', 'adamw'])
    expect(names, `no check of ${op}`).toContain(op);
  expectWithin(checks);
});

test('two training steps of the MLP 784→64→10 on the GPU match the CPU step: loss, gradients, AdamW', async () => {
  const checks = await page.evaluate(() => window.__trainKernels.mlpStep(5));
  expect(checks.filter((c) => c.name.endsWith(' grad')).length).toBe(8);
  expect(checks.filter((c) => c.measure === 'step').length).toBe(8);
  expectWithin(checks);
});

test('six steps of the training loop on the GPU (gpuMlpSteps) follow the CPU loop: losses and final weights', async () => {
  const checks = await page.evaluate(() => window.__trainKernels.mlpLoop(9));
  expect(checks.length).toBe(5);
  expectWithin(checks);
});

test('adapters as the app trains them (LoRA r4 α8 dropout 0.05 on fc1+fc2; a new head): GPU steps, loop and run match the CPU engine', async () => {
  for (const mode of ['lora', 'head'] as const) {
    const step = await page.evaluate((m) => window.__trainKernels.adapterStep(3, m), mode);
    // LoRA: A and B of two modules; head: fc2's weight and bias. Per step: a loss, and per tensor a gradient and an update.
    const tensors = mode === 'lora' ? 4 : 2;
    expect(step.filter((c) => c.name.endsWith(' grad')).length).toBe(2 * tensors);
    expect(step.filter((c) => c.measure === 'step').length).toBe(2 * tensors);
    expectWithin(step);
    const loop = await page.evaluate((m) => window.__trainKernels.adapterLoop(4, m), mode);
    expect(loop.length).toBe(1 + tensors);
    expectWithin(loop);
  }
  const run = await page.evaluate(() => window.__trainKernels.adapterRun(5));
  console.log(`trainAdapterOnGpu engine: ${run.engine}`);
  expect(run.kind).toBe('webgpu');
  expect(run.manifestEngine).toBe(run.engine);
  expect(run.fallbackKind).toBe('cpu');
  // A device lost mid-run: the CPU took the last steps on from the GPU's host copy, and the manifest says so.
  console.log(`device lost after step 2: ${run.lost.engine}`);
  expect(run.lost.kind).toBe('cpu');
  expect(run.lost.engine).toMatch(/ for steps 1–2, then garden tape \(CPU, f32\) from step 3 /);
  expect(run.lost.manifestEngine).toBe(run.lost.engine);
  // The worker's default leaves a software adapter (SwiftShader) to the CPU tape, which is faster there.
  const { software } = await page.evaluate(() => window.__trainKernels.info());
  expect(run.autoKind).toBe(software ? 'cpu' : 'webgpu');
  expectWithin(run.checks);
});
