/**
 * The page half of bench/app-breed.ts. `buildGarden` writes a base and three fine-tunes of a
 * GPT-2-shaped model (bench/model.ts) into an IndexedDB tensor store chunk by chunk, as a garden
 * holds them. `breedApp` breeds them in the app's own kernel worker (workers/kernel.worker.ts,
 * breedStored: IndexedDB → IndexedDB, chunk by chunk) as the app's main thread calls it, lists
 * the candidate with putModel, and records the main thread's long tasks, the progress (bytes,
 * times) and, in a second breed, how long a Cancel takes to end it and what it left in the store.
 */
import * as Comlink from 'comlink';
import { openDB } from 'idb';
import { openIdbTensorStore } from '../src/store/idb-store.ts';
import { STORE_NAMES } from '../src/store/tensor-store.ts';
import type { BreedProgress } from '../src/core/operators/breed.ts';
import type { KernelWorkerApi } from '../workers/kernel.worker.ts';
import { GPT2_SMALL, GPT2_TOY, modelTensors, numelOf, tensorStream } from './model.ts';

const SPECIES = 'e'.repeat(64);
/** The store's chunk: a whole one written is one step of the breed's progress. */
const CHUNK_BYTES = 4 << 20;
const FAMILY = { graph: new TextEncoder().encode('bench family graph'), vocabulary: ['a', 'b'] };

export interface GardenInfo {
  ids: string[];
  parameters: number;
  modelBytes: number;
  storedBytes: number;
  buildMs: number;
}

