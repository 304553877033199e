/**
 * What the garden views act on: the facts the badges are read from (the ledger's admissions and
 * alleles, the slot's registry, the user's archive), storage per model, and archive, delete,
 * export and a re-hash of every model. Archiving is the user's own marking, kept in
 * localStorage: the model stays stored and usable, and the views say it is archived and why.
 */
import { create } from 'zustand';
import { labHandles, modelFile, SLOT } from './garden.ts';
import { useGarden, type ModelEntry } from './state.ts';
import { readAlleles } from '../core/lab/alleles.ts';
import type { LedgerEntry } from '../core/manifest/index.ts';
import { deleteRefusal, storageRows, type GardenFacts, type StorageRow } from './garden-view.ts';
import { bytes } from './format.ts';
import { saveFile } from './save.ts';
import { byCreation } from './naming.ts';

export const ARCHIVE_KEY = 'slm-garden-archived';

type Archive = GardenFacts['archived'];

export interface GardenViewState {
  archived: Archive;
  /** Storage per model (null until counted). */
  storage: Map<string, StorageRow> | null;
  busy: string | null;
  /** The outcome of the last action, in one sentence. */
  message: string | null;
  /** The last re-hash of every model: name → null when it re-hashed, else why not. */
  rehash: { at: string; results: { id: string; name: string; error: string | null }[] } | null;
}

function loadArchive(): Archive {
  try {
    const v = JSON.parse(localStorage.getItem(ARCHIVE_KEY) ?? '{}') as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Archive) : {};
  } catch {
    return {};
  }
}

export const useGardenView = create<GardenViewState>()(() => ({
  archived: loadArchive(),
  storage: null,
  busy: null,
  message: null,
  rehash: null,
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

function saveArchive(archived: Archive): void {
  localStorage.setItem(ARCHIVE_KEY, JSON.stringify(archived));
  set({ archived });
}

export function archiveModel(m: ModelEntry, reason: string): void {
  saveArchive({ ...useGardenView.getState().archived, [m.id]: { at: new Date().toISOString(), reason } });
  set({ message: `Archived ${m.name}: it stays stored and can be restored.` });
}

export function unarchiveModel(m: ModelEntry): void {
  const rest = { ...useGardenView.getState().archived };
  delete rest[m.id];
  saveArchive(rest);
  set({ message: `Restored ${m.name} from the archive.` });
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
    await repo.deleteModel(m.id);
    const models = await repo.listModels();
    useGarden.setState((s) => ({
      models,
      selected: s.selected.filter((id) => id !== m.id),
      candidateId: s.candidateId === m.id ? null : s.candidateId,
      receipt: s.candidateId === m.id ? null : s.receipt,
      storage: null,
    }));
    const archived = { ...useGardenView.getState().archived };
    if (archived[m.id]) {
      delete archived[m.id];
      saveArchive(archived);
    }
    useGarden.setState({ storage: await repo.usage() });
    await refreshModelStorage();
    const names = (ids: string[]) =>
      byCreation(models)
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

/** Download a model's .slm, rebuilt from the store and checked against its hash. */
export async function exportModel(m: ModelEntry): Promise<void> {
  try {
    const f = await modelFile(m.id);
    saveFile(f.name, f.bytes, 'application/octet-stream');
    set({ message: `Exported ${m.name} as ${f.name} (${bytes(f.bytes.length)}).` });
  } catch (e) {
    set({ message: `Could not export ${m.name}: ${(e as Error).message}` });
  }
}

/** Rebuild every model's .slm from its stored tensors (each checked against its hash) and compare with the model's hash. */
export async function rehashAll(): Promise<void> {
  if (useGardenView.getState().busy) return;
  set({ busy: 're-hashing every model' });
  const results: { id: string; name: string; error: string | null }[] = [];
  for (const m of useGarden.getState().models)
    results.push({
      id: m.id,
      name: m.name,
      error: await modelFile(m.id).then(
        () => null,
        (e: Error) => e.message,
      ),
    });
  set({ busy: null, rehash: { at: new Date().toISOString(), results } });
}
