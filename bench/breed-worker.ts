/// <reference lib="webworker" />
// The breed runs here, off the main thread, as the app's kernel worker does.
import { openGpu } from '../src/gpu/device.ts';
import { webGpuBackendOn } from '../src/gpu/backend.ts';
import { createBrowserCpuPool } from '../src/cpu/browser.ts';
import { createFastCpuBackend } from '../src/cpu/backend.ts';
import { cpuBackend, type KernelBackend } from '../src/core/operators/backend.ts';
import { hasFastKernel } from '../src/core/operators/fast/kernels.ts';
import { streamBreed } from './breed-stream.ts';
import { GPT2_SMALL, GPT2_TOY } from './model.ts';
import { trackGpuBuffers } from './track-gpu.ts';

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = async (e: MessageEvent<{ smoke: boolean; poolWorkerUrl: string }>) => {
  try {
    const gpu = await openGpu().catch(() => null);
    const tracker = gpu ? trackGpuBuffers(gpu.device) : null;
    const gpuBackend = gpu ? webGpuBackendOn(gpu) : null;
    const pool = await createBrowserCpuPool(() => new Worker(e.data.poolWorkerUrl, { type: 'module' }));
    const fast = createFastCpuBackend(pool);
    const result = await streamBreed({
      model: e.data.smoke ? GPT2_TOY : GPT2_SMALL,
      operator: 'ties',
      fallback: 'blend',
      parents: 3,
      // 4 MiB chunks (with 8 MiB the process tree grew 190–260 MiB against ~170 MiB, for about
      // the same wall time); small ones in the smoke run so multi-chunk tensors are exercised too.
      chunkElements: e.data.smoke ? 16 * 1024 : 2 ** 20,
      onPhase: (phase) => scope.postMessage({ phase }),
      // A software adapter (SwiftShader) is slower than the CPU path: use it only on real GPUs.
      backendFor: async (op): Promise<KernelBackend> =>
        gpuBackend && !gpuBackend.software && gpuBackend.hasKernel(op) ? gpuBackend : hasFastKernel(op) ? fast : cpuBackend,
      backendPeakBytes: () => pool.arena?.stats().peak ?? 0,
      peakGpuBytes: () => tracker?.peak() ?? 0,
      log: (s) => scope.postMessage({ log: s }),
    });
    pool.terminate();
    scope.postMessage({ result });
  } catch (err) {
    scope.postMessage({
      error:
        err instanceof Error
          ? `${err.name}: ${err.message}${err.stack ? ` (${err.stack.split('\n').slice(0, 3).join(' | ')})` : ''}`
          : String(err),
    });
  }
};
