/**
 * The kernel worker: a thin Comlink adapter over the operators. It is handed parent tensors as
 * data and returns new candidate tensors; it holds no handle to any store (trust zone: candidate).
 */
import * as Comlink from 'comlink';
import { breed, type BreedProgress, type BreedRequest, type BreedResult } from '../src/core/operators/breed.ts';
import { cpuBackend, type KernelBackend } from '../src/core/operators/backend.ts';
import { createWebGpuBackend } from '../src/gpu/backend.ts';

let gpu: Promise<KernelBackend | null> | null = null;
function gpuBackend(): Promise<KernelBackend | null> {
  gpu ??= createWebGpuBackend().catch(() => null);
  return gpu;
}

const api = {
  /** Which backend a breed would use: the WebGPU adapter, or the CPU reference where WebGPU is missing. */
  async probe(): Promise<{ kind: string; adapter: string; software: boolean }> {
    const b = (await gpuBackend()) ?? cpuBackend;
    return { kind: b.kind, adapter: b.adapter, software: b.software };
  },

  async breed(req: BreedRequest, preferGpu: boolean, onProgress?: (p: BreedProgress) => void): Promise<BreedResult> {
    const backend = preferGpu ? ((await gpuBackend()) ?? cpuBackend) : cpuBackend;
    const result = await breed(req, backend, onProgress);
    return Comlink.transfer(result, result.tensors.map((t) => t.data.buffer as ArrayBuffer));
  },
};

export type KernelWorkerApi = typeof api;
Comlink.expose(api);
