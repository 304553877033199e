/**
 * Fault injection for the app specs, done for real in the page and its kernel workers: an init
 * script that can terminate the kernel worker or reload the page at the breed's first progress
 * report, hold the breed request, slow the kernel worker's hashing (every chunk it reads or writes),
 * and make IndexedDB's put throw QuotaExceededError once a byte budget of tensor data is spent (on
 * the page and in the kernel worker, where the streamed breed writes); and an independent check of
 * what the garden's databases hold (every tensor's bytes against its content hash, every model's
 * tensors present, the ledger's head).
 */
import { expect, type BrowserContext, type Page } from '@playwright/test';
import { writeAppFaultRows } from '../cli/reliability.ts';

export interface Faults {
  /** At the kernel worker's first progress report of a breed: terminate it, or reload the page. */
  atProgress: 'terminate' | 'reload' | null;
  /** Hold the next breed request until release() (the breed stays in flight). */
  holdBreed: boolean;
  release: () => void;
  /** Bytes of tensor data IndexedDB may still take before put throws QuotaExceededError. */
  quotaLeft: number;
  /**
   * A write (put or add) to the object store `store` (the ledger's `entries`, the `evidence`
   * store) after `skip` writes to it pass: it throws QuotaExceededError, or the page reloads
   * (the write is refused, as a page closed before it would never make it).
   */
  atStore: { store: string; skip: number; fault: 'quota' | 'reload' } | null;
  /** Terminate the worker of this name ('evaluator', 'trainer') right after the next message posted to it. */
  killAfterPost: string | null;
  /** Milliseconds the kernel worker waits before each SHA-256 it takes (a slow worker: every chunk it reads or writes is hashed). */
  digestDelayMs: number;
  /** Hand the faults the kernel workers apply (quotaLeft, digestDelayMs) to those running (arm calls it). */
  sync: () => void;
}

/** The faults a kernel worker applies to its own writes: its IndexedDB is not the page's. */
type WorkerFaults = Pick<Faults, 'quotaLeft' | 'digestDelayMs'>;

/**
 * Installed before the app's scripts (page.addInitScript). Every kernel worker the page starts (the
 * first, and each fresh one after a death) runs from a wrapper module that patches the worker's
 * own IndexedDB and crypto.subtle first and then imports the real worker, so the streamed breed's
 * writes there meet the same faults as the page's.
 */
