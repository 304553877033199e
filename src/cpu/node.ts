/**
 * A CpuPool of Node worker_threads. The workers run TypeScript through tsx (node-worker.mjs),
 * like the CLI does.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { CpuPool, type PoolPort } from './pool.ts';
import type { RangeReply, WorkerMessage } from './protocol.ts';

export async function createNodeCpuPool(threads = availableParallelism()): Promise<CpuPool> {
  const url = new URL('./node-worker.mjs', import.meta.url);
  const ports = await Promise.all(
    Array.from(
      { length: Math.max(1, threads) },
      () =>
        new Promise<PoolPort>((resolve, reject) => {
          const w = new Worker(url);
          w.once('error', (e) => reject(new Error(`CPU pool worker failed to start: ${e.message}`)));
          // The worker says 'ready' once its TypeScript is loaded, so timings never include startup.
          w.once('message', (m) => {
            if (m !== 'ready') return reject(new Error(`CPU pool worker sent ${String(m)} before ready`));
            w.unref();
            resolve({
              post: (msg: WorkerMessage) => w.postMessage(msg),
              onReply: (cb: (r: RangeReply) => void) => void w.on('message', cb),
              terminate: () => void w.terminate(),
            });
          });
        }),
    ),
  );
  return new CpuPool(ports);
}
