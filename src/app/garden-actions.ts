/**
 * What the garden views act on: the facts the badges are read from (the ledger's admissions and
 * alleles, the slot's registry, the user's archive), storage per model, and archive, delete,
 * export and a re-hash of every model. Archiving moves a model out of the pool (the repo's
 * listModels leaves it out, so it is neither offered as a parent nor routed) and keeps its
 * tensors; restoring puts it back. What the slot routes to cannot be archived.
 */
import { create } from 'zustand';
import { labHandles, SLOT } from './garden.ts';
import { ExportCancelled, readModelFile, type ExportProgress } from './export-progress.ts';
import { useGarden, type ModelEntry } from './state.ts';
import { readAlleles } from '../core/lab/alleles.ts';
import type { LedgerEntry } from '../core/manifest/index.ts';
import { archiveRefusal, deleteRefusal, storageRows, type GardenFacts, type StorageRow } from './garden-view.ts';
import { bytes } from './format.ts';
import { saveFile } from './save.ts';
import { byCreation } from './naming.ts';

type Archive = GardenFacts['archived'];

export interface GardenViewState {
  archived: Archive;
  /** The archived models (out of the pool, still stored). */
  archivedModels: ModelEntry[];
  /** Storage per model (null until counted). */
  storage: Map<string, StorageRow> | null;
  busy: string | null;
  /** The outcome of the last action, in one sentence. */
  message: string | null;
  /** The last re-hash of every model: name → null when it re-hashed, else why not. */
  /** `cancelled`: Cancel stopped it, of this many models. */
  rehash: { at: string; results: { id: string; name: string; error: string | null }[]; cancelled?: number } | null;
  rehashProgress: RehashProgress | null;
  /** The .slm export in progress (null when none runs). */
  exportProgress: ExportProgress | null;
}

export const useGardenView = create<GardenViewState>()(() => ({
  archived: {},
  archivedModels: [],
  storage: null,
  busy: null,
  message: null,
  rehash: null,
  rehashProgress: null,
  exportProgress: null,
}));

const set = useGardenView.setState;

/** The ledger's entries (empty before the garden opened). */
export function ledgerEntries(): readonly LedgerEntry[] {
  return labHandles().repo?.ledger.entries() ?? [];
}

/** The facts badges and refusals are read from, now. */
export function gardenFacts(entries: readonly LedgerEntry[], archived: Archive): GardenFacts {
  const alleles = new Map((readAlleles(entries).get(SLOT) ?? []).map((a) => [a.model, a]));
  const admitted = new Set(entries.filter((e) => e.type === 'admission').map((e) => String(e.payload.model)));
  return { registry: useGarden.getState().registry, alleles, admitted, archived };
}

/** The starter models: the garden restores them on open, so a delete would not hold. */
export function starterIds(): Set<string> {
  return new Set((labHandles().family?.models ?? []).map((m) => m.id));
}

/** Count storage per model from the store's tensor references. */
export async function refreshModelStorage(): Promise<void> {
  const { repo } = labHandles();
  set({ storage: storageRows(await repo.tensorRefs()) });
}

/** Read the archive (marks and models) from the repo, once it is open. */
export async function refreshArchive(): Promise<void> {
  const { repo } = labHandles();
  if (!repo) return;
  set({ archived: repo.archived(), archivedModels: await repo.listArchived() });
}

/** Every stored model, the pool's and the archived, by creation. */
export function allModels(pool: readonly ModelEntry[], archived: readonly ModelEntry[]): ModelEntry[] {
  return byCreation([...pool, ...archived.filter((a) => !pool.some((m) => m.id === a.id))]);
}

/** The pool changed under the panels: a model left or joined it. */
async function poolChanged(leaving: string | null): Promise<void> {
  const models = await labHandles().repo.listModels();
  useGarden.setState((s) => ({
    models,
    selected: s.selected.filter((id) => id !== leaving),
    candidateId: s.candidateId === leaving ? null : s.candidateId,
    receipt: s.candidateId === leaving ? null : s.receipt,
  }));
  await refreshArchive();
}

/** Move a model out of the pool, its tensors kept; refused (with the reason) for what the slot routes to. */
export async function archiveModel(m: ModelEntry, reason: string): Promise<void> {
  if (useGardenView.getState().busy) return;
  const refusal = archiveRefusal(m, gardenFacts(ledgerEntries(), useGardenView.getState().archived));
  if (refusal) {
    set({ message: `${m.name} was not archived: ${refusal}.` });
    return;
  }
  try {
    await labHandles().repo.setArchived(m.id, { at: new Date().toISOString(), reason });
  } catch (e) {
    set({ message: `${m.name} was not archived: ${(e as Error).message}` });
    return;
  }
  labHandles().syncLab();
  await poolChanged(m.id);
  set({ message: `Archived ${m.name}: out of the pool (not a parent, not routed), its tensors kept; Restore puts it back.` });
}

