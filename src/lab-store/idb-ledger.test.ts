import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { openDB } from 'idb';
import { IdbLedgerStore } from './idb-ledger.ts';
import { Ledger } from '../core/lab/ledger.ts';
import { PolicyZone } from '../core/lab/policy.ts';
import { ReleaseController } from '../core/lab/release.ts';
import { canonicalJson } from '../core/hash.ts';
import { CONTRACT, fakeClock, testPolicy } from '../core/lab/test-helpers.ts';

let n = 0;
const fresh = () => `audit-test-${n++}`;

describe('IndexedDB ledger store (audit zone)', () => {
  it('the ledger, policy and registry survive a reload', async () => {
    const name = fresh();
    const store = await IdbLedgerStore.open(name);
    const ledger = await Ledger.open(store, { now: fakeClock() });
    const zone = await PolicyZone.open(ledger, testPolicy());
    const release = ReleaseController.open(ledger);
    await release.createSlot('digits', CONTRACT, 'A', ['B']);
    await release.toShadow('digits', 'C', 'round 1');
    const head = ledger.head;
    store.close();

    const store2 = await IdbLedgerStore.open(name);
    const again = await Ledger.open(store2, { now: fakeClock(Date.UTC(2026, 0, 1)) });
    expect(again.head).toEqual(head);
    expect(again.verify().ok).toBe(true);
    expect((await PolicyZone.open(again)).hash).toBe(zone.hash);
    expect(canonicalJson(ReleaseController.open(again).current('digits'))).toBe(canonicalJson(release.current('digits')));
    await again.append('rollback', { slot: 'digits', note: 'after reload' });
    expect(again.entries()[3].prev).toBe(head.hash);
    store2.close();
  });

  it('an entry cannot be overwritten through the store', async () => {
    const store = await IdbLedgerStore.open(fresh());
    const ledger = await Ledger.open(store, { now: fakeClock() });
    await ledger.append('admission', { a: 1 });
    await expect(store.append(ledger.records()[0])).rejects.toThrow(/cannot be appended at position 1/);
    store.close();
  });

  it('tampering with the database is caught on the next open, naming the index', async () => {
    const name = fresh();
    const store = await IdbLedgerStore.open(name);
    const ledger = await Ledger.open(store, { now: fakeClock() });
    for (let i = 0; i < 4; i++) await ledger.append('release', { i });
    store.close();
    // Someone edits entry 1 behind the app's back.
    const db = await openDB(name, 1);
    const original = await db.get('entries', 1);
    const rec = structuredClone(original);
    rec.entry.payload.i = 99;
    await db.put('entries', rec, 1);
    db.close();
    const s2 = await IdbLedgerStore.open(name);
    await expect(Ledger.open(s2)).rejects.toThrow(/ledger refused: entry 1 was edited/);
    s2.close();
    // Or deletes the last entry.
    const db2 = await openDB(name, 1);
    await db2.put('entries', original, 1);
    await db2.delete('entries', 3);
    db2.close();
    const s3 = await IdbLedgerStore.open(name);
    await expect(Ledger.open(s3)).rejects.toThrow(/entries from index 3 were removed/);
    s3.close();
  });
});
