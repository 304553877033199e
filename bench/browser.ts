/**
 * Runs the in-browser half of the bench: bundles the page, the breed worker and the CPU pool
 * worker with esbuild, serves them cross-origin isolated, drives Debian's Chromium (WebGPU via
 * SwiftShader here; a real adapter where the machine has one) with playwright-core, and collects
 * the figures.
 */
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS as SHARED_CHROMIUM_ARGS } from '../scripts/ensure-chromium.mjs';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
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
  /** Long tasks on the app's own main thread while it breeds (null when dist/ is not built). */
  appBreed: AppBreedFigures | null;
  copies: CopyRow[];
  kernels: KernelRow[];
  breeds: BreedFigures[];
  notes: string[];
  browser: string;
  adapters: string[];
}

export async function runBrowser(o: {
  smoke: boolean;
  root: string;
  log: (s: string) => void;
  breedOnly?: boolean;
}): Promise<BrowserFigures> {
  const [page, breedWorker, poolWorker] = await Promise.all([
    bundle(`${o.root}bench/page.ts`),
    bundle(`${o.root}bench/breed-worker.ts`),
    bundle(`${o.root}src/cpu/browser-worker.ts`),
  ]);
  const js = 'text/javascript';
  const server = await serve({
    '/': {
      type: 'text/html',
      body: '<!doctype html><meta charset="utf-8"><title>slm-garden bench</title><script type="module" src="/page.js"></script>',
    },
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
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, tag],
    headless: true,
  });
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
    let r: { copies: CopyRow[]; kernels: KernelRow[]; notes: string[]; adapters: string[] } = {
      copies: [],
      kernels: [],
      notes: [],
      adapters: [],
    };
    if (!o.breedOnly) {
      const kernelPage = await open();
      r = (await kernelPage.evaluate((opts) => (globalThis as unknown as { runBench(x: typeof opts): Promise<unknown> }).runBench(opts), {
        sizes,
        referenceSizes: o.smoke ? sizes : [...REFERENCE_SIZES_FULL],
        gpuSizes: sizes,
        softwareGpuMax: SOFTWARE_GPU_MAX,
        budgetMs: o.smoke ? 40 : 300,
        smoke: o.smoke,
      })) as typeof r;
      await kernelPage.close();
    }
    const breedPage = await open();
    const b = (await breedPage.evaluate(
      (smoke) => (globalThis as unknown as { runBreed(x: { smoke: boolean }): Promise<unknown> }).runBreed({ smoke }),
      o.smoke,
    )) as StreamBreedResult & {
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
    const appBreed = await measureAppBreed(context, o);
    const notes = [...r.notes, appBreedNote(appBreed, o.root)];
    return {
      appBreed,
      copies: r.copies,
      kernels: r.kernels,
      breeds: [breed],
      notes,
      browser: `Chromium ${context.browser()?.version() ?? '(version unknown)'}`,
      adapters: r.adapters,
    };
  } finally {
    sampler.stop();
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * The long-task target where it means something. The streaming breed above runs in a worker and
 * its page's main thread is idle by design, so its "longest main-thread task" says little. Here
 * the built app (dist/, served by `vite preview`) breeds as a user would: pick the operator and
 * parents, press Breed; its main thread renders progress, builds the receipt and manifests and
 * stores the candidate, while a PerformanceObserver records every long task (> 50 ms) from the
 * click until the receipt is on screen. The evaluation that follows is measured too (figure only).
 */
export interface AppBreedFigures {
  breedMs: number;
  longestMs: number;
  longTasks: number;
  /** The longest animation frame's top scripts during the breed (empty where the browser lacks the API). */
  longestScripts: string[];
  evaluateMs: number;
  evaluateLongestMs: number;
  evaluateLongTasks: number;
}

/** The target the bench states for the main thread (report.ts TARGETS.longTask). */
export const APP_LONG_TASK_MS = 50;

export function appBreedNote(f: AppBreedFigures | null, root: string): string {
  if (!f) return `app UI during a breed: not measured, ${root}dist/ is not built (npx vite build)`;
  const verdict = f.longestMs < APP_LONG_TASK_MS ? 'PASS' : 'MISS';
  return (
    `app UI during a breed (the app's own main thread, ${(f.breedMs / 1000).toFixed(2)} s from Breed to receipt): ${verdict}, longest task ${f.longestMs.toFixed(0)} ms ` +
    `(< ${APP_LONG_TASK_MS} ms), ${f.longTasks} long tasks${f.longestScripts.length ? ` (longest frame: ${f.longestScripts.join('; ')})` : ''}; during the evaluation that follows (${(f.evaluateMs / 1000).toFixed(1)} s, figure only): longest ${f.evaluateLongestMs.toFixed(0)} ms, ${f.evaluateLongTasks} long tasks`
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `vite preview` of dist/ on a free port (the app's own headers), stopped by close(). */
async function previewApp(root: string): Promise<{ url: string; close(): void }> {
  const port = await freePort();
  const child = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort', '--host', '127.0.0.1'], {
    cwd: root || '.',
    stdio: 'ignore',
    detached: true,
  });
  const close = () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) break;
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, close };
    await new Promise((r) => setTimeout(r, 100));
  }
  close();
  throw new Error(`vite preview did not serve ${url} within 30 s`);
}