export function installFaults(): void {
  const f: Faults = {
    atProgress: null,
    holdBreed: false,
    release: () => undefined,
    quotaLeft: Infinity,
    atStore: null,
    killAfterPost: null,
    digestDelayMs: 0,
    sync: () => undefined,
  };
  (window as unknown as { __faults: Faults }).__faults = f;
  const kernels: { worker: Worker; post: (m: unknown) => void }[] = [];
  f.sync = () => {
    for (const k of kernels) k.post({ __faults: { quotaLeft: f.quotaLeft, digestDelayMs: f.digestDelayMs } satisfies WorkerFaults });
  };
  /**
   * Runs first in a kernel worker (its source is the wrapper's). Messages that arrive before the
   * real worker has loaded wait for it (Comlink listens only then), then are dispatched again in order.
   */
  function inWorker(init: WorkerFaults, load: () => Promise<unknown>): void {
    const w = { ...init };
    const early: MessageEvent[] = [];
    let loaded = false;
    self.addEventListener('message', (e: MessageEvent) => {
      const d = e.data as { __faults?: Partial<WorkerFaults> } | null;
      if (d && typeof d === 'object' && '__faults' in d) {
        Object.assign(w, d.__faults);
        e.stopImmediatePropagation();
      } else if (!loaded) {
        early.push(e);
        e.stopImmediatePropagation();
      }
    });
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      const data = (value as { data?: Uint8Array } | null)?.data;
      if ((this.name === 'tensors' || this.name === 'chunks') && data instanceof Uint8Array && Number.isFinite(w.quotaLeft)) {
        if (data.length > w.quotaLeft)
          throw new DOMException('The quota has been exceeded (injected in the worker).', 'QuotaExceededError');
        w.quotaLeft -= data.length;
        self.postMessage({ __faultsQuotaLeft: w.quotaLeft });
      }
      return put.call(this, value, key);
    };
    const digest = crypto.subtle.digest.bind(crypto.subtle);
    crypto.subtle.digest = async (alg: AlgorithmIdentifier, data: BufferSource) => {
      if (w.digestDelayMs > 0) await new Promise((r) => setTimeout(r, w.digestDelayMs));
      return digest(alg, data);
    };
    load().then(
      () => {
        loaded = true;
        for (const e of early.splice(0)) self.dispatchEvent(new MessageEvent('message', { data: e.data, ports: [...e.ports] }));
      },
      (e: unknown) =>
        setTimeout(() => {
          throw e;
        }),
    );
  }
  const wrapped = (url: string | URL) =>
    URL.createObjectURL(
      new Blob(
        [
          // The import is written here, not in inWorker: the spec's transpiler leaves a string alone.
          `(${inWorker.toString()})({ quotaLeft: ${f.quotaLeft}, digestDelayMs: ${f.digestDelayMs} }, () => import(${JSON.stringify(new URL(url, location.href).href)}));`,
        ],
        { type: 'text/javascript' },
      ),
    );
  const Base = window.Worker;
  window.Worker = class extends Base {
    constructor(url: string | URL, opts?: WorkerOptions) {
      super(opts?.name === 'kernels' ? wrapped(url) : url, opts);
      if (opts?.name !== 'kernels') {
        const post = this.postMessage.bind(this) as (m: unknown, t?: Transferable[]) => void;
        this.postMessage = ((m: unknown, t?: Transferable[]) => {
          post(m, t);
          if (f.killAfterPost !== opts?.name) return;
          f.killAfterPost = null;
          this.terminate();
        }) as Worker['postMessage'];
        return;
      }
      const post = this.postMessage.bind(this) as (m: unknown, t?: Transferable[]) => void;
      kernels.push({ worker: this, post });
      this.addEventListener('message', (e) => {
        const left = (e.data as { __faultsQuotaLeft?: number } | null)?.__faultsQuotaLeft;
        if (typeof left === 'number') f.quotaLeft = left;
      });
      this.postMessage = ((m: { type?: string; path?: string[] }, t?: Transferable[]) => {
        if (m?.type === 'APPLY' && (m.path?.[0] === 'breed' || m.path?.[0] === 'breedStored') && f.holdBreed) {
          f.holdBreed = false;
          f.release = () => post(m, t);
        } else post(m, t);
      }) as Worker['postMessage'];
    }
  };
  // Progress reaches the page as a Comlink APPLY on the callback's MessagePort.
  const listen = MessagePort.prototype.addEventListener;
  MessagePort.prototype.addEventListener = function (this: MessagePort, type: string, fn: EventListenerOrEventListenerObject, o?: unknown) {
    const wrapped = (e: Event) => {
      const data = (e as MessageEvent).data as { type?: string } | undefined;
      if (f.atProgress && data?.type === 'APPLY') {
        const what = f.atProgress;
        f.atProgress = null;
        if (what === 'terminate') for (const k of kernels) k.worker.terminate();
        else location.reload();
        return;
      }
      (typeof fn === 'function' ? fn : fn.handleEvent.bind(fn))(e);
    };
    return listen.call(this, type, type === 'message' ? wrapped : fn, o as AddEventListenerOptions);
  } as typeof MessagePort.prototype.addEventListener;
  const storeFault = (store: string) => {
    const at = f.atStore;
    if (!at || at.store !== store || at.skip-- > 0) return;
    f.atStore = null;
    if (at.fault === 'reload') {
      location.reload();
      throw new DOMException('The page is closing (injected).', 'AbortError');
    }
    throw new DOMException('The quota has been exceeded (injected).', 'QuotaExceededError');
  };
  const add = IDBObjectStore.prototype.add;
  IDBObjectStore.prototype.add = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
    storeFault(this.name);
    return add.call(this, value, key);
  };
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
    storeFault(this.name);
    const data = (value as { data?: Uint8Array } | null)?.data;
    if ((this.name === 'tensors' || this.name === 'chunks') && data instanceof Uint8Array && Number.isFinite(f.quotaLeft)) {
      if (data.length > f.quotaLeft) throw new DOMException('The quota has been exceeded (injected).', 'QuotaExceededError');
      f.quotaLeft -= data.length;
    }
    return put.call(this, value, key);
  };
}

/** Set faults on the page and in its kernel workers. */
export const arm = (page: Page, patch: Partial<Omit<Faults, 'release' | 'sync'>>) =>
  page.evaluate((p) => {
    const f = (window as unknown as { __faults: Faults }).__faults;
    Object.assign(f, p);
    f.sync();
  }, patch);

