/**
 * Web Workers for the threaded wasm-SIMD matvec (simd-matvec.ts) in a browser: each worker
 * (matvec-web-worker.ts) is posted the compiled module, the shared memory and the control block's
 * offset (all structured-cloneable), instantiates the module on that memory, says 'ready' and
 * serves jobs (matvec-jobs.mjs) until MatvecMemory.release() stops and terminates it.
 *
 * The caller supplies the worker, as for the CPU pool (browser.ts): its URL depends on the bundler.
 * With Vite: `webMatvecSpawn(() => new Worker(new URL('./matvec-web-worker.ts', import.meta.url), { type: 'module' }))`.
 * Threads need a cross-origin isolated context (a shared WebAssembly.Memory is a SharedArrayBuffer),
 * and the thread that dispatches must be allowed to Atomics.wait: a worker, not a page's main thread.
 */
import type { SpawnMatvecWorker } from './simd-matvec.ts';

/** Threads a decoder uses here: min(2, cores) when cross-origin isolated, else one (no shared memory). */
export function webMatvecThreads(): number {
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  return g.crossOriginIsolated ? Math.max(1, Math.min(2, g.navigator?.hardwareConcurrency || 1)) : 1;
}

export function webMatvecSpawn(makeWorker: () => Worker): SpawnMatvecWorker {
  return (init) =>
    new Promise((resolve, reject) => {
      const w = makeWorker();
      const fail = (why: string) => {
        w.terminate();
        reject(new Error(`matvec worker failed to start: ${why}`));
      };
      w.onerror = (e) => fail(e.message || 'error');
      w.onmessageerror = () => fail('the module or memory could not be posted to it');
      w.onmessage = (e: MessageEvent) => {
        if (e.data !== 'ready') return fail(`it sent ${typeof e.data === 'string' ? e.data : 'a message'} before ready`);
        w.onmessage = null;
        resolve({ terminate: () => w.terminate() });
      };
      w.postMessage(init);
    });
}