async function measureAppBreed(
  context: import('playwright-core').BrowserContext,
  o: { root: string; log: (s: string) => void },
): Promise<AppBreedFigures | null> {
  if (!existsSync(`${o.root}dist/index.html`)) return null;
  const app = await previewApp(o.root);
  const page = await context.newPage();
  try {
    page.on('pageerror', (e) => o.log(`app page error: ${e.message}`));
    await page.addInitScript(() => {
      const w = globalThis as unknown as {
        __longTasks: { start: number; duration: number }[];
        __frames: { start: number; duration: number; scripts: string[] }[];
      };
      w.__longTasks = [];
      w.__frames = [];
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask', buffered: true });
      // Long animation frames name the scripts behind a long task (Chromium 123+), where supported.
      type Script = { invoker: string; sourceFunctionName: string; sourceURL: string; duration: number };
      if (PerformanceObserver.supportedEntryTypes.includes('long-animation-frame')) {
        new PerformanceObserver((l) => {
          for (const e of l.getEntries() as (PerformanceEntry & { scripts: Script[] })[]) {
            const scripts = [...e.scripts].sort((a, b) => b.duration - a.duration).slice(0, 3);
            w.__frames.push({
              start: e.startTime,
              duration: e.duration,
              scripts: scripts.map(
                (x) => `${x.invoker} ${x.sourceFunctionName || '(anonymous)'}@${x.sourceURL.split('/').pop()} ${x.duration.toFixed(0)} ms`,
              ),
            });
          }
        }).observe({ type: 'long-animation-frame', buffered: true });
      }
    });
    await page.goto(app.url + '/');
    const byTestId = (id: string) => page.locator(`[data-testid="${id}"]`);
    // The parent pool seeded and scored: the app is idle and ready.
    await byTestId('acc-digits-base').filter({ hasText: '%' }).waitFor({ timeout: 120_000 });
    await byTestId('operator-select').selectOption('task-delta');
    for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
      await page.getByLabel(`Select ${name}`).check();
    const now = () => page.evaluate(() => performance.now());
    const tasksIn = async (t0: number, t1: number) => {
      await page.waitForTimeout(100); // let the observer deliver the last entries
      const all = await page.evaluate(() => (globalThis as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks);
      const inside = all.filter((t) => t.start + t.duration > t0 && t.start < t1);
      const frames = await page.evaluate(
        () => (globalThis as unknown as { __frames: { start: number; duration: number; scripts: string[] }[] }).__frames,
      );
      const worst = frames.filter((t) => t.start + t.duration > t0 && t.start < t1).sort((a, b) => b.duration - a.duration)[0];
      return { longest: Math.max(0, ...inside.map((t) => t.duration)), count: inside.length, scripts: worst?.scripts ?? [] };
    };
    const b0 = await now();
    await byTestId('breed-button').click();
    await byTestId('receipt').waitFor({ timeout: 180_000 });
    const b1 = await now();
    const breed = await tasksIn(b0, b1);
    const e0 = await now();
    await byTestId('evaluate-button').click();
    await byTestId('candidate-accuracy-clean').filter({ hasText: '%' }).waitFor({ timeout: 180_000 });
    const e1 = await now();
    const ev = await tasksIn(e0, e1);
    const f: AppBreedFigures = {
      breedMs: b1 - b0,
      longestMs: breed.longest,
      longTasks: breed.count,
      longestScripts: breed.scripts,
      evaluateMs: e1 - e0,
      evaluateLongestMs: ev.longest,
      evaluateLongTasks: ev.count,
    };
    o.log(appBreedNote(f, o.root));
    return f;
  } finally {
    await page.close();
    app.close();
  }
}
