/// <reference lib="webworker" />
// A Web Worker of the threaded wasm-SIMD matvec (simd-matvec.ts, started by matvec-browser.ts):
// instantiates the compiled module it is posted on the shared memory it is posted, says 'ready'
// and serves jobs from the control block (matvec-jobs.mjs) until STOP. Needs a cross-origin
// isolated context (shared memory) and blocks in Atomics.wait between jobs (allowed in a worker).
import { CTRL_BYTES, FN_NAMES, serve, type MatvecFn } from './matvec-jobs.mjs';
import type { MatvecWorkerInit } from './simd-matvec.ts';

const scope = self as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = (e: MessageEvent<MatvecWorkerInit>) => {
  scope.onmessage = null;
  const { module, memory, ctrl } = e.data;
  let fns: MatvecFn[];
  try {
    const instance = new WebAssembly.Instance(module, { env: { mem: memory } });
    fns = FN_NAMES.map((n) => instance.exports[n] as MatvecFn);
  } catch (err) {
    scope.postMessage(`error: ${(err as Error).message}`);
    return;
  }
  scope.postMessage('ready');
  serve(new Int32Array(memory.buffer, ctrl, CTRL_BYTES / 4), fns);
};