export interface GardenCheck {
  /** model id → .slm hash, as the store's records hold them. */
  models: Record<string, string>;
  /** model id → bytes of its tensors that the store holds and that hash to their keys. */
  modelBytes: Record<string, number>;
  tensors: number;
  /** Tensor records whose bytes do not hash to their key. */
  corrupt: string[];
  /** Tensors a model lists that the store lacks. */
  missing: string[];
  /** Tensor records no model lists (refs 0) and chunk records no tensor lists: what a breed cut off would leave. */
  unlisted: { tensors: number; chunks: number };
  ledger: { entries: number; head: number; headMatches: boolean };
}

/** Read the garden's databases directly and re-verify every tensor's content hash. */
export function checkGarden(page: Page): Promise<GardenCheck> {
  return page.evaluate(async () => {
    const open = (name: string) =>
      new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
    const all = <T>(db: IDBDatabase, store: string) =>
      new Promise<{ keys: IDBValidKey[]; values: T[] }>((res, rej) => {
        const s = db.transaction(store).objectStore(store);
        const k = s.getAllKeys();
        const v = s.getAll();
        v.onsuccess = () => res({ keys: k.result, values: v.result as T[] });
        v.onerror = () => rej(v.error);
      });
    const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
    const tdb = await open('slm-garden-tensors');
    // A tensor record lists its chunks' hashes (src/store/tensor-store.ts), or, written before
    // chunks, holds its bytes in `data`: either way the tensor's bytes must hash to its key.
    const tensors = await all<{ data?: Uint8Array<ArrayBuffer>; chunks?: string[]; bytes?: number; refs?: number }>(tdb, 'tensors');
    const chunkRecords = await all<{ data: Uint8Array<ArrayBuffer> }>(tdb, 'chunks');
    const models = await all<{ manifest: { tensors: { hash: string }[] }; meta: { entry: { id: string; hash: string } } }>(tdb, 'models');
    tdb.close();
    const chunkData = new Map(chunkRecords.keys.map((k, i) => [String(k), chunkRecords.values[i].data] as const));
    const corrupt: string[] = [];
    const sizes = new Map<string, number>();
    for (const [i, key] of tensors.keys.entries()) {
      const rec = tensors.values[i];
      let data: Uint8Array<ArrayBuffer>;
      if (rec.chunks) {
        data = new Uint8Array(rec.bytes ?? 0);
        let at = 0;
        for (const c of rec.chunks) {
          const part = chunkData.get(c) ?? new Uint8Array(0);
          data.set(part.subarray(0, Math.max(0, Math.min(part.length, data.length - at))), at);
          at += part.length;
        }
      } else data = rec.data ?? new Uint8Array(0);
      sizes.set(String(key), data.byteLength);
      if (hex(await crypto.subtle.digest('SHA-256', data)) !== key) corrupt.push(String(key));
    }
    const listedChunks = new Set(tensors.values.flatMap((t) => t.chunks ?? []));
    const unlisted = {
      tensors: tensors.values.filter((t) => (t.refs ?? 0) <= 0).length,
      chunks: chunkRecords.keys.filter((k) => !listedChunks.has(String(k))).length,
    };
    const held = new Set(tensors.keys.map(String));
    const missing = models.values.flatMap((m) => m.manifest.tensors.map((t) => t.hash).filter((h) => !held.has(h)));
    const sound = new Map([...sizes].filter(([k]) => !corrupt.includes(k)));
    const modelBytes = Object.fromEntries(
      models.values.map((m) => [m.meta.entry.id, m.manifest.tensors.reduce((n, t) => n + (sound.get(t.hash) ?? 0), 0)]),
    );
    const adb = await open('slm-garden-audit');
    const entries = await all<{ hash: string }>(adb, 'entries');
    const head = (await all<{ length: number; hash: string }>(adb, 'head')).values[0];
    adb.close();
    return {
      models: Object.fromEntries(models.values.map((m) => [m.meta.entry.id, m.meta.entry.hash])),
      modelBytes,
      tensors: tensors.keys.length,
      corrupt,
      missing,
      unlisted,
      ledger: {
        entries: entries.keys.length,
        head: head?.length ?? 0,
        headMatches: head?.hash === entries.values[entries.values.length - 1]?.hash,
      },
    };
  });
}

/**
 * Nothing lost and nothing partial: the models of `before` are all still there with the same
 * hashes, every tensor verifies, no tensor or chunk is left that nothing lists, the ledger's head matches.
 */
export function expectIntact(after: GardenCheck, before: GardenCheck, { corrupt = 0 } = {}): void {
  for (const [id, hash] of Object.entries(before.models)) expect(after.models[id], id).toBe(hash);
  expect(after.corrupt).toHaveLength(corrupt);
  expect(after.missing).toEqual([]);
  expect(after.unlisted).toEqual({ tensors: 0, chunks: 0 });
  expect(after.ledger.entries).toBe(after.ledger.head);
  expect(after.ledger.headMatches).toBe(true);
}

