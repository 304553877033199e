/**
 * The bench page's entry (bundled by bench/bundle.ts): the CPU path in Web Workers, the WebGPU
 * kernels, and the streaming breed in a worker while this thread watches for long tasks. This
 * page's main thread does nothing else during the breed (idle by design), so its long-task figure
 * only shows that the worker never blocks it; the target proper is measured on the built app's
 * own main thread while it breeds (bench/browser.ts, measureAppBreed).
 */
import { openGpu } from '../src/gpu/device.ts';
import { createBrowserCpuPool } from '../src/cpu/browser.ts';
import { benchCpu } from './cpu.ts';
import { benchGpu } from './gpu.ts';
import type { StreamBreedResult } from './breed-stream.ts';

interface PageOptions {
  sizes: number[];
  /** Sizes at which operators without a range kernel (reference only) are timed. */
  referenceSizes: number[];
  gpuSizes: number[];
  /** Largest size timed on a software adapter. */
  softwareGpuMax: number;
  budgetMs: number;
  smoke: boolean;
}

const log = (s: string) => console.log(s);

async function breedInWorker(smoke: boolean) {
  const longTasks: number[] = [];
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) longTasks.push(e.duration);
  });
  obs.observe({ type: 'longtask', buffered: false });
  const worker = new Worker('/breed-worker.js', { type: 'module' });
  const result = await new Promise<StreamBreedResult>((resolve, reject) => {
    worker.onmessage = (e) => {
      if (e.data.phase) log(`bench-phase:${e.data.phase}`);
      else if (e.data.log) log(`breed: ${e.data.log}`);
      else if ('error' in e.data) reject(new Error(`streaming breed failed: ${e.data.error || '(an error without a message)'}`));
      else if (e.data.result) resolve(e.data.result);
      else reject(new Error(`breed worker sent an unexpected message: ${JSON.stringify(e.data).slice(0, 200)}`));
    };
    worker.onerror = (e) => reject(new Error(`breed worker failed: ${e.message}`));
    worker.postMessage({ smoke, poolWorkerUrl: '/pool-worker.js' });
  });
  // Let the observer deliver the last entries.
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  worker.terminate();
  return { ...result, longestMainTaskMs: Math.max(0, ...longTasks), longTasks: longTasks.length };
}

async function run(o: PageOptions) {
  if (!crossOriginIsolated) throw new Error('the bench page is not cross-origin isolated (COOP/COEP headers missing)');
  const notes: string[] = [];
  const adapters: string[] = [];
  const pool = await createBrowserCpuPool(() => new Worker('/pool-worker.js', { type: 'module' }));
  const cpu = await benchCpu({
    path: 'cpu-browser',
    pool,
    sizes: o.sizes,
    referenceSizes: o.referenceSizes,
    budgetMs: o.budgetMs,
    log,
    fastOnly: o.smoke,
  });
  pool.terminate();
  const copies = [...cpu.copies];
  const kernels = [...cpu.kernels];
  const gpu = await openGpu();
  if (gpu) {
    adapters.push(`WebGPU in Chromium: ${gpu.adapterInfo}${gpu.software ? ' (software, not a performance figure)' : ''}`);
    const gpuSizes = gpu.software ? o.gpuSizes.filter((n) => n <= o.softwareGpuMax) : o.gpuSizes;
    if (gpuSizes.length < o.gpuSizes.length)
      notes.push(`webgpu-browser: software adapter, timed up to ${o.softwareGpuMax / 2 ** 20} M elements only`);
    const g = await benchGpu({
      path: 'webgpu-browser',
      gpu,
      sizes: gpuSizes,
      budgetMs: o.budgetMs,
      log,
      only: o.smoke ? ['blend'] : undefined,
    });
    copies.push(...g.copies);
    kernels.push(...g.kernels);
    notes.push(...g.notes);
    gpu.device.destroy();
  } else {
    notes.push('WebGPU: no adapter in this Chromium; GPU figures skipped');
  }
  return { copies, kernels, notes, adapters, userAgent: navigator.userAgent };
}

/** The breed runs on a page of its own, so the kernel bench's arrays are not in its memory figures. */
async function runBreed(o: { smoke: boolean }) {
  if (!crossOriginIsolated) throw new Error('the bench page is not cross-origin isolated (COOP/COEP headers missing)');
  return breedInWorker(o.smoke);
}

Object.assign(globalThis, { runBench: run, runBreed });
