import { useEffect, useMemo, useState } from 'react';
import { useGarden } from '../state.ts';
import { bytes, etaText } from '../format.ts';
import { archiveRefusal, deleteRefusal } from '../garden-view.ts';
import {
  allModels,
  archiveModel,
  cancelExport,
  cancelRehash,
  deleteModel,
  exportModel,
  gardenFacts,
  ledgerEntries,
  refreshArchive,
  refreshModelStorage,
  rehashAll,
  starterIds,
  unarchiveModel,
  useGardenView,
} from '../garden-actions.ts';
import './garden-view.css';

/**
 * Storage per model: the bytes of its tensors, how many of them other models share (tensors are
 * stored once per hash), and what a delete would free; with export, archive and delete. What the
 * slot or an admission holds cannot be deleted, and says why beside the button.
 */
export function StoragePanel() {
  const pool = useGarden((s) => s.models);
  const registry = useGarden((s) => s.registry);
  const ledgerLength = useGarden((s) => s.ledger.length);
  const totals = useGarden((s) => s.storage);
  const { storage, archived, archivedModels, busy, message, rehash, rehashProgress: rp, exportProgress: xp } = useGardenView();
  const models = useMemo(() => allModels(pool, archivedModels), [pool, archivedModels]);
  const [confirming, setConfirming] = useState<string | null>(null);
  useEffect(() => {
    void refreshArchive();
    void refreshModelStorage().catch((e: Error) => useGardenView.setState({ message: `Could not count storage: ${e.message}` }));
  }, [pool]);
  // The ledger's entries change with its length (the registry with them).
  const facts = useMemo(() => gardenFacts(ledgerEntries(), archived), [ledgerLength, registry, archived]);
  const starters = useMemo(() => starterIds(), []);
  return (
    <section className="step" aria-labelledby="storage-h" data-testid="storage-panel">
      <h2 id="storage-h">
        <span className="num">G</span> The garden: storage per model
      </h2>
      <p className="hint">
        Tensors are stored once per content hash, so models bred from the same parents share them. Deleting a model frees only the tensors
        no other model lists; archiving takes it out of the pool (no longer a parent, never routed) and keeps every byte, until you restore
        it.
        {totals && ` In all: ${bytes(totals.storedBytes)} of tensors stored, ${bytes(totals.savedBytes)} saved by sharing.`}
      </p>
      <div className="table-scroll">
        <table className="registry storage-table" data-testid="storage-table">
          <thead>
            <tr>
              <th scope="col">model</th>
              <th scope="col">tensors</th>
              <th scope="col">shared with other models</th>
              <th scope="col">freed by a delete</th>
              <th scope="col">actions</th>
            </tr>
          </thead>
          <tbody>
            {models.map((m) => {
              const row = storage?.get(m.id);
              const refusal = deleteRefusal(m, facts, starters);
              const noArchive = archiveRefusal(m, facts);
              const isArchived = !!archived[m.id];
              return (
                <tr key={m.id} data-testid={`storage-${m.id}`} data-bytes={row?.bytes} data-shared={row?.shared} data-own={row?.own}>
                  <th scope="row">
                    {m.name}
                    {isArchived && <span className="badge">archived</span>}
                  </th>
                  <td className="nowrap">{row ? `${bytes(row.bytes)} · ${row.tensors} tensors` : '…'}</td>
                  <td data-testid={`storage-shared-${m.id}`}>
                    {row
                      ? row.sharedTensors
                        ? `${bytes(row.shared)} in ${row.sharedTensors}, with ${models
                            .filter((x) => row.sharedWith.includes(x.id))
                            .map((x) => x.name)
                            .join(', ')}`
                        : 'none'
                      : '…'}
                  </td>
                  <td>{row ? bytes(row.own) : '…'}</td>
                  <td>
                    <div className="row tight">
                      <button
                        onClick={() => void exportModel(m)}
                        disabled={!!busy}
                        data-testid={`export-${m.id}`}
                        aria-label={`Export .slm of ${m.name}`}
                      >
                        Export .slm
                      </button>
                      <button
                        onClick={() =>
                          void (isArchived ? unarchiveModel(m) : archiveModel(m, 'archived by the user from the storage panel'))
                        }
                        disabled={(!isArchived && !!noArchive) || !!busy}
                        aria-describedby={!isArchived && noArchive ? `delete-why-${m.id}` : undefined}
                        data-testid={`archive-${m.id}`}
                        aria-label={`${isArchived ? 'Restore' : 'Archive'} ${m.name}`}
                      >
                        {isArchived ? 'Restore' : 'Archive'}
                      </button>
                      {confirming === m.id ? (
                        <>
                          <button
                            className="danger"
                            onClick={() => {
                              setConfirming(null);
                              void deleteModel(m);
                            }}
                            disabled={!!busy}
                            data-testid={`confirm-delete-${m.id}`}
                          >
                            Delete {m.name}: frees {row ? bytes(row.own) : '…'}
                          </button>
                          <button onClick={() => setConfirming(null)} aria-label={`Keep ${m.name}`}>
                            Keep
                          </button>
                        </>
                      ) : (
                        <button
                          onClick={() => setConfirming(m.id)}
                          disabled={!!refusal || !!busy}
                          aria-describedby={refusal ? `delete-why-${m.id}` : undefined}
                          data-testid={`delete-${m.id}`}
                          aria-label={`Delete ${m.name}`}
                        >
                          Delete
                        </button>
                      )}
                    </div>
                    {refusal && (
                      <p className="hint why" id={`delete-why-${m.id}`} data-testid={`delete-why-${m.id}`}>
                        {noArchive ? 'Cannot archive or delete' : 'Cannot delete'}: {refusal}
                      </p>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <div className="row">
        <button onClick={() => void rehashAll()} disabled={!!busy} data-testid="rehash-all">
          Re-hash every model
        </button>
        {busy && !rp && !xp && <span className="hint">Working ({busy})…</span>}
        {rp && <WorkProgress testId="rehash" label="Re-hash progress" p={rp} verb="re-hashed" onCancel={cancelRehash} />}
        {xp && <WorkProgress testId="export" label="Export progress" p={xp} verb="read from the store" onCancel={cancelExport} />}
      </div>
      {message && (
        <p role="status" data-testid="storage-message">
          {message}
        </p>
      )}
      {rehash && (
        <div data-testid="rehash-result">
          <p>
            {rehash.results.filter((r) => !r.error).length} of {rehash.results.length} models rebuilt from their stored tensors match their
            hash.{rehash.cancelled && ` Cancelled: ${rehash.cancelled - rehash.results.length} of ${rehash.cancelled} models not checked.`}
          </p>
          <ul className="checks">
            {rehash.results.map((r) => (
              <li key={r.id} className={r.error ? 'fail' : 'ok'} data-testid={`rehash-${r.id}`}>
                {r.error ? '✗' : '✓'} {r.name}: {r.error ?? 'identical hash'}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

/** A long storage task's bar: bytes done of all, with ETA, and its Cancel (also the bundle export's, SharePanel). */
export function WorkProgress(props: {
  testId: string;
  label: string;
  p: { done: number; total: number; model: string; startedAt: number };
  verb: string;
  onCancel: () => void;
}) {
  const { p } = props;
  return (
    <div className="progress" data-testid={`${props.testId}-progress`} data-done={p.done} data-total={p.total}>
      <progress max={p.total || 1} value={p.done} aria-label={props.label} />{' '}
      <span data-testid={`${props.testId}-progress-text`}>
        {bytes(p.done)} of {bytes(p.total)} {props.verb} ({p.model}){etaText(p.startedAt, p.done, p.total)}
      </span>{' '}
      <button onClick={props.onCancel} data-testid={`${props.testId}-cancel`}>
        Cancel
      </button>
    </div>
  );
}
