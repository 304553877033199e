/**
 * The kernel worker: a thin Comlink adapter over the operators, in the candidate trust zone. It
 * breeds two ways: breedStored reads the parents from the candidate zone's tensor store (the
 * garden's `…-tensors` IndexedDB, the only database it opens; never the evaluation or audit
 * zones) chunk by chunk and writes the candidate's tensors into it chunk by chunk
 * (src/store/stored-breed.ts), so neither thread holds a model; breed is handed parent tensors as
 * data and returns the candidate's, for the operators that need whole tensors (layouts, quantize,
 * whole-model pre-passes).
 */
import * as Comlink from 'comlink';
import { holdLife } from './life.ts';
import { breed, type BreedProgress, type BreedRequest, type BreedResult } from '../src/core/operators/breed.ts';
import { cpuBackend, type KernelBackend } from '../src/core/operators/backend.ts';
import { createWebGpuBackend, withCpuFallback, type WebGpuBackend } from '../src/gpu/backend.ts';
import { openIdbTensorStore } from '../src/store/idb-store.ts';
import { breedStored, type StoredBreedRequest, type StoredBreedResult } from '../src/store/stored-breed.ts';
import { computeStatistics, type CalibrationRows, type FisherLabels, type StatisticsKind } from '../src/core/operators/statistics.ts';
import { breedWithStatistics } from '../src/core/operators/data-informed.ts';

/** What a data-informed merge (RegMean, Fisher) fits on: checked calibration rows, one set for every parent or one per parent. */
export interface BreedCalibration {
  /** The split's id (its suite id), for the receipt. */
  split: string;
  kind: StatisticsKind;
  rows: CalibrationRows[];
  labels?: FisherLabels;
}

let gpu: Promise<WebGpuBackend | null> | null = null;
/** The cached WebGPU backend; after a device loss the next breed asks for a fresh device. */
async function gpuBackend(): Promise<WebGpuBackend | null> {
  if (gpu && (await gpu)?.lost) gpu = null;
  gpu ??= createWebGpuBackend().catch(() => null);
  return gpu;
}

let signal = { aborted: false };
let running = false;

/** One breed at a time, with a fresh signal. */
async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  if (running) throw new Error('a breed is already running in the kernel worker; wait for it or cancel it');
  running = true;
  signal = { aborted: false };
  try {
    return await fn();
  } finally {
    running = false;
  }
}

/**
 * WebGPU where it has a kernel for the operator and the device holds; the CPU reference
 * otherwise, recorded in the backend's adapter string (and so in the receipt).
 */
async function backendFor(preferGpu: boolean): Promise<KernelBackend> {
  const g = preferGpu ? await gpuBackend() : null;
  return g ? withCpuFallback(g, cpuBackend) : cpuBackend;
}

const api = {
  /** Hold `lock` while this worker lives (the page learns of its death: src/app/worker-life.ts). */
  alive: holdLife,

  /** Which backend a breed would use: the WebGPU adapter, or the CPU reference where WebGPU is missing. */
  async probe(): Promise<{ kind: string; adapter: string; software: boolean }> {
    const b = (await gpuBackend()) ?? cpuBackend;
    return { kind: b.kind, adapter: b.adapter, software: b.software };
  },

  /** Stop the running breed (breedStored: within one chunk; breed: after its current tensor); it rejects with BreedCancelled. */
  cancel(): void {
    signal.aborted = true;
  },

  /**
   * Breed stored models (by their ids in the tensor store `db`) into that store, chunk by chunk,
   * with progress per chunk and Cancel within one chunk; the candidate's tensors stay unlisted
   * (and are dropped on a failure or a Cancel) until the page lists them with putModel.
   */
  async breedStored(
    db: string,
    req: StoredBreedRequest,
    preferGpu: boolean,
    onProgress?: (p: BreedProgress) => void,
  ): Promise<StoredBreedResult> {
    return exclusive(async () => {
      const store = await openIdbTensorStore({ name: db });
      try {
        return await breedStored(store, req, await backendFor(preferGpu), { onProgress, signal });
      } finally {
        store.close();
      }
    });
  },

  /** Drop candidate tensors a breedStored wrote that no model lists (the page could not store the candidate). */
  async discard(db: string, hashes: string[]): Promise<number> {
    const store = await openIdbTensorStore({ name: db });
    try {
      return await store.dropUnlisted(hashes);
    } finally {
      store.close();
    }
  },

  /**
   * Drop every tensor and chunk of `db` that no model lists: what a breedStored left when its
   * worker was terminated or its page reloaded mid-breed. The page calls it holding the breed lock,
   * so no breed of this database is writing.
   */
  async sweep(db: string): Promise<{ tensors: number; chunks: number }> {
    const store = await openIdbTensorStore({ name: db });
    try {
      return await store.sweepUnlisted();
    } finally {
      store.close();
    }
  },

  /** With `calibration`, the statistics are computed here from its rows and the breed runs through them (breedWithStatistics). */
  async breed(
    req: BreedRequest,
    preferGpu: boolean,
    onProgress?: (p: BreedProgress) => void,
    calibration?: BreedCalibration,
  ): Promise<BreedResult> {
    const result = await exclusive(async () => {
      const backend = await backendFor(preferGpu);
      if (!calibration) return breed(req, backend, onProgress, signal);
      const statistics = computeStatistics(calibration.kind, req.parents, calibration.rows, {
        labels: calibration.labels ?? 'empirical',
        seed: req.seed,
      });
      return breedWithStatistics(req, statistics, backend, onProgress, signal);
    });
    return Comlink.transfer(
      result,
      result.tensors.map((t) => t.data.buffer as ArrayBuffer),
    );
  },
};

export type KernelWorkerApi = typeof api;
Comlink.expose(api);
