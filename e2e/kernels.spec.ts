/**
 * WebGPU kernel conformance: every GPU kernel against its CPU reference (the oracle), in headless
 * Chromium (SwiftShader where there is no GPU). Selections and masks must agree bit for bit;
 * arithmetic within the ULP bound stated per operator below. Results do not depend on chunking.
 *
 * Runs in the lead's config (project 'kernels', on the built app) or alone against a blank page:
 *   npx playwright test -c e2e/harness/playwright.kernels.config.ts
 */
import { test, expect, type Page } from '@playwright/test';
import { bundleKernelHarness } from './harness/bundle.ts';
import type { ConformanceRequest, ConformanceResult } from './harness/kernels-entry.ts';
import type { ParamValues, RecipeParams } from '../src/core/operators/types.ts';

let harness = '';
let page: Page;

test.beforeAll(async ({ browser }) => {
  harness = await bundleKernelHarness();
  page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[page] ${m.text()}`);
  });
  await page.goto('/');
  await page.addScriptTag({ content: harness });
  await page.waitForFunction(() => typeof window.__kernels === 'object');
});

test.afterAll(async () => {
  await page?.close();
});

async function conform(req: ConformanceRequest): Promise<ConformanceResult> {
  const r = await page.evaluate((q) => window.__kernels.conformance(q), req);
  console.log(
    `${r.op} n=${r.n} chunks=${r.chunks}: bit-identical ${r.bitIdentical}/${r.n}, max ULP ${r.maxUlp}` +
      (r.chunkInvariant === undefined ? '' : `, chunk-invariant ${r.chunkInvariant}`) +
      ` (cpu ${r.cpuMs.toFixed(1)} ms, gpu ${r.gpuMs.toFixed(1)} ms)`,
  );
  return r;
}

test('a WebGPU adapter is present', async () => {
  const info = await page.evaluate(() => window.__kernels.info());
  console.log(`adapter: ${info.adapter} (software: ${info.software}); kernels: ${info.kernels.join(', ')}`);
  expect(info.adapter, 'navigator.gpu.requestAdapter() returned null').not.toBeNull();
  expect(info.kernels).toContain('blend');
});

// blend of 3 parents: w₀x₀ + w₁x₁ + w₂x₂ in f32; a fused multiply-add skips one rounding per
// parent, so the stated bound is 2 ULP (measured on SwiftShader: see the log lines).
const BLEND_ULP = 2;
const AWKWARD = [1, 3, 5, 1023, 4097, 65537 + 3];

for (const n of AWKWARD) {
  test(`blend of 3 parents, n=${n}, within ${BLEND_ULP} ULP of the CPU`, async () => {
    const r = await conform({
      op: 'blend',
      n,
      inputs: 3,
      params: { weights: [0.2, 0.7, 0.35], normalize: true },
      seed: 7,
      name: `layer.${n}.weight`,
      inputSeed: n,
    });
    expect(r.maxUlp).toBeLessThanOrEqual(BLEND_ULP);
    expect(r.chunks).toBe(1);
  });
}

test(`blend larger than a forced chunk size is chunk-invariant and within ${BLEND_ULP} ULP`, async () => {
  const r = await conform({
    op: 'blend',
    n: 100_003,
    inputs: 3,
    params: { weights: [1, -0.5, 2.25], normalize: false },
    seed: 3,
    name: 'big.weight',
    inputSeed: 11,
    maxChunkElements: 16_384,
    checkChunkInvariance: true,
  });
  expect(r.chunks).toBe(7);
  expect(r.chunkInvariant).toBe(true);
  expect(r.maxUlp).toBeLessThanOrEqual(BLEND_ULP);
});

test('a dispatch of more than 65535 workgroups uses the 2-D grid', async () => {
  const r = await conform({
    op: 'blend',
    n: 65_537 * 2 + 5,
    inputs: 2,
    params: { weights: [0.25, 0.75] },
    seed: 1,
    name: 'grid.weight',
    inputSeed: 5,
    workgroupSize: 2,
  });
  expect(r.grid[1]).toBeGreaterThan(1);
  expect(r.maxUlp).toBeLessThanOrEqual(BLEND_ULP);
});

/**
 * One conformance case per operator (and per mode). `ulp` is the stated bound; `exact` cases
 * (selections and masks only) must give the CPU's bytes (equal SHA-256). Selections and random
 * masks are exact in every case (a flipped mask element would cost a whole delta, far beyond any
 * bound). The bounds: 2 ULP where a driver may fuse a multiply-add (blend, soup, the task-arithmetic
 * family); 4 ULP where a per-tensor scalar comes from a GPU reduction (float32 workgroup sums vs the
 * CPU's float64: SLERP, L1 rescale, per-tensor clipping); mutate is exact: its std is a required
 * prepared parameter from the host's pre-pass (a reduced std would not be bounded: one ULP of
 * amplitude can be many ULPs of x + noise where they nearly cancel); 1 ULP for
 * quantize (WGSL division may be off by an ULP on hardware). Measured on SwiftShader: 0 ULP,
 * bit-identical everywhere. Known limit: WGSL lets implementations flush subnormal results to
 * zero and SwiftShader does, so arithmetic whose result is below 1.18e-38 in magnitude (deltas of
 * subnormal weights) is +0 on the GPU; selection keys are read from the bits without arithmetic
 * (prune of subnormal values is exact, checked below).
 */
interface Case {
  title: string;
  req: Omit<ConformanceRequest, 'name' | 'inputSeed'> & { inputSeed?: number };
  ulp: number;
  exact?: boolean;
  /** The bound is in ULPs of each element's scale (maxScaledUlp): L1 rescale factors come from reductions. */
  scaled?: boolean;
}

const MAT = { n: 300 * 333, shape: [300, 333] };
const CASES: Case[] = [
  { title: 'prune 30% (smooth)', req: { op: 'prune', ...MAT, inputs: 1, params: { fraction: 0.3 }, seed: 1 }, ulp: 0, exact: true },
  {
    title: 'prune 55% (many ties)',
    req: { op: 'prune', ...MAT, inputs: 1, params: { fraction: 0.55 }, seed: 1, kind: 'ties' },
    ulp: 0,
    exact: true,
  },
  {
    title: 'prune 30% of subnormal values',
    req: { op: 'prune', n: 20_000, inputs: 1, params: { fraction: 0.3 }, seed: 1, kind: 'subnormal' },
    ulp: 0,
    exact: true,
  },
  { title: 'prune 100%', req: { op: 'prune', n: 4097, inputs: 1, params: { fraction: 1 }, seed: 1 }, ulp: 0, exact: true },
  { title: 'prune 0%', req: { op: 'prune', n: 4097, inputs: 1, params: { fraction: 0 }, seed: 1 }, ulp: 0, exact: true },
  {
    title: 'sparse task delta, density 1 (keeps every delta)',
    req: { op: 'sparse-task-delta', n: 5, inputs: 2, params: { density: 1 }, seed: 2 },
    ulp: 2,
  },
  {
    title: 'TIES, density 1: no trim, the sign election alone',
    req: { op: 'ties', n: 1023, inputs: 3, params: { density: 1 }, seed: 3 },
    ulp: 2,
  },
  {
    title: 'crossover by element, 3 parents',
    req: { op: 'crossover', ...MAT, inputs: 3, params: { granularity: 'element', weights: [1, 2, 3] }, seed: 5 },
    ulp: 0,
    exact: true,
  },
  {
    title: 'crossover by row',
    req: { op: 'crossover', n: 257 * 129, shape: [257, 129], inputs: 2, params: { granularity: 'row' }, seed: 6 },
    ulp: 0,
    exact: true,
  },
  {
    title: 'crossover by tensor',
    req: { op: 'crossover', n: 5003, inputs: 4, params: { granularity: 'tensor' }, seed: 7 },
    ulp: 0,
    exact: true,
  },
  {
    title: 'mutate with the pre-pass std',
    req: { op: 'mutate', ...MAT, inputs: 1, params: { strength: 0.5, epsilon: 0.05, rate: 0.7 }, derived: { std: 0.5773 }, seed: 8 },
    ulp: 0,
    exact: true,
  },
  {
    title: 'mutate, std from its own pre-pass (unclipped noise)',
    req: { op: 'mutate', ...MAT, inputs: 1, params: { strength: 0.5, epsilon: 0.5, rate: 1 }, prepare: true, seed: 9 },
    ulp: 0,
    exact: true,
  },
  { title: 'soup, seeded weights, 4 parents', req: { op: 'soup', ...MAT, inputs: 4, params: { mode: 'seeded' }, seed: 10 }, ulp: 2 },
  { title: 'slerp t=0.3', req: { op: 'slerp', ...MAT, inputs: 2, params: { t: 0.3 }, seed: 11 }, ulp: 4 },
  {
    title: 'quantize int8, block 32',
    req: { op: 'quantize', n: 250 * 100, shape: [250, 100], inputs: 1, params: { scheme: 'int8', blockSize: 32 }, seed: 12 },
    ulp: 1,
  },
  {
    title: 'quantize int4, block 48',
    req: { op: 'quantize', n: 250 * 100, shape: [250, 100], inputs: 1, params: { scheme: 'int4', blockSize: 48 }, seed: 13 },
    ulp: 1,
  },
  {
    title: 'task delta, 2 parents',
    req: { op: 'task-delta', ...MAT, inputs: 3, params: { weights: [0.5, 1.5], lambda: 0.8 }, seed: 14 },
    ulp: 2,
  },
  {
    title: 'sparse task delta, density 0.3 (ties)',
    req: { op: 'sparse-task-delta', ...MAT, inputs: 3, params: { density: 0.3 }, seed: 15, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'sparse task delta, L1 rescale',
    req: { op: 'sparse-task-delta', ...MAT, inputs: 3, params: { density: 0.4, rescale: 'l1' }, seed: 16 },
    ulp: 4,
  },
  {
    title: 'DARE, drop 0.4, inverse rescale',
    req: { op: 'dare', ...MAT, inputs: 3, params: { drop: 0.4, rescale: 'inverse' }, seed: 17 },
    ulp: 2,
  },
  {
    title: 'DARE, drop 0.4, L1 rescale (mergekit default)',
    req: { op: 'dare', ...MAT, inputs: 3, params: { drop: 0.4 }, seed: 17 },
    ulp: 4,
    scaled: true,
  },
  {
    title: 'TIES, density 0.2, 3 parents (ties)',
    req: { op: 'ties', ...MAT, inputs: 4, params: { density: 0.2 }, seed: 18, kind: 'ties' },
    ulp: 2,
  },
  { title: 'TIES, smooth', req: { op: 'ties', ...MAT, inputs: 4, params: { density: 0.5, weights: [1, 0.5, 2] }, seed: 19 }, ulp: 2 },
  {
    title: 'DARE-TIES, inverse rescale',
    req: { op: 'dare-ties', ...MAT, inputs: 3, params: { drop: 0.3, rescale: 'inverse' }, seed: 20 },
    ulp: 2,
  },
  {
    title: 'DARE-TIES, L1 rescale (mergekit default)',
    req: { op: 'dare-ties', ...MAT, inputs: 3, params: { drop: 0.3 }, seed: 20 },
    ulp: 4,
    scaled: true,
  },
  {
    title: 'breadcrumbs, density 0.5, gamma 0.1 (ties at both cutoffs)',
    req: { op: 'breadcrumbs', ...MAT, inputs: 3, params: { density: 0.5, gamma: 0.1 }, seed: 30, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'breadcrumbs, smooth, L1 rescale',
    req: { op: 'breadcrumbs', ...MAT, inputs: 3, params: { density: 0.7, gamma: 0.05, rescale: 'l1' }, seed: 31 },
    ulp: 4,
  },
  {
    title: 'breadcrumbs-ties, 3 parents (ties)',
    req: { op: 'breadcrumbs-ties', ...MAT, inputs: 4, params: { density: 0.6, gamma: 0.02 }, seed: 32, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'breadcrumbs chunked',
    req: {
      op: 'breadcrumbs',
      n: 100_003,
      inputs: 2,
      params: { density: 0.8, gamma: 0.05 },
      seed: 33,
      kind: 'ties',
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 2,
  },
  // DELLA: the host ranks each row (the CPU's dellaKeepProbabilities) and the GPU draws against
  // those probabilities, so the masks are the CPU's (kept counts equal, checked by gpuStats);
  // 4 scaled ULP with the L1 rescale (its factor from a reduction), 2 without; 8 scaled ULP for
  // della's defaults, where the L1 factors (one ULP apart at most) meet WGSL's division by the
  // agreeing weights (normalize true).
  {
    title: 'della, 3 parents, L1 rescale and normalize (mergekit defaults)',
    req: { op: 'della', ...MAT, inputs: 4, params: { density: 0.5, epsilon: 0.15, weights: [1, 2, 3] }, seed: 34 },
    ulp: 8,
    scaled: true,
  },
  {
    title: 'della, no rescale (election and agreeing mean)',
    req: { op: 'della', ...MAT, inputs: 4, params: { density: 0.5, epsilon: 0.15, rescale: 'none' }, seed: 42 },
    ulp: 2,
  },
  {
    title: 'della-linear, no rescale (equal magnitudes within rows)',
    req: { op: 'della-linear', ...MAT, inputs: 3, params: { density: 0.4, epsilon: 0.2, rescale: 'none' }, seed: 35, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'della-linear, L1 rescale, weights',
    req: { op: 'della-linear', ...MAT, inputs: 3, params: { density: 0.6, epsilon: 0.1, weights: [0.7, 1.3] }, seed: 36 },
    ulp: 4,
    scaled: true,
  },
  {
    title: 'della chunked (one 1-D row)',
    req: {
      op: 'della',
      n: 100_003,
      inputs: 3,
      params: { density: 0.5, epsilon: 0.2, rescale: 'none' },
      seed: 37,
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 2,
  },
  {
    title: 'della, per-parent density and epsilon (one parent kept whole)',
    req: {
      op: 'della',
      ...MAT,
      inputs: 4,
      params: { density: { perParent: [0.3, 0.6, 1] }, epsilon: { perParent: [0.1, 0.25, 0.1] } },
      seed: 38,
    },
    ulp: 4,
    scaled: true,
  },
  // mergekit's per-model parameters on the rest of the family: each parent's own cutoff or drop.
  {
    title: 'per-parent TIES density (ties)',
    req: { op: 'ties', ...MAT, inputs: 4, params: { density: { perParent: [0.2, 0.5, 1] } }, seed: 39, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'per-parent DARE drop, inverse rescale',
    req: { op: 'dare', ...MAT, inputs: 3, params: { drop: { perParent: [0.2, 0.7] }, rescale: 'inverse' }, seed: 40 },
    ulp: 2,
  },
  {
    title: 'per-parent breadcrumbs density and gamma',
    req: {
      op: 'breadcrumbs',
      ...MAT,
      inputs: 3,
      params: { density: { perParent: [0.5, 0.8] }, gamma: { perParent: [0.1, 0.02] } },
      seed: 41,
      kind: 'ties',
    },
    ulp: 2,
  },
  {
    title: 'federated, per-tensor clipping',
    req: { op: 'federated', ...MAT, inputs: 4, params: { weights: [10, 20, 30], clipNorm: 50, clipScope: 'tensor' }, seed: 21 },
    ulp: 4,
  },
  // Larger than the forced chunk size: the chunked result must equal the unchunked one.
  {
    title: 'TIES chunked',
    req: {
      op: 'ties',
      n: 100_003,
      inputs: 3,
      params: { density: 0.3 },
      seed: 22,
      kind: 'ties',
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 2,
  },
  {
    title: 'prune chunked',
    req: {
      op: 'prune',
      n: 100_003,
      inputs: 1,
      params: { fraction: 0.4 },
      seed: 23,
      kind: 'ties',
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 0,
    exact: true,
  },
  {
    title: 'DARE chunked',
    req: {
      op: 'dare',
      n: 100_003,
      inputs: 2,
      params: { drop: 0.5, rescale: 'inverse' },
      seed: 24,
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 2,
  },
  {
    title: 'crossover chunked',
    req: { op: 'crossover', n: 100_003, inputs: 2, params: {}, seed: 25, maxChunkElements: 16_384, checkChunkInvariance: true },
    ulp: 0,
    exact: true,
  },
  {
    title: 'mutate chunked',
    req: {
      op: 'mutate',
      n: 100_003,
      inputs: 1,
      params: {},
      derived: { std: 0.3 },
      seed: 26,
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 0,
    exact: true,
  },
  {
    title: 'slerp chunked',
    req: { op: 'slerp', n: 100_003, inputs: 2, params: { t: 0.6 }, seed: 27, maxChunkElements: 16_384, checkChunkInvariance: true },
    ulp: 4,
  },
  {
    title: 'quantize chunked (whole rows)',
    req: {
      op: 'quantize',
      n: 300 * 100,
      shape: [300, 100],
      inputs: 1,
      params: { scheme: 'int8', blockSize: 32 },
      seed: 28,
      maxChunkElements: 4_000,
      checkChunkInvariance: true,
    },
    ulp: 1,
  },
  {
    title: 'federated chunked, clipping',
    req: {
      op: 'federated',
      n: 100_003,
      inputs: 3,
      params: { clipNorm: 20, clipScope: 'tensor' },
      seed: 29,
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 4,
  },
  // mergekit's other methods. 2 ULP where only a fused multiply-add or WGSL's division (ram's mean over
  // c models, nearswap's reciprocal, model_stock's mean) can differ and the scalars are the host's;
  // where a scalar comes from a GPU reduction (model_stock's t, nuslerp's Gram sums, sce's weights)
  // 4 ULP of each element's scale (scaled: an output that cancels to near 0 makes a plain ULP count
  // meaningless once a coefficient moves by one ULP); 8 for multislerp and karcher, whose K
  // coefficients all come from the reduced Gram matrix. arcee_fusion is exact (its threshold is the
  // host's, its importance one product, its output b + d·{0, 1}).
  { title: 'nearswap t=0.3', req: { op: 'nearswap', ...MAT, inputs: 2, params: { t: 0.3 }, seed: 80 }, ulp: 2 },
  { title: 'model_stock, 3 models', req: { op: 'model-stock', ...MAT, inputs: 4, params: {}, seed: 81 }, ulp: 4, scaled: true },
  {
    title: 'model_stock filterWise (host ratios per row)',
    req: { op: 'model-stock', ...MAT, inputs: 3, params: { filterWise: true }, seed: 82 },
    ulp: 2,
  },
  {
    title: 'nuslerp, whole tensor',
    req: { op: 'nuslerp', ...MAT, inputs: 2, params: { weights: [1, 3] }, seed: 83 },
    ulp: 4,
    scaled: true,
  },
  {
    title: 'nuslerp rows (last dimension)',
    req: { op: 'nuslerp', ...MAT, inputs: 2, params: { weights: [2, 1], nuslerpFlatten: false }, seed: 84 },
    ulp: 2,
  },
  {
    title: 'nuslerp-base, columns (row_wise)',
    req: { op: 'nuslerp-base', ...MAT, inputs: 3, params: { nuslerpFlatten: false, nuslerpRowWise: true }, seed: 85 },
    ulp: 2,
  },
  {
    title: 'multislerp, 3 models',
    req: { op: 'multislerp', ...MAT, inputs: 3, params: { weights: [1, 2, 3] }, seed: 86 },
    ulp: 8,
    scaled: true,
  },
  { title: 'multislerp-base, 3 models', req: { op: 'multislerp-base', ...MAT, inputs: 4, params: {}, seed: 87 }, ulp: 8, scaled: true },
  { title: 'karcher, 4 models', req: { op: 'karcher', ...MAT, inputs: 4, params: { maxIter: 20 }, seed: 88 }, ulp: 8, scaled: true },
  { title: 'sce, selectTopk 1', req: { op: 'sce', ...MAT, inputs: 4, params: {}, seed: 89 }, ulp: 4, scaled: true },
  {
    title: 'sce, selectTopk 0.3 (ties: host selection bitmap)',
    req: { op: 'sce', ...MAT, inputs: 4, params: { selectTopk: 0.3 }, seed: 90, kind: 'ties' },
    ulp: 4,
    scaled: true,
  },
  { title: 'arcee_fusion', req: { op: 'arcee-fusion', ...MAT, inputs: 2, params: {}, seed: 91 }, ulp: 0, exact: true },
  {
    title: 'ram (ties: shared and unique changes)',
    req: { op: 'ram', ...MAT, inputs: 4, params: { epsilon: 0.05 }, seed: 92, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'ramplus_tl',
    req: { op: 'ramplus-tl', ...MAT, inputs: 4, params: { r: 0.5, alpha: 0.8, epsilon: 0.05 }, seed: 93, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'karcher chunked',
    req: { op: 'karcher', n: 100_003, inputs: 3, params: {}, seed: 94, maxChunkElements: 16_384, checkChunkInvariance: true },
    ulp: 8,
    scaled: true,
  },
  {
    title: 'sce chunked, selectTopk 0.5',
    req: { op: 'sce', n: 100_003, inputs: 3, params: { selectTopk: 0.5 }, seed: 95, maxChunkElements: 16_384, checkChunkInvariance: true },
    ulp: 4,
    scaled: true,
  },
  {
    title: 'nuslerp rows chunked',
    req: {
      op: 'nuslerp',
      n: 300 * 333,
      shape: [300, 333],
      inputs: 2,
      params: { nuslerpFlatten: false },
      seed: 96,
      maxChunkElements: 16_384,
      checkChunkInvariance: true,
    },
    ulp: 2,
  },
];

for (const [i, c] of CASES.entries()) {
  test(`${c.title}: ${c.exact ? 'bytes equal the CPU' : `within ${c.ulp} ULP of the CPU`}`, async () => {
    const r = await conform({ ...c.req, name: `layers.${i}.weight`, inputSeed: c.req.inputSeed ?? 100 + i });
    if (r.maxUlp > c.ulp) console.log(`  worst at ${r.worstIndex}: ${JSON.stringify(r.worst)}; scaled ${r.maxScaledUlp} ULP`);
    expect(c.scaled ? r.maxScaledUlp : r.maxUlp).toBeLessThanOrEqual(c.ulp);
    if (c.exact) expect(r.gpuHash).toBe(r.cpuHash);
    expect(r.gpuStats).toEqual(r.cpuStats);
    if (c.req.maxChunkElements) {
      expect(r.chunks).toBeGreaterThan(1);
      expect(r.chunkInvariant).toBe(true);
    }
  });
}

/**
 * Ties AT and right AFTER a selection's cutoff. 'plateau' inputs put each cutoff inside a run of
 * equal magnitudes, so the first element NOT taken has the cutoff's magnitude too: an off-by-one in
 * isPruned / isKept (src/gpu/wgsl/prng.wgsl, `i < index`) moves an element at every cutoff. The
 * harness reports each cutoff the CPU selected with, and the test first checks that the input
 * really has both ties (else the case would prove nothing), then that the selections agree: bytes
 * equal for prune, no element zero on one side only (and the ULP bound) for the trims.
 */
const CUTOFF_TIES: Case[] = [
  {
    title: 'prune 40%',
    req: { op: 'prune', n: 10_007, inputs: 1, params: { fraction: 0.4 }, seed: 70, kind: 'plateau' },
    ulp: 0,
    exact: true,
  },
  {
    title: 'prune 65%, chunked',
    req: {
      op: 'prune',
      n: 30_011,
      inputs: 1,
      params: { fraction: 0.65 },
      seed: 71,
      kind: 'plateau',
      maxChunkElements: 4_096,
      checkChunkInvariance: true,
    },
    ulp: 0,
    exact: true,
  },
  {
    title: 'sparse task delta, density 0.5',
    req: { op: 'sparse-task-delta', n: 10_007, inputs: 3, params: { density: 0.5 }, seed: 72, kind: 'plateau' },
    ulp: 2,
  },
  {
    title: 'TIES, density 0.35, 3 parents',
    req: { op: 'ties', n: 10_007, inputs: 4, params: { density: 0.35 }, seed: 73, kind: 'plateau' },
    ulp: 2,
  },
  {
    title: 'TIES, density 0.6, chunked',
    req: {
      op: 'ties',
      n: 30_011,
      inputs: 3,
      params: { density: 0.6 },
      seed: 74,
      kind: 'plateau',
      maxChunkElements: 4_096,
      checkChunkInvariance: true,
    },
    ulp: 2,
  },
];

function expectCutoffTies(r: ConformanceResult): void {
  expect(r.cutoffs?.length, 'the harness reports the cutoffs').toBeGreaterThan(0);
  for (const c of r.cutoffs!) {
    expect({ tieAt: c.equalBefore > 0 && c.equalFrom > 0, tieAfter: c.tieAfter }, `cutoff ${JSON.stringify(c)}`).toEqual({
      tieAt: true,
      tieAfter: true,
    });
  }
  expect(r.zeroMismatch, 'elements zero on one side only (a selection disagreement)').toBe(0);
}

for (const [i, c] of CUTOFF_TIES.entries()) {
  test(`cutoff ties, ${c.title}: ${c.exact ? 'bytes equal the CPU' : `same selection, within ${c.ulp} ULP of the CPU`}`, async () => {
    const r = await conform({ ...c.req, name: `cutoff.${i}.weight`, inputSeed: 700 + i });
    expectCutoffTies(r);
    expect(r.maxUlp).toBeLessThanOrEqual(c.ulp);
    if (c.exact) expect(r.gpuHash).toBe(r.cpuHash);
    expect(r.gpuStats).toEqual(r.cpuStats);
    if (c.req.maxChunkElements) expect(r.chunkInvariant).toBe(true);
  });
}

for (const [i, c] of [CUTOFF_TIES[0], CUTOFF_TIES[3]].entries()) {
  test(`cutoff ties, streamed ${c.title}: the streamed radix select agrees with the CPU`, async () => {
    const r = await conform({
      ...c.req,
      name: `cutoff.stream.${i}.weight`,
      inputSeed: 710 + i,
      stream: { via: 'reader', chunkElements: 2_048 },
    });
    expectCutoffTies(r);
    expectStreamed(r, c);
  });
}

/**
 * The streaming path (backend.runStream): inputs come chunk by chunk from a source, through the
 * double-buffered pipeline (two input sets, two output sets). Every operator, streamed in chunks
 * of 16384 elements from a reader that answers after a timer: the bytes equal the unchunked run()
 * (bit for bit) and the CPU reference within the operator's bound (exactly for selections and
 * masks); uploads never reuse a set before its chunk completed, some uploads overlapped compute,
 * and the peak GPU memory stays within two sets.
 */
const STREAM_CHUNK = 8_192;
const N = 40_003;
const STREAMED: Case[] = [
  { title: 'blend', req: { op: 'blend', n: N, inputs: 3, params: { weights: [0.2, 0.7, 0.35] }, seed: 40 }, ulp: BLEND_ULP },
  { title: 'task delta', req: { op: 'task-delta', n: N, inputs: 3, params: { weights: [0.5, 1.5], lambda: 0.8 }, seed: 41 }, ulp: 2 },
  {
    title: 'sparse task delta, L1 rescale (select + reductions)',
    req: { op: 'sparse-task-delta', n: N, inputs: 3, params: { density: 0.4, rescale: 'l1' }, seed: 42, kind: 'ties' },
    ulp: 4,
  },
  { title: 'DARE', req: { op: 'dare', n: N, inputs: 3, params: { drop: 0.4, rescale: 'inverse' }, seed: 43 }, ulp: 2 },
  {
    title: 'DARE, L1 rescale (norm reductions over the stream)',
    req: { op: 'dare', n: N, inputs: 3, params: { drop: 0.4 }, seed: 43 },
    ulp: 4,
    scaled: true,
  },
  {
    title: 'breadcrumbs by two streamed bottom selects',
    req: { op: 'breadcrumbs', n: N, inputs: 3, params: { density: 0.6, gamma: 0.05 }, seed: 53, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'TIES trim by streamed radix select',
    req: { op: 'ties', n: N, inputs: 4, params: { density: 0.2 }, seed: 44, kind: 'ties' },
    ulp: 2,
  },
  { title: 'DARE-TIES', req: { op: 'dare-ties', n: N, inputs: 3, params: { drop: 0.3, rescale: 'inverse' }, seed: 45 }, ulp: 2 },
  {
    title: 'federated, per-tensor clipping',
    req: { op: 'federated', n: N, inputs: 3, params: { clipNorm: 20, clipScope: 'tensor' }, seed: 46 },
    ulp: 4,
  },
  {
    title: 'crossover by row',
    req: { op: 'crossover', n: 200 * 201, shape: [200, 201], inputs: 3, params: { granularity: 'row' }, seed: 47 },
    ulp: 0,
    exact: true,
  },
  {
    title: 'mutate',
    req: { op: 'mutate', n: N, inputs: 1, params: { strength: 0.5, epsilon: 0.05, rate: 0.7 }, derived: { std: 0.5773 }, seed: 48 },
    ulp: 0,
    exact: true,
  },
  {
    title: 'prune by streamed radix select',
    req: { op: 'prune', n: N, inputs: 1, params: { fraction: 0.45 }, seed: 49, kind: 'ties' },
    ulp: 0,
    exact: true,
  },
  { title: 'slerp', req: { op: 'slerp', n: N, inputs: 2, params: { t: 0.3 }, seed: 50 }, ulp: 4 },
  { title: 'soup', req: { op: 'soup', n: N, inputs: 4, params: { mode: 'seeded' }, seed: 51 }, ulp: 2 },
  {
    title: 'quantize int4 (whole rows)',
    req: { op: 'quantize', n: 120 * 333, shape: [120, 333], inputs: 1, params: { scheme: 'int4', blockSize: 48 }, seed: 52 },
    ulp: 1,
  },
  {
    title: 'model_stock (Gram reduction, streamed)',
    req: { op: 'model-stock', n: N, inputs: 3, params: {}, seed: 53 },
    ulp: 4,
    scaled: true,
  },
  {
    title: 'multislerp (Gram reduction, streamed)',
    req: { op: 'multislerp', n: N, inputs: 3, params: {}, seed: 54 },
    ulp: 8,
    scaled: true,
  },
  {
    title: 'ramplus_tl (count reduction, streamed)',
    req: { op: 'ramplus-tl', n: N, inputs: 3, params: { epsilon: 0.05 }, seed: 55, kind: 'ties' },
    ulp: 2,
  },
  {
    title: 'arcee_fusion (host threshold, streamed)',
    req: { op: 'arcee-fusion', n: 200 * 201, shape: [200, 201], inputs: 2, params: {}, seed: 56 },
    ulp: 0,
    exact: true,
  },
];

function expectStreamed(r: ConformanceResult, c: Pick<Case, 'ulp' | 'exact' | 'scaled'>): void {
  const st = r.stream!;
  console.log(
    `  stream: ${st.stats.chunks} chunks of ${st.stats.chunkElements}, ${st.stats.passes} passes, ${st.stats.chunkReads} chunk reads, ` +
      `in flight ≤ ${st.stats.maxInFlight}, ${st.uploadsWhileComputing} uploads while computing, peak ${st.stats.peakGpuBytes} B (bound ${st.bound} B)`,
  );
  expect(c.scaled ? r.maxScaledUlp : r.maxUlp).toBeLessThanOrEqual(c.ulp);
  if (c.exact) expect(r.gpuHash).toBe(r.cpuHash);
  expect(r.gpuStats).toEqual(r.cpuStats);
  expect(r.chunkInvariant, 'streamed bytes equal the unchunked run()').toBe(true);
  expect(st.boundViolations).toBe(0);
  expect(st.stats.peakGpuBytes).toBeLessThanOrEqual(st.bound);
}

for (const [i, c] of STREAMED.entries()) {
  test(`streamed ${c.title}: equals the unchunked run and ${c.exact ? 'the CPU bytes' : `is within ${c.ulp} ULP of the CPU`}`, async () => {
    const r = await conform({
      ...c.req,
      name: `stream.${i}.weight`,
      inputSeed: 300 + i,
      stream: { via: 'reader', chunkElements: STREAM_CHUNK },
    });
    expectStreamed(r, c);
    expect(r.stream!.stats.chunks).toBeGreaterThanOrEqual(5);
    expect(r.stream!.stats.maxInFlight).toBe(2);
    expect(r.stream!.uploadsWhileComputing).toBeGreaterThan(0);
  });
}

test('streamed from the IndexedDB tensor store (F16 parents), output to a sink in chunk order', async () => {
  const r = await conform({
    op: 'ties',
    n: N,
    inputs: 3,
    params: { density: 0.3 },
    seed: 60,
    name: 'store.weight',
    inputSeed: 60,
    stream: { via: 'store', dtype: 'F16', chunkElements: STREAM_CHUNK, sink: true },
  });
  expectStreamed(r, { ulp: 2 });
  expect(r.stream!.sinkInOrder).toBe(true);
});

test('streamed by byte ranges of a Blob (BF16), prune exact', async () => {
  const r = await conform({
    op: 'prune',
    n: N,
    inputs: 1,
    params: { fraction: 0.3 },
    seed: 61,
    name: 'blob.weight',
    inputSeed: 61,
    stream: { via: 'blob', dtype: 'BF16', chunkElements: STREAM_CHUNK },
  });
  expectStreamed(r, { ulp: 0, exact: true });
});

test('streamed from async iterables of odd-sized pieces, re-opened for every pass (slerp)', async () => {
  const r = await conform({
    op: 'slerp',
    n: N,
    inputs: 2,
    params: { t: 0.7 },
    seed: 62,
    name: 'iter.weight',
    inputSeed: 62,
    stream: { via: 'iterable', chunkElements: STREAM_CHUNK },
  });
  expectStreamed(r, { ulp: 4 });
});

test('pipeline depth 1 (no overlap) gives the same bytes with one set in flight and less memory', async () => {
  const req = { op: 'ties', n: N, inputs: 3, params: { density: 0.3 }, seed: 63, name: 'depth.weight', inputSeed: 63 } as const;
  const two = await conform({ ...req, stream: { via: 'reader', chunkElements: STREAM_CHUNK } });
  const one = await conform({ ...req, stream: { via: 'reader', chunkElements: STREAM_CHUNK, depth: 1 } });
  console.log(
    `  depth 2: ${two.gpuMs.toFixed(1)} ms, peak ${two.stream!.stats.peakGpuBytes} B; depth 1: ${one.gpuMs.toFixed(1)} ms, peak ${one.stream!.stats.peakGpuBytes} B`,
  );
  expect(one.gpuHash).toBe(two.gpuHash);
  expect(one.stream!.stats.maxInFlight).toBe(1);
  expect(one.stream!.uploadsWhileComputing).toBe(0);
  expect(one.stream!.boundViolations).toBe(0);
  expect(one.stream!.stats.peakGpuBytes).toBeLessThan(two.stream!.stats.peakGpuBytes);
});

test('peak GPU memory does not grow with the tensor (prune, TIES: 4× the elements, same peak)', async () => {
  for (const [op, inputs, params] of [
    ['prune', 1, { fraction: 0.5 }],
    ['ties', 3, { density: 0.3 }],
  ] as const) {
    const peaks: number[] = [];
    for (const n of [16_384, 65_536]) {
      const r = await conform({
        op,
        n,
        inputs,
        params,
        seed: 64,
        name: `grow.${op}.${n}`,
        inputSeed: 64,
        kind: 'ties',
        stream: { via: 'reader', chunkElements: 4_096 },
      });
      expectStreamed(r, { ulp: op === 'prune' ? 0 : 2, exact: op === 'prune' });
      peaks.push(r.stream!.stats.peakGpuBytes);
    }
    console.log(`  ${op}: peak ${peaks[0]} B at 16384 elements, ${peaks[1]} B at 65536`);
    expect(peaks[1]).toBe(peaks[0]);
  }
});

test('a streamed tensor that fits in the two sets is read once, whatever the passes', async () => {
  for (const n of [STREAM_CHUNK, 2 * STREAM_CHUNK]) {
    const r = await conform({
      op: 'prune',
      n,
      inputs: 1,
      params: { fraction: 0.4 },
      seed: 65,
      name: `resident.${n}`,
      inputSeed: 65,
      kind: 'ties',
      stream: { via: 'reader', chunkElements: STREAM_CHUNK },
    });
    expectStreamed(r, { ulp: 0, exact: true });
    expect(r.stream!.stats.passes).toBeGreaterThan(4);
    expect(r.stream!.stats.chunkReads).toBe(r.stream!.stats.chunks);
  }
});

test('a device lost during a streamed radix select or reduction rejects with DeviceLostError', async () => {
  for (const [op, after] of [
    ['prune', 3],
    ['prune', 20],
    ['ties', 40],
    ['slerp', 2],
  ] as const) {
    const r = await page.evaluate(([o, a]) => window.__kernels.streamLoss(o, 40_000, a), [op, after] as const);
    console.log(`  ${op}, lost after ${after} reads: ${r.error} (${r.reads} reads)`);
    expect(r.recognised).toBe(true);
  }
});

test('withCpuFallback streams on the GPU, and after a device loss reads the source whole for the CPU', async () => {
  const r = await page.evaluate(() => window.__kernels.fallbackStream());
  console.log(`  fallback stream: ${JSON.stringify(r)}`);
  expect(r.gpuKind).toBe('webgpu');
  expect(r.gpuEqualsCpu).toBe(true);
  expect(r.peak).toBeGreaterThan(0);
  expect(r.cpuKind).toBe('cpu');
  expect(r.cpuEqualsCpu).toBe(true);
  expect(r.pieces).toEqual([20_000]);
  expect(r.fallbacks[0]).toMatch(/device lost/i);
});

test('an operator the registry has and the GPU lacks is refused by name, never run on the CPU', async () => {
  const r = await page.evaluate(() => window.__kernels.noKernel());
  console.log(`no-kernel: ${JSON.stringify(r)}`);
  if (r.missing.length === 0) {
    // Every registry operator has a kernel: check the refusal with a made-up operator instead.
    expect(r.message).toMatch(/^NoGpuKernelError: operator "no-such-operator" has no WebGPU kernel/);
  } else {
    expect(r.hasKernel).toBe(false);
    expect(r.message).toContain(`operator "${r.missing[0]}" has no WebGPU kernel`);
  }
});

// breed() streams tensors above its threshold through runStream: the same bytes and statistics
// as whole-tensor runs. makeModel's tensors: 8320, 6144, 96, 3168 and 330 elements; with
// streamAbove 1000 the first, second and fourth stream (in 4096-element chunks), the rest run whole.
const STREAMED_BREEDS: [string, ParamValues, number, 'F32' | 'F16' | 'BF16'][] = [
  ['blend', { weights: [0.3, 0.9] }, 2, 'F32'],
  ['ties', { density: 0.3 }, 3, 'F16'],
  ['prune', { fraction: 0.4, matricesOnly: true }, 1, 'BF16'],
  ['mutate', { strength: 0.5, epsilon: 0.5, rate: 0.8 }, 1, 'F32'],
  ['slerp', { t: 0.3 }, 2, 'F16'],
  ['federated', { clipNorm: 5, clipScope: 'tensor' }, 3, 'F32'],
];
for (const [operator, params, parents, dtype] of STREAMED_BREEDS) {
  test(`breed ${operator} (${dtype}) streamed above 1000 elements gives the whole-tensor breed's bytes`, async () => {
    const r = await page.evaluate(([o, p, n, d]) => window.__kernels.breedStreamCompare(o, p, n, 'ties', d, 1000), [
      operator,
      params,
      parents,
      dtype,
    ] as const);
    console.log(
      `streamed breed ${operator} ${dtype}: ${r.identical}/${r.tensors} identical; whole ${JSON.stringify(r.wholePaths)}, streamed ${JSON.stringify(r.streamedPaths)}`,
    );
    expect(r.identical).toBe(r.tensors);
    expect(r.statsEqual).toBe(true);
    expect(r.wholePaths.stream).toBe(0);
    expect(r.streamedPaths.stream).toBe(3);
    expect(r.streamedPaths.run + r.streamedPaths.stream).toBe(r.wholePaths.run);
  });
}

