// A Node worker of the threaded wasm-SIMD matvec (simd-matvec.ts): instantiates the compiled module
// on the shared memory it is given and serves jobs from the control block (matvec-jobs.mjs) until STOP.
import { parentPort, workerData } from 'node:worker_threads';
import { CTRL_BYTES, FN_NAMES, serve } from './matvec-jobs.mjs';

const { module, memory, ctrl } = workerData;
const instance = new WebAssembly.Instance(module, { env: { mem: memory } });
const fns = FN_NAMES.map((n) => instance.exports[n]);
parentPort.postMessage('ready');
serve(new Int32Array(memory.buffer, ctrl, CTRL_BYTES / 4), fns);
