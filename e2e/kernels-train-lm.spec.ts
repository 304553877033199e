/**
 * WebGPU training-kernel conformance for the Llama family (src/gpu/train): RoPE, causal
 * grouped-query attention, the embedding's gather and scatter-add, the residual add and SwiGLU's
 * product against the CPU training engine (src/core/train/ops-llm.ts, ops.ts), then whole LoRA
 * steps and an eight-step loop of tiny seeded Llamas (GQA; tied head with Llama 3 RoPE and
 * attention biases; Mistral's sliding window) on GpuLlamaLoraTrainer against the CPU step, in
 * headless Chromium (SwiftShader where there is no GPU). The measures and bounds are stated in
 * e2e/harness/kernels-train-lm-entry.ts and train-checks.ts; each check logs its figure beside
 * its bound.
 *
 *   npx playwright test e2e/kernels-train-lm.spec.ts --project kernels
 */
import { test, expect, type Page } from '@playwright/test';
import { bundleKernelHarness } from './harness/bundle.ts';
import { expectWithin } from './harness/expect-checks.ts';

let page: Page;

test.beforeAll(async ({ browser }) => {
  const [r, p] = await Promise.all([bundleKernelHarness('kernels-train-lm-entry.ts'), browser.newPage()]);
  page = p;
  page.on('pageerror', (e) => console.log(`[page] ${e.message}`));
  // WebGPU reports a shader or pipeline error on the console only.
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`[console] ${m.text()}`);
  });
  await page.goto('/');
  // The bundle is an IIFE that sets globalThis.__trainLmKernels.
  await page.evaluate(r);
  expect(await page.evaluate(() => typeof window.__trainLmKernels)).toBe('object');
});

test.afterAll(async () => {
  await page?.close();
});

test('the Llama block kernels agree with the CPU engine within their stated bounds', async () => {
  const info = await page.evaluate(() => window.__trainLmKernels.info());
  console.log(`adapter: ${info.adapter} (software: ${info.software})`);
  expect(info.adapter, 'navigator.gpu.requestAdapter() returned null').not.toBeNull();
  const checks = await page.evaluate(() => window.__trainLmKernels.kernels(1));
  const names = checks.map((c) => c.name).join('\n');
  for (const op of [
    'rope rope_theta 10000 forward',
    'llama3 scaling backward',
    'attention GQA',
    'sliding window',
    ' dq',
    ' dk',
    ' dv',
    'gather',
    'scatter-add',
    'residual add',
    'swiglu',
  ])
    expect(names, `no check of ${op}`).toContain(op);
  expectWithin(checks);
});

test('three LoRA steps of tiny Llamas (five models and target sets) on the GPU match the CPU step: loss, every LoRA gradient, AdamW', async () => {
  const models = ['gqa', 'tied', 'mistral', 'upper', 'head'] as const;
  const all = await page.evaluate((ms) => window.__trainLmKernels.llamaSteps(3, ms), models);
  for (const model of models) {
    const checks = all[model];
    // Per step a loss, and per LoRA tensor (A and B of each target module) a gradient and an update.
    const tensors = { gqa: 2 * (7 * 2 + 1), tied: 2 * 7 * 2, mistral: 2 * (7 + 1), upper: 2 * 2, head: 2 }[model];
    expect(checks.filter((c) => c.name.endsWith(' grad')).length).toBe(3 * tensors);
    expect(checks.filter((c) => c.measure === 'step').length).toBe(3 * tensors);
    expectWithin(checks);
  }
});

test('eight steps of the LoRA loop on the GPU (gpuLlamaAdapterSteps) follow the CPU loop (llamaAdapterSteps)', async () => {
  const checks = await page.evaluate(() => window.__trainLmKernels.llamaLoop(5, 'gqa'));
  expect(checks.length).toBe(1 + 2 * (7 * 2 + 1));
  expectWithin(checks);
});

test('a GPU lost mid-run hands the LoRA run to the CPU, which carries it on from the last step (weights and AdamW moments)', async () => {
  const r = await page.evaluate(() => window.__trainLmKernels.llamaFallback(7));
  console.log(`engine: ${r.engine}`);
  expect(r.kinds).toEqual(['webgpu', 'webgpu', 'webgpu', 'cpu', 'cpu', 'cpu']);
  expect(r.engine).toMatch(/^WebGPU training kernels .* for steps 1–3, then garden tape \(CPU, f32\) from step 4/);
  expectWithin(r.checks);
});
