/**
 * A CpuPool of Web Workers. The caller supplies the worker (its URL depends on the bundler:
 * with Vite, `() => new Worker(new URL('./browser-worker.ts', import.meta.url), { type: 'module' })`).
 */
import { CpuPool, type PoolPort } from './pool.ts';
import type { RangeReply, WorkerMessage } from './protocol.ts';

export async function createBrowserCpuPool(makeWorker: () => Worker, threads = navigator.hardwareConcurrency || 2): Promise<CpuPool> {
  if (!globalThis.crossOriginIsolated) throw new Error('the CPU pool needs a cross-origin isolated page (COOP/COEP) for SharedArrayBuffer');
  const ports = await Promise.all(
    Array.from(
      { length: Math.max(1, threads) },
      () =>
        new Promise<PoolPort>((resolve, reject) => {
          const w = makeWorker();
          w.onerror = (e) => reject(new Error(`CPU pool worker failed to start: ${e.message}`));
          w.onmessage = (e) => {
            if (e.data !== 'ready') return reject(new Error(`CPU pool worker sent ${String(e.data)} before ready`));
            let cb: ((r: RangeReply) => void) | undefined;
            w.onmessage = (m: MessageEvent<RangeReply>) => cb?.(m.data);
            resolve({ post: (msg: WorkerMessage) => w.postMessage(msg), onReply: (f) => void (cb = f), terminate: () => w.terminate() });
          };
        }),
    ),
  );
  return new CpuPool(ports);
}
