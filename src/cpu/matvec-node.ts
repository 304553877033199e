/**
 * Node workers for the threaded wasm-SIMD matvec (simd-matvec.ts): worker_threads running
 * matvec-worker.mjs (plain JavaScript, no TypeScript loader), unref'd so they never keep the
 * process alive; terminated by MatvecMemory.release().
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { SpawnMatvecWorker } from './simd-matvec.ts';

/** Threads a decoder uses by default: two (this thread + one worker) where the machine has two cores. */
export const defaultMatvecThreads = (): number => Math.min(2, availableParallelism());

/** A started worker; `exited` settles when its thread has ended. */
export interface NodeMatvecWorker {
  terminate(): void;
  exited: Promise<number>;
}

export const spawnNodeMatvecWorker: (...a: Parameters<SpawnMatvecWorker>) => Promise<NodeMatvecWorker> = (init) =>
  new Promise((resolve, reject) => {
    const w = new Worker(new URL('./matvec-worker.mjs', import.meta.url), { workerData: init });
    const exited = new Promise<number>((done) => w.once('exit', done));
    w.once('error', (e) => reject(new Error(`matvec worker failed to start: ${e.message}`)));
    w.once('message', (m) => {
      if (m !== 'ready') return reject(new Error(`matvec worker sent ${String(m)} before ready`));
      w.unref();
      resolve({ terminate: () => void w.terminate(), exited });
    });
  });