async function buildGarden(o: { smoke: boolean; db: string }): Promise<GardenInfo> {
  const t0 = performance.now();
  const model = o.smoke ? GPT2_TOY : GPT2_SMALL;
  const store = await openIdbTensorStore({ name: o.db });
  const chunk = 1 << 20;
  const ids: string[] = [];
  try {
    for (let p = 0; p < 4; p++) {
      const tensors = [];
      for (const s of modelTensors(model)) {
        const w = store.tensorWriter();
        const next = tensorStream(s, p);
        const n = numelOf(s.shape);
        for (let at = 0; at < n; at += chunk) {
          const v = next(new Float32Array(Math.min(chunk, n - at)));
          await w.write(new Uint8Array(v.buffer));
        }
        tensors.push({ name: s.name, dtype: 'F32' as const, shape: s.shape, hash: (await w.finish()).hash });
      }
      ids.push((await store.putModel({ tensors, species: SPECIES, meta: { name: `parent ${p}` } })).id);
      console.log(`bench: parent ${p} stored (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    const parameters = modelTensors(model).reduce((a, s) => a + numelOf(s.shape), 0);
    const u = await store.usage();
    return { ids, parameters, modelBytes: 4 * parameters, storedBytes: u.storedBytes, buildMs: performance.now() - t0 };
  } finally {
    store.close();
  }
}

/** Every record key of the database, store by store (an unlisted tensor or chunk counts too). */
async function recordCounts(db: string): Promise<Record<string, number>> {
  const d = await openDB(db);
  try {
    const out: Record<string, number> = {};
    for (const s of STORE_NAMES) out[s] = await d.count(s);
    return out;
  } finally {
    d.close();
  }
}

export interface AppBreedRun {
  wallMs: number;
  candidate: string;
  modelId: string;
  plans: Record<string, number>;
  bytesRead: number;
  peakHeldBytes: number;
  backend: string;
  /** Progress events, and the largest gap between two. */
  progressEvents: number;
  /** One chunk's time: the median gap between two progress events of the breed pass 4 MiB apart (one whole chunk written), and how many there were. */
  chunkMs: number;
  chunkSamples: number;
  progressMaxGapMs: number;
  etaSamples: string[];
  longestTaskMs: number;
  longTasks: number;
  /** The Cancel run: from cancel() to the breed's rejection, the error's name, and the store's records before and after. */
  cancel: {
    /** From cancel() to the last progress event after it (0: none came), and how many came (chunks written after the Cancel). */
    stopMs: number;
    chunksAfter: number;
    /** From cancel() to the breed's rejection, the finished outputs dropped from the store meanwhile. */
    latencyMs: number;
    error: string;
    at: number;
    before: Record<string, number>;
    after: Record<string, number>;
  } | null;
}

const longTasks: { start: number; duration: number }[] = [];
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
}).observe({ type: 'longtask', buffered: true });

async function breedApp(o: { db: string; ids: string[]; operator: string; cancelAt: number | null }): Promise<AppBreedRun> {
  const worker = Comlink.wrap<KernelWorkerApi>(new Worker('/kernel-worker.js', { type: 'module' }));
  const info = await openIdbTensorStore({ name: o.db });
  const specs = await Promise.all(o.ids.map(async (id) => (await info.matchModel(id))!.manifest.tensors));
  const parents = o.ids.map((id, i) => ({
    id,
    header: {
      hash: String(i).repeat(64),
      species: SPECIES,
      tensors: specs[i].map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
      family: FAMILY,
    },
  }));
  const req = { operator: o.operator, params: {}, seed: 7, parents };
  const times: number[] = [];
  /** Gaps between progress events of the breed pass (the first half of the bar) that wrote a whole chunk. */
  const chunkGaps: number[] = [];
  let last = { t: 0, bytes: 0 };
  const etaSamples: string[] = [];
  let t0 = performance.now();
  const onProgress = (p: BreedProgress) => {
    const now = performance.now();
    times.push(now);
    if (p.bytesDone <= p.bytesTotal / 2 && last.t > 0 && p.bytesDone - last.bytes === CHUNK_BYTES) chunkGaps.push(now - last.t);
    last = { t: now, bytes: p.bytesDone };
    // The app's own ETA (BreedPanel's etaText): elapsed × remaining ÷ done.
    if (times.length % 40 === 1 && p.bytesDone > 0)
      etaSamples.push(
        `${((100 * p.bytesDone) / p.bytesTotal).toFixed(0)} %: ETA ${(((now - t0) * (p.bytesTotal - p.bytesDone)) / p.bytesDone / 1000).toFixed(1)} s`,
      );
  };
  t0 = performance.now();
  console.log('bench-phase:breed-start');
  const r = await worker.breedStored(o.db, req, true, Comlink.proxy(onProgress));
  // The app's main thread then lists the candidate (tensors by hash), as garden.ts does.
  const put = await info.putModel({ tensors: r.tensors, species: r.candidate.species, meta: { name: 'candidate' } });
  const t1 = performance.now();
  console.log('bench-phase:breed-end');
  await new Promise((res) => setTimeout(res, 100));
  const inside = longTasks.filter((t) => t.start + t.duration > t0 && t.start < t1);
  const gapsOf = (ts: number[]) =>
    ts
      .slice(1)
      .map((t, i) => t - ts[i])
      .sort((a, b) => a - b);
  const gaps = gapsOf(times);
  chunkGaps.sort((a, b) => a - b);
  let cancel: AppBreedRun['cancel'] = null;
  if (o.cancelAt !== null) {
    // A second breed (another λ, so another candidate whose tensors the store lacks), cancelled part-way.
    const before = await recordCounts(o.db);
    let asked = 0;
    let at = 0;
    let chunksAfter = 0;
    let lastAfter = 0;
    const done = worker
      .breedStored(
        o.db,
        { ...req, params: { lambda: 0.7 } },
        true,
        Comlink.proxy((p: BreedProgress) => {
          if (asked) {
            chunksAfter++;
            lastAfter = performance.now();
          } else if (p.bytesDone >= o.cancelAt! * p.bytesTotal) {
            asked = performance.now();
            at = p.bytesDone / p.bytesTotal;
            void worker.cancel();
          }
        }),
      )
      .then(
        () => 'finished',
        (e: Error) => e.name || e.message,
      );
    const error = await done;
    const latencyMs = asked ? performance.now() - asked : -1;
    cancel = { stopMs: lastAfter ? lastAfter - asked : 0, chunksAfter, latencyMs, error, at, before, after: await recordCounts(o.db) };
  }
  info.close();
  worker[Comlink.releaseProxy]();
  return {
    wallMs: t1 - t0,
    candidate: r.candidate.hash,
    modelId: put.id,
    plans: r.result.plans as Record<string, number>,
    bytesRead: r.result.bytesRead,
    peakHeldBytes: r.result.peakHeldBytes,
    backend: r.result.backend.adapter,
    progressEvents: times.length,
    chunkMs: chunkGaps[Math.floor(chunkGaps.length / 2)] ?? 0,
    chunkSamples: chunkGaps.length,
    progressMaxGapMs: gaps[gaps.length - 1] ?? 0,
    etaSamples,
    longestTaskMs: Math.max(0, ...inside.map((t) => t.duration)),
    longTasks: inside.length,
    cancel,
  };
}

Object.assign(globalThis, { buildGarden, breedApp });
