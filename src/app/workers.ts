/** The app's two workers, created once. Both are thin Comlink adapters (see workers/). */
import * as Comlink from 'comlink';
import type { KernelWorkerApi } from '../../workers/kernel.worker.ts';
import type { EvalWorkerApi } from '../../workers/eval.worker.ts';

let kernel: Comlink.Remote<KernelWorkerApi> | null = null;
let evaluator: Comlink.Remote<EvalWorkerApi> | null = null;

export function kernelWorker(): Comlink.Remote<KernelWorkerApi> {
  kernel ??= Comlink.wrap<KernelWorkerApi>(
    new Worker(new URL('../../workers/kernel.worker.ts', import.meta.url), { type: 'module', name: 'kernels' }),
  );
  return kernel;
}

export function evalWorker(): Comlink.Remote<EvalWorkerApi> {
  evaluator ??= Comlink.wrap<EvalWorkerApi>(
    new Worker(new URL('../../workers/eval.worker.ts', import.meta.url), { type: 'module', name: 'evaluator' }),
  );
  return evaluator;
}
