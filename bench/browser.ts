/**
 * Runs the in-browser half of the bench: bundles the page, the breed worker and the CPU pool
 * worker with esbuild, serves them cross-origin isolated, drives Debian's Chromium (WebGPU via
 * SwiftShader here; a real adapter where the machine has one) with playwright-core, and collects
 * the figures.
 */
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS as SHARED_CHROMIUM_ARGS } from '../scripts/ensure-chromium.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle } from './bundle.ts';
import { serve } from './server.ts';
import { REFERENCE_SIZES_FULL, SIZES_FULL, SIZES_SMOKE, SOFTWARE_GPU_MAX, type CopyRow, type KernelRow } from './common.ts';
import { findPid, sampleTree } from './memory.ts';
import type { BreedFigures } from './report.ts';
import type { StreamBreedResult } from './breed-stream.ts';

/** The shared flags, plus precise heap figures for the memory columns. */
export const CHROMIUM_ARGS = [...SHARED_CHROMIUM_ARGS, '--enable-precise-memory-info'];

export interface BrowserFigures {
  copies: CopyRow[];
  kernels: KernelRow[];
  breeds: BreedFigures[];
  notes: string[];
  browser: string;
  adapters: string[];
}

export async function runBrowser(o: { smoke: boolean; root: string; log: (s: string) => void; breedOnly?: boolean }): Promise<BrowserFigures> {
  const [page, breedWorker, poolWorker] = await Promise.all([
    bundle(`${o.root}bench/page.ts`),
    bundle(`${o.root}bench/breed-worker.ts`),
    bundle(`${o.root}src/cpu/browser-worker.ts`),
  ]);
  const js = 'text/javascript';
  const server = await serve({
    '/': { type: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>slm-garden bench</title><script type="module" src="/page.js"></script>' },
    '/page.js': { type: js, body: page },
    '/favicon.ico': { type: 'image/x-icon', body: '' },
    '/breed-worker.js': { type: js, body: breedWorker },
    '/pool-worker.js': { type: js, body: poolWorker },
  });
  // A unique switch on the browser process, so its process tree can be found for memory figures.
  const tag = `--slm-garden-bench=${process.pid}-${Date.now()}`;
  // A persistent profile on disk: an incognito context keeps IndexedDB in memory with a small
  // quota, which a 124M-parameter model (1.5 GB stored) exceeds.
  const profile = mkdtempSync(join(tmpdir(), 'slm-garden-bench-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: [...CHROMIUM_ARGS, tag], headless: true });
  const sampler = sampleTree(findPid(tag));
  try {
    const open = async () => {
      const p = await context.newPage();
      p.on('console', (m) => {
        const text = m.text();
        if (text === 'bench-phase:breed-start') sampler.mark();
        else if (!text.startsWith('bench-phase:')) o.log(text);
      });
      p.on('pageerror', (e) => o.log(`page error: ${e.message}`));
      await p.goto(server.url + '/');
      await p.waitForFunction(() => 'runBench' in globalThis, null, { timeout: 30_000 });
      return p;
    };
    const sizes = o.smoke ? [...SIZES_SMOKE] : [...SIZES_FULL];
    let r: { copies: CopyRow[]; kernels: KernelRow[]; notes: string[]; adapters: string[] } = { copies: [], kernels: [], notes: [], adapters: [] };
    if (!o.breedOnly) {
      const kernelPage = await open();
      r = (await kernelPage.evaluate(
        (opts) => (globalThis as unknown as { runBench(x: typeof opts): Promise<unknown> }).runBench(opts),
        { sizes, referenceSizes: o.smoke ? sizes : [...REFERENCE_SIZES_FULL], gpuSizes: sizes, softwareGpuMax: SOFTWARE_GPU_MAX, budgetMs: o.smoke ? 40 : 300, smoke: o.smoke },
      )) as typeof r;
      await kernelPage.close();
    }
    const breedPage = await open();
    const b = await breedPage.evaluate((smoke) => (globalThis as unknown as { runBreed(x: { smoke: boolean }): Promise<unknown> }).runBreed({ smoke }), o.smoke) as StreamBreedResult & {
      longestMainTaskMs: number;
      longTasks: number;
    };
    if (typeof b?.outputHash !== 'string') throw new Error(`the breed page returned no result: ${JSON.stringify(b)?.slice(0, 300)}`);
    const mem = sampler.window();
    await breedPage.close();
    const breed: BreedFigures = {
      path: 'Chromium: breed in a Web Worker',
      model: b.model,
      operator: b.operator,
      operatorNote: b.operatorNote,
      plan: b.plan,
      backend: b.backend,
      software: b.software,
      parents: b.parents,
      tensors: b.tensors,
      parameters: b.parameters,
      bytesMoved: b.bytesMoved,
      bytesRead: b.bytesRead,
      wallMs: b.wallMs,
      peakHeldBytes: b.peakHeldBytes,
      peakBackendBytes: b.peakBackendBytes,
      peakProcessBytes: mem ? mem.peak - mem.baseline : null,
      baselineProcessBytes: mem ? mem.baseline : null,
      peakHeapBytes: b.peakHeapBytes,
      largestTensorBytes: b.largestTensorBytes,
      chunkBytes: b.chunkBytes,
      peakGpuBufferBytes: b.peakGpuBufferBytes,
      shardBytes: 64 * 2 ** 20,
      longestMainTaskMs: b.longestMainTaskMs,
      longTasks: b.longTasks,
      idbWriteBytesPerS: b.idbWriteBytesPerS,
      idbReadBytesPerS: b.idbReadBytesPerS,
      dedupeLogicalBytes: b.dedupeLogicalBytes,
      dedupeStoredBytes: b.dedupeStoredBytes,
      outputHash: b.outputHash,
      signConflicts: b.signConflicts,
    };
    return { copies: r.copies, kernels: r.kernels, breeds: [breed], notes: r.notes, browser: `Chromium ${context.browser()?.version() ?? '(version unknown)'}`, adapters: r.adapters };
  } finally {
    sampler.stop();
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
