/**
 * The streaming breed, IndexedDB → IndexedDB, run inside a Web Worker: parents are stored as
 * content-addressed tensors (key = SHA-256 of the bytes, so a tensor shared by several models is
 * stored once), then the candidate is bred tensor by tensor: read the inputs of one tensor,
 * run the operator on the chosen backend, hash, write if new, drop everything, next tensor.
 * Nothing of the whole model is ever held at once.
 */
import { openDB, deleteDB, type IDBPDatabase } from 'idb';
import { getOperator, isOperatorId } from '../src/core/operators/registry.ts';
import { layerPositions, paramsAt, resolveParams } from '../src/core/operators/params.ts';
import type { KernelBackend } from '../src/core/operators/backend.ts';
import { fillSeeded } from './common.ts';
import { modelTensors, nameSeed, numelOf, type ModelShape } from './model.ts';

export interface StreamBreedOptions {
  model: ModelShape;
  /** Preferred operator and the fallback when it is not in the registry. */
  operator: string;
  fallback: string;
  parents: number;
  backendFor(op: string): Promise<KernelBackend>;
  /** Live GPU buffer bytes right now (tracked by the caller's device wrapper). */
  gpuBytes(): number;
  peakGpuBytes(): number;
  /** IndexedDB record size: Chromium refuses values over ~127 MiB, so tensors are stored in chunks. */
  chunkBytes: number;
  log?(s: string): void;
}

export interface StreamBreedResult {
  model: string;
  operator: string;
  operatorNote: string;
  backend: string;
  software: boolean;
  parents: number;
  tensors: number;
  parameters: number;
  bytesMoved: number;
  wallMs: number;
  peakHeldBytes: number;
  peakHeapBytes: number | null;
  peakGpuBufferBytes: number;
  idbWriteBytesPerS: number;
  idbReadBytesPerS: number;
  dedupeLogicalBytes: number;
  dedupeStoredBytes: number;
  outputHash: string;
  largestTensorBytes: number;
}

const DB = 'slm-garden-bench';

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

type Perf = Performance & { memory?: { usedJSHeapSize: number } };

export async function streamBreed(o: StreamBreedOptions): Promise<StreamBreedResult> {
  await deleteDB(DB);
  const db: IDBPDatabase = await openDB(DB, 1, {
    upgrade(d) {
      d.createObjectStore('tensors');
      d.createObjectStore('chunks');
      d.createObjectStore('models');
    },
  });
  try {
    return await run(o, db);
  } finally {
    db.close();
    await deleteDB(DB);
  }
}

