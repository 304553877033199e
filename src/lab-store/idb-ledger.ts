/**
 * The audit zone's browser store: the promotion ledger in its own IndexedDB database. Entries are
 * written with `add` keyed by index (never `put`), so an existing entry cannot be overwritten
 * through this store; the head (length and hash) is written in the same transaction, so a
 * truncated tail is caught on the next open. Policy and registry are replayed from the ledger
 * (src/core/lab/policy.ts, release.ts), so they need no store of their own that could drift.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { LedgerError, type LedgerHead, type LedgerRecord, type LedgerStore } from '../core/lab/ledger.ts';

export const AUDIT_DB = 'slm-garden-audit';
const VERSION = 1;

interface AuditSchema extends DBSchema {
  entries: { key: number; value: LedgerRecord };
  head: { key: 'head'; value: LedgerHead };
}

function message(e: unknown): string {
  const name = (e as { name?: string })?.name;
  if (name === 'QuotaExceededError')
    return 'the browser refused to store the ledger entry: storage quota exceeded (free space or grant persistent storage)';
  if (name === 'ConstraintError') return 'a ledger entry with this index already exists; the ledger is append-only';
  return (e as Error)?.message ?? String(e);
}

export class IdbLedgerStore implements LedgerStore {
  readonly #db: IDBPDatabase<AuditSchema>;

  private constructor(db: IDBPDatabase<AuditSchema>) {
    this.#db = db;
  }

  static async open(name: string = AUDIT_DB): Promise<IdbLedgerStore> {
    const db = await openDB<AuditSchema>(name, VERSION, {
      upgrade(db) {
        db.createObjectStore('entries');
        db.createObjectStore('head');
      },
      // Another connection wants to delete or upgrade the database (a reset): let it.
      blocking: (_cur, _next, e) => (e.target as IDBDatabase).close(),
    });
    return new IdbLedgerStore(db);
  }

  async load(): Promise<LedgerRecord[]> {
    return this.#db.getAll('entries');
  }

  async head(): Promise<LedgerHead | null> {
    return (await this.#db.get('head', 'head')) ?? null;
  }

  append(record: LedgerRecord): Promise<void> {
    return this.appendAll([record]);
  }

  /** Several records and the head in one transaction: all stored, or none. */
  async appendAll(records: readonly LedgerRecord[]): Promise<void> {
    if (!records.length) return;
    const tx = this.#db.transaction(['entries', 'head'], 'readwrite');
    const done = tx.done.catch((e: unknown) => e);
    try {
      const count = await tx.objectStore('entries').count();
      for (const [i, record] of records.entries()) {
        if (record.entry.index !== count + i)
          throw new LedgerError(`ledger store: entry ${record.entry.index} cannot be appended at position ${count + i}`);
        await tx.objectStore('entries').add(JSON.parse(JSON.stringify(record)) as LedgerRecord, record.entry.index);
      }
      await tx.objectStore('head').put({ length: count + records.length, hash: records[records.length - 1].hash }, 'head');
      await tx.done;
    } catch (e) {
      try {
        tx.abort();
      } catch {
        /* already finished */
      }
      await done;
      if (e instanceof LedgerError) throw e;
      throw new LedgerError(message(e));
    }
  }

  close(): void {
    this.#db.close();
  }
}
