/**
 * A CpuPool of Node worker_threads. Each worker runs worker-body.ts bundled by esbuild into one
 * plain-JavaScript script (started in tens of milliseconds), or, where esbuild cannot bundle it,
 * through tsx (node-worker.mjs), like the CLI does: about a second, its ~70 TypeScript modules
 * loaded one by one through the loader hooks.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CpuPool, type PoolPort } from './pool.ts';
import type { RangeReply, WorkerMessage } from './protocol.ts';

/** The bundle's global, and the few lines that make it a pool worker (node-worker.mjs's, in plain JavaScript). */
const BODY = 'gardenPoolWorker';
const TAIL = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (msg) => {
  const reply = ${BODY}.runJob(msg);
  if (reply) parentPort.postMessage(reply);
});
parentPort.postMessage('ready');
`;

let bundled: Promise<string | null> | null = null;

/**
 * worker-body.ts and everything it imports as one script (bundled once per process, in memory),
 * or null when esbuild is not installed or fails: the pool then starts its workers through tsx.
 */
export function poolWorkerScript(): Promise<string | null> {
  return (bundled ??= (async () => {
    try {
      const { build } = await import('esbuild');
      const r = await build({
        entryPoints: [fileURLToPath(new URL('./worker-body.ts', import.meta.url))],
        bundle: true,
        write: false,
        format: 'iife',
        globalName: BODY,
        platform: 'node',
        target: 'node20',
        logLevel: 'silent',
      });
      return r.outputFiles[0].text + TAIL;
    } catch {
      return null;
    }
  })());
}

/** `bundle: false` starts the workers through tsx even where esbuild is at hand (the fallback, tested). */
export async function createNodeCpuPool(threads = availableParallelism(), opts: { bundle?: boolean } = {}): Promise<CpuPool> {
  const script = opts.bundle === false ? null : await poolWorkerScript();
  const spawn = () => (script === null ? new Worker(new URL('./node-worker.mjs', import.meta.url)) : new Worker(script, { eval: true }));
  const ports = await Promise.all(
    Array.from(
      { length: Math.max(1, threads) },
      () =>
        new Promise<PoolPort>((resolve, reject) => {
          const w = spawn();
          w.once('error', (e) => reject(new Error(`CPU pool worker failed to start: ${e.message}`)));
          // The worker says 'ready' once its code is loaded, so timings never include startup.
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