/** Put an archived model back in the pool (the storage entry says why). */
export async function unarchiveModel(m: ModelEntry, reason?: string): Promise<void> {
  if (useGardenView.getState().busy) return;
  try {
    await labHandles().repo.setArchived(m.id, null, reason);
  } catch (e) {
    set({ message: `${m.name} was not restored: ${(e as Error).message}` });
    return;
  }
  labHandles().syncLab();
  await poolChanged(null);
  set({ message: `Restored ${m.name} to the pool.` });
}

/** Delete a model from the store; the tensors other models list stay. Refused (with the reason) for what the slot or an admission holds. */
export async function deleteModel(m: ModelEntry): Promise<void> {
  if (useGardenView.getState().busy) return;
  const { repo } = labHandles();
  const refusal = deleteRefusal(m, gardenFacts(ledgerEntries(), useGardenView.getState().archived), starterIds());
  if (refusal) {
    set({ message: `${m.name} was not deleted: ${refusal}.` });
    return;
  }
  set({ busy: `deleting ${m.name}`, rehash: null });
  try {
    const before = storageRows(await repo.tensorRefs()).get(m.id);
    const all = allModels(useGarden.getState().models, useGardenView.getState().archivedModels);
    await repo.deleteModel(m.id, 'deleted by the user from the storage panel');
    labHandles().syncLab();
    await poolChanged(m.id);
    useGarden.setState({ storage: await repo.usage() });
    await refreshModelStorage();
    const names = (ids: string[]) =>
      all
        .filter((x) => ids.includes(x.id))
        .map((x) => x.name)
        .join(', ');
    set({
      message: before
        ? `Deleted ${m.name}: ${bytes(before.own)} freed; ${bytes(before.shared)} in ${before.sharedTensors} shared tensor(s) kept for ${names(before.sharedWith) || 'no other model'}.`
        : `Deleted ${m.name}.`,
    });
  } catch (e) {
    set({ message: `Could not delete ${m.name}: ${(e as Error).message}` });
  } finally {
    set({ busy: null });
  }
}

let exportCancelled = false;

/** Stop the export at the next tensor: nothing is downloaded. */
export function cancelExport(): void {
  exportCancelled = true;
}

/** A model's .slm rebuilt from the store and checked against its hash, for pool and archived models alike. */
const storedFile = (m: ModelEntry, onRead?: (done: number) => void, stop?: () => boolean) =>
  readModelFile(labHandles().repo, m, onRead, stop);

/** Download a model's .slm, read from the store tensor by tensor with progress, ETA and Cancel; resolves to the outcome in one sentence (null: ignored). */
export async function exportModel(m: ModelEntry): Promise<string | null> {
  // A second click while this or other work runs is ignored.
  if (useGardenView.getState().busy) return null;
  exportCancelled = false;
  const progress: ExportProgress = { done: 0, total: m.bytes, model: m.name, startedAt: performance.now() };
  set({ busy: `exporting ${m.name}`, exportProgress: progress, message: null });
  try {
    const f = await storedFile(
      m,
      (done) => set({ exportProgress: { ...progress, done } }),
      () => exportCancelled,
    );
    saveFile(f.name, f.bytes, 'application/octet-stream');
    set({ message: `Exported ${m.name} as ${f.name} (${bytes(f.bytes.length)}).` });
  } catch (e) {
    set({
      message:
        e instanceof ExportCancelled
          ? `Export of ${m.name} cancelled: nothing was downloaded.`
          : `Could not export ${m.name}: ${(e as Error).message}`,
    });
  } finally {
    set({ busy: null, exportProgress: null });
  }
  return useGardenView.getState().message;
}

/** Bytes of the models the re-hash has rebuilt so far, of all of them; `startedAt` gives its ETA. */
export interface RehashProgress {
  done: number;
  total: number;
  model: string;
  startedAt: number;
}

let rehashCancelled = false;

/** Stop the re-hash after the model in progress (it only reads: nothing to undo). */
export function cancelRehash(): void {
  rehashCancelled = true;
}

/** Rebuild every model's .slm from its stored tensors (each checked against its hash) and compare with the model's hash. */
export async function rehashAll(): Promise<void> {
  if (useGardenView.getState().busy) return;
  rehashCancelled = false;
  const models = allModels(useGarden.getState().models, useGardenView.getState().archivedModels);
  const progress: RehashProgress = { done: 0, total: models.reduce((n, m) => n + m.bytes, 0), model: '', startedAt: performance.now() };
  set({ busy: 're-hashing every model', rehash: null, rehashProgress: progress });
  const results: { id: string; name: string; error: string | null }[] = [];
  for (const m of models) {
    if (rehashCancelled) break;
    set({ rehashProgress: { ...progress, model: m.name } });
    results.push({
      id: m.id,
      name: m.name,
      error: await storedFile(m).then(
        () => null,
        (e: Error) => e.message,
      ),
    });
    progress.done += m.bytes;
  }
  set({
    busy: null,
    rehashProgress: null,
    rehash: { at: new Date().toISOString(), results, cancelled: results.length < models.length ? models.length : undefined },
  });
}
