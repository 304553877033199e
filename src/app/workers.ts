/** The app's workers (kernels, evaluator, trainer), each started on first use and again after it died. All are thin Comlink adapters (see workers/). */
import type { KernelWorkerApi } from '../../workers/kernel.worker.ts';
import type { EvalWorkerApi } from '../../workers/eval.worker.ts';
import type { TrainWorkerApi } from '../../workers/train.worker.ts';
import { supervised } from './worker-life.ts';

export const kernelWorker = supervised<KernelWorkerApi>(
  'kernel',
  () => new Worker(new URL('../../workers/kernel.worker.ts', import.meta.url), { type: 'module', name: 'kernels' }),
);

export const evalWorker = supervised<EvalWorkerApi>(
  'evaluator',
  () => new Worker(new URL('../../workers/eval.worker.ts', import.meta.url), { type: 'module', name: 'evaluator' }),
);

export const trainWorker = supervised<TrainWorkerApi>(
  'trainer',
  () => new Worker(new URL('../../workers/train.worker.ts', import.meta.url), { type: 'module', name: 'trainer' }),
);