async function run(o: StreamBreedOptions, db: IDBPDatabase): Promise<StreamBreedResult> {
  const specs = modelTensors(o.model);
  const useId = isOperatorId(o.operator) ? o.operator : o.fallback;
  const op = getOperator(useId);
  const note = useId === o.operator ? '' : `${o.operator} is not in the registry yet; ran ${useId}`;
  const perf = performance as Perf;

  let held = 0;
  let peakHeld = 0;
  const hold = (b: number) => {
    held += b;
    peakHeld = Math.max(peakHeld, held + o.gpuBytes());
  };
  const heap0 = perf.memory?.usedJSHeapSize;
  let peakHeap = 0;
  const sampleHeap = () => {
    if (perf.memory) peakHeap = Math.max(peakHeap, perf.memory.usedJSHeapSize - (heap0 ?? 0));
  };

  let writeBytes = 0;
  let writeMs = 0;
  let readBytes = 0;
  let readMs = 0;
  let logical = 0;
  let stored = 0;
  /** Store one tensor by content (chunked records under its SHA-256); returns its hash. */
  const put = async (bytes: Uint8Array): Promise<string> => {
    const hash = await sha256(bytes);
    logical += bytes.byteLength;
    const t0 = performance.now();
    const tx = db.transaction(['tensors', 'chunks'], 'readwrite');
    const exists = (await tx.objectStore('tensors').count(hash)) > 0;
    if (!exists) {
      const chunks = Math.max(1, Math.ceil(bytes.byteLength / o.chunkBytes));
      for (let c = 0; c < chunks; c++) {
        const part = bytes.subarray(c * o.chunkBytes, Math.min(bytes.byteLength, (c + 1) * o.chunkBytes));
        void tx.objectStore('chunks').put(part, `${hash}:${c}`);
      }
      void tx.objectStore('tensors').put({ bytes: bytes.byteLength, chunks }, hash);
      stored += bytes.byteLength;
    }
    await tx.done;
    if (!exists) {
      writeMs += performance.now() - t0;
      writeBytes += bytes.byteLength;
    }
    return hash;
  };
  const get = async (hash: string): Promise<Float32Array> => {
    const t0 = performance.now();
    const tx = db.transaction(['tensors', 'chunks'], 'readonly');
    const rec = (await tx.objectStore('tensors').get(hash)) as { bytes: number; chunks: number } | undefined;
    if (!rec) throw new Error(`tensor ${hash.slice(0, 12)}… is missing from IndexedDB`);
    const out = new Uint8Array(rec.bytes);
    let at = 0;
    for (let c = 0; c < rec.chunks; c++) {
      const part = (await tx.objectStore('chunks').get(`${hash}:${c}`)) as Uint8Array | undefined;
      if (!part) throw new Error(`chunk ${c} of tensor ${hash.slice(0, 12)}… is missing from IndexedDB`);
      out.set(part, at);
      at += part.byteLength;
    }
    await tx.done;
    readMs += performance.now() - t0;
    readBytes += rec.bytes;
    return new Float32Array(out.buffer);
  };

  // The parents: a base and `parents` fine-tunes, written tensor by tensor.
  const manifests: Record<string, string>[] = [];
  for (let p = 0; p <= o.parents; p++) {
    const m: Record<string, string> = {};
    for (const s of specs) {
      const n = numelOf(s.shape);
      const x = fillSeeded(new Float32Array(n), nameSeed(s.name, 1), s.name.includes('ln_') ? 0.1 : 0.02);
      if (s.name.includes('ln_') && s.name.endsWith('.weight')) for (let i = 0; i < n; i++) x[i] += 1;
      if (p > 0 && !s.frozen) {
        const d = fillSeeded(new Float32Array(n), nameSeed(s.name, 100 + p), 0.002);
        for (let i = 0; i < n; i++) x[i] += d[i];
      }
      m[s.name] = await put(new Uint8Array(x.buffer));
    }
    manifests.push(m);
    await db.put('models', m, `parent-${p}`);
  }
  o.log?.(`parents stored: ${(logical / 2 ** 20).toFixed(1)} MiB written, ${(stored / 2 ** 20).toFixed(1)} MiB stored`);

  // The breed, tensor by tensor.
  const inputsFrom = op.needsBase ? manifests : manifests.slice(1);
  const parentCount = inputsFrom.length - (op.needsBase ? 1 : 0);
  const params = resolveParams(op, {}, parentCount);
  if (params.trimScope === 'model' || (typeof params.clipNorm === 'number' && params.clipNorm > 0)) {
    throw new Error('the streaming breed runs per-tensor parameters only (no model-wide trim or clip pre-pass)');
  }
  const backend = await o.backendFor(useId);
  const positions = layerPositions(specs.map((s) => s.name));
  const t0 = performance.now();
  const out: Record<string, string> = {};
  let moved = 0;
  let largest = 0;
  for (const [i, s] of specs.entries()) {
    const inputs: Float32Array[] = [];
    for (const m of inputsFrom) {
      const x = await get(m[s.name]);
      hold(x.byteLength);
      inputs.push(x);
    }
    largest = Math.max(largest, inputs[0].byteLength);
    let p = paramsAt(op, params, positions[i]);
    if (op.prepare) {
      const view = { names: [s.name], shapes: [s.shape], inputs: () => inputs };
      p = { ...p, ...(op.prepare(view, p, 7)[s.name] ?? {}) };
    }
    const y = await backend.run(op, inputs, p, { name: s.name, shape: s.shape, seed: 7 });
    hold(y.byteLength);
    sampleHeap();
    out[s.name] = await put(new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
    moved += inputs.reduce((a, x) => a + x.byteLength, 0) + y.byteLength;
    hold(-y.byteLength - inputs.reduce((a, x) => a + x.byteLength, 0));
    sampleHeap();
  }
  await db.put('models', out, 'candidate');
  const wallMs = performance.now() - t0;
  const outputHash = await sha256(new TextEncoder().encode(JSON.stringify(specs.map((s) => [s.name, out[s.name]]))));
  return {
    model: o.model.name,
    operator: useId,
    operatorNote: note,
    backend: backend.adapter,
    software: backend.software,
    parents: parentCount,
    tensors: specs.length,
    parameters: specs.reduce((a, s) => a + numelOf(s.shape), 0),
    bytesMoved: moved,
    wallMs,
    peakHeldBytes: peakHeld,
    peakHeapBytes: perf.memory ? peakHeap : null,
    peakGpuBufferBytes: o.peakGpuBytes(),
    idbWriteBytesPerS: writeBytes / (writeMs / 1000),
    idbReadBytesPerS: readBytes / (readMs / 1000),
    dedupeLogicalBytes: logical,
    dedupeStoredBytes: stored,
    outputHash,
    largestTensorBytes: largest,
  };
}