/**
 * Bytes of `before`'s models that `after` no longer holds intact: a model gone or changed counts
 * whole, a model that lost or corrupted tensors counts what it lost. `allowed` names models whose
 * records the test itself corrupted (the fault, not a loss by the app).
 */
export function bytesLost(after: GardenCheck, before: GardenCheck, allowed: readonly string[] = []): number {
  let lost = 0;
  for (const [id, hash] of Object.entries(before.models)) {
    if (allowed.includes(id)) continue;
    if (after.models[id] !== hash) lost += before.modelBytes[id] ?? 0;
    else lost += Math.max(0, (before.modelBytes[id] ?? 0) - (after.modelBytes[id] ?? 0));
  }
  return lost;
}

/**
 * A row of docs/RELIABILITY.md's app-fault table, written by this run: the fault, what the user
 * saw, and the bytes of earlier models lost (checked to be 0 by the caller's expectIntact).
 */
export function recordFault(
  fault: string,
  outcome: string,
  after: GardenCheck,
  before: GardenCheck,
  allowed: readonly string[] = [],
): void {
  writeAppFaultRows([{ fault, outcome, models: Object.keys(after.models).length, bytesLost: bytesLost(after, before, allowed) }]);
}

export const candidates = (c: GardenCheck) => Object.keys(c.models).filter((id) => id.startsWith('candidate-'));

/** Open the garden and wait until its parents are scored. */
export async function openGarden(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
  await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');
}

/** Select the base and one specialist for a blend. */
export async function pickBlend(page: Page, specialist: 'thick' | 'rotated' | 'noisy' = 'thick'): Promise<void> {
  await page.getByTestId('operator-select').selectOption('blend');
  for (const name of ['Digits base', `Digits ${specialist} specialist`]) await page.getByLabel(`Select ${name}`).check();
}

/** The one-line notice, looked at in a screenshot (e2e/screenshots/). */
export async function expectNotice(page: Page, text: RegExp, shot: string): Promise<void> {
  const notice = page.getByRole('status').filter({ hasText: text });
  await expect(notice).toBeVisible({ timeout: 60_000 });
  await notice.screenshot({ path: `e2e/screenshots/${shot}.png` });
}
/** Every request of the context that leaves `origin` (data: and blob: URLs stay on the machine). */
export function watchOrigin(context: BrowserContext, origin: string): string[] {
  const off: string[] = [];
  context.on('request', (r) => {
    if (!/^(data|blob):/.test(r.url()) && new URL(r.url()).origin !== origin) off.push(r.url());
  });
  return off;
}

/** Flip one bit of a model's stored tensor in IndexedDB (its record keeps its key); the tensor's hash. */
export function flipTensor(page: Page, modelId: string, tensor: string): Promise<string> {
  return page.evaluate(
    async ({ modelId, tensor }) => {
      const db = await new Promise<IDBDatabase>((res) => {
        const r = indexedDB.open('slm-garden-tensors');
        r.onsuccess = () => res(r.result);
      });
      const req = <T>(r: IDBRequest<T>) =>
        new Promise<T>((res, rej) => ((r.onsuccess = () => res(r.result)), (r.onerror = () => rej(r.error))));
      const store = (mode: IDBTransactionMode, name = 'tensors') => db.transaction(name, mode).objectStore(name);
      const models = (await req(db.transaction('models').objectStore('models').getAll())) as {
        manifest: { tensors: { name: string; hash: string }[] };
        meta: { entry: { id: string } };
      }[];
      const ref = models.find((m) => m.meta.entry.id === modelId)!.manifest.tensors.find((t) => t.name === tensor)!;
      const rec = (await req(store('readonly').get(ref.hash))) as { data?: Uint8Array; chunks?: string[] };
      if (rec.chunks) {
        // A chunked tensor: flip a bit of its first chunk's record.
        const chunk = (await req(store('readonly', 'chunks').get(rec.chunks[0]))) as { data: Uint8Array };
        chunk.data[7] ^= 0x40;
        await req(store('readwrite', 'chunks').put(chunk, rec.chunks[0]));
      } else {
        rec.data![7] ^= 0x40;
        await req(store('readwrite').put(rec, ref.hash));
      }
      db.close();
      return ref.hash;
    },
    { modelId, tensor },
  );
}
