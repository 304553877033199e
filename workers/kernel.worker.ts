/**
 * The kernel worker: a thin Comlink adapter over the operators. It is handed parent tensors as
 * data and returns new candidate tensors; it holds no handle to any store (trust zone: candidate).
 */
import * as Comlink from 'comlink';
import { holdLife } from './life.ts';
import { breed, type BreedProgress, type BreedRequest, type BreedResult } from '../src/core/operators/breed.ts';
import { cpuBackend, type KernelBackend } from '../src/core/operators/backend.ts';
import { createWebGpuBackend, withCpuFallback, type WebGpuBackend } from '../src/gpu/backend.ts';

let gpu: Promise<WebGpuBackend | null> | null = null;
/** The cached WebGPU backend; after a device loss the next breed asks for a fresh device. */
async function gpuBackend(): Promise<WebGpuBackend | null> {
  if (gpu && (await gpu)?.lost) gpu = null;
  gpu ??= createWebGpuBackend().catch(() => null);
  return gpu;
}

let signal = { aborted: false };
let running = false;

const api = {
  /** Hold `lock` while this worker lives (the page learns of its death: src/app/worker-life.ts). */
  alive: holdLife,

  /** Which backend a breed would use: the WebGPU adapter, or the CPU reference where WebGPU is missing. */
  async probe(): Promise<{ kind: string; adapter: string; software: boolean }> {
    const b = (await gpuBackend()) ?? cpuBackend;
    return { kind: b.kind, adapter: b.adapter, software: b.software };
  },

  /** Stop the running breed after its current tensor; it rejects with BreedCancelled. */
  cancel(): void {
    signal.aborted = true;
  },

  async breed(req: BreedRequest, preferGpu: boolean, onProgress?: (p: BreedProgress) => void): Promise<BreedResult> {
    if (running) throw new Error('a breed is already running in the kernel worker; wait for it or cancel it');
    running = true;
    signal = { aborted: false };
    let result: BreedResult;
    try {
      // WebGPU where it has a kernel for the operator and the device holds; the CPU reference
      // otherwise, recorded in the backend's adapter string (and so in the receipt).
      const g = preferGpu ? await gpuBackend() : null;
      const backend: KernelBackend = g ? withCpuFallback(g, cpuBackend) : cpuBackend;
      result = await breed(req, backend, onProgress, signal);
    } finally {
      running = false;
    }
    return Comlink.transfer(
      result,
      result.tensors.map((t) => t.data.buffer as ArrayBuffer),
    );
  },
};

export type KernelWorkerApi = typeof api;
Comlink.expose(api);