test('mutate on the GPU without the prepared std is refused with a clear message', async () => {
  const r = await page.evaluate(() => window.__kernels.mutateWithoutStd());
  console.log(`mutate without std: ${r.message}`);
  expect(r.threw).toBe(true);
  expect(r.deviceLost).toBe(false);
  expect(r.message).toMatch(/^Error: mutate on the GPU needs the prepared parameter std for "no\.std" \(got none\)/);
});

// Whole models through breed(): selection-only operators, and mutate (its std from breed's
// pre-pass), must give the CPU's bytes (equal hashes); every breed's receipt statistics (sign
// conflicts, kept fractions, iterations) equal the CPU's.
const BREEDS: [string, RecipeParams, number][] = [
  ['prune', { fraction: 0.4, matricesOnly: true }, 1],
  ['mutate', { strength: 0.5, epsilon: 0.5, rate: 0.8 }, 1],
  ['crossover', { granularity: 'row' }, 3],
  ['ties', { density: 0.3 }, 3],
  ['ties', { density: { perParent: [0.3, [{ filter: 'fc1', value: 0.5 }, { value: 0.8 }]] } }, 3],
  ['della', { density: 0.5, epsilon: 0.2, rescale: 'none' }, 3],
  ['dare', { drop: { perParent: [0.3, 0.6] }, rescale: 'inverse' }, 3],
];
for (const [operator, params, parents] of BREEDS) {
  test(`breed ${operator} ${JSON.stringify(params)} on the GPU gives the CPU's output hashes`, async () => {
    const r = await page.evaluate(([o, p, n]) => window.__kernels.breedCompare(o, p, n, 'ties'), [operator, params, parents] as const);
    console.log(`breed ${operator}: ${r.identical}/${r.tensors} tensors identical on ${r.adapter}`);
    expect(r.kind).toBe('webgpu');
    expect(r.fallbacks).toEqual([]);
    expect(r.identical).toBe(r.tensors);
    expect(r.statsEqual).toBe(true);
    if (operator !== 'prune' && operator !== 'mutate' && operator !== 'crossover')
      expect(r.keptFractions.every((k) => Array.isArray(k))).toBe(true);
  });
}

test('a device lost mid-breed: withCpuFallback finishes on the CPU and says so', async () => {
  const r = await page.evaluate(() => window.__kernels.breedCompare('ties', { density: 0.3 }, 3, 'smooth', 2));
  console.log(`breed with loss: ${r.identical}/${r.tensors} identical; adapter: ${r.adapter}`);
  expect(r.kind).toBe('cpu');
  expect(r.fallbacks.length).toBe(1);
  expect(r.fallbacks[0]).toMatch(/device lost/i);
  expect(r.adapter).toContain('CPU reference');
  expect(r.identical).toBe(r.tensors);
});

test('a device lost mid-run rejects with DeviceLostError, and getGpu() replaces a lost device', async () => {
  const r = await page.evaluate(() => window.__kernels.deviceLoss(200_000));
  console.log(`device loss: ${r.error}; afterwards: ${r.afterLoss}; replaced: ${r.replaced}`);
  expect(r.recognised).toBe(true);
  expect(r.lostFlag).toBe(true);
  expect(r.afterLoss).toBe('DeviceLostError');
  expect(r.replaced).toBe(true);
});
