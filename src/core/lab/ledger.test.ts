import { describe, expect, it } from 'vitest';
import {
  GENESIS,
  Ledger,
  LedgerError,
  MemoryLedgerStore,
  openLedgerFile,
  parseLedgerFile,
  serializeLedger,
  verifyLedger,
  type LedgerRecord,
} from './ledger.ts';
import { LEDGER_ENTRY_TYPES } from '../manifest/kinds.ts';
import { fakeClock, rng } from './test-helpers.ts';

const FREE_TYPES = LEDGER_ENTRY_TYPES.filter((t) => t !== 'storage');

async function ledgerWith(n: number, seed = 1): Promise<Ledger> {
  const r = rng(seed);
  const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
  for (let i = 0; i < n; i++) {
    // Free-form payloads: every type but storage, whose payload has a schema (ledger-storage.test.ts).
    const type = FREE_TYPES[Math.floor(r() * FREE_TYPES.length)];
    await ledger.append(type, { note: `entry ${i}`, value: Math.floor(r() * 1000) });
  }
  return ledger;
}

const clone = (records: readonly LedgerRecord[]) => JSON.parse(JSON.stringify(records)) as LedgerRecord[];

describe('ledger', () => {
  it('chains entries: index, prev = hash of the previous entry, genesis first', async () => {
    const ledger = await ledgerWith(6);
    const recs = ledger.records();
    expect(recs[0].entry.prev).toBe(GENESIS);
    for (let i = 1; i < recs.length; i++) {
      expect(recs[i].entry.index).toBe(i);
      expect(recs[i].entry.prev).toBe(recs[i - 1].hash);
    }
    expect(ledger.verify()).toMatchObject({ ok: true, length: 6, head: recs[5].hash, problems: [] });
  });

  it('concurrent appends chain in call order', async () => {
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    await Promise.all([0, 1, 2, 3, 4].map((i) => ledger.append('release', { i })));
    expect(ledger.entries().map((e) => e.payload.i)).toEqual([0, 1, 2, 3, 4]);
    expect(ledger.verify().ok).toBe(true);
  });

  it('entries are frozen: a reader cannot edit history', async () => {
    const ledger = await ledgerWith(2);
    const e = ledger.entries()[0];
    expect(() => {
      (e.payload as Record<string, unknown>).note = 'rewritten';
    }).toThrow(TypeError);
    expect(ledger.verify().ok).toBe(true);
  });

  it('detects an edit of any past entry and names its index', async () => {
    const ledger = await ledgerWith(8, 2);
    for (let i = 0; i < 8; i++) {
      const recs = clone(ledger.records());
      (recs[i].entry.payload as Record<string, unknown>).value = -1;
      const v = verifyLedger(recs, ledger.head);
      expect(v.ok).toBe(false);
      expect(v.problems[0]).toMatchObject({ index: i, check: 'hash' });
      expect(v.problems[0].message).toMatch(new RegExp(`^entry ${i} was edited`));
    }
  });

  it('detects an edit whose recorded hash was recomputed too (the next link or the head breaks)', async () => {
    const ledger = await ledgerWith(8, 3);
    const { manifestHash } = await import('../manifest/index.ts');
    for (let i = 0; i < 8; i++) {
      const recs = clone(ledger.records());
      recs[i].entry.at = '2030-01-01T00:00:00.000Z';
      recs[i].hash = manifestHash(recs[i].entry);
      const v = verifyLedger(recs, ledger.head);
      expect(v.ok).toBe(false);
      expect(v.problems.map((p) => p.index)).toContain(i);
      expect(v.problems[0].message).toMatch(new RegExp(`entry ${i} was edited`));
    }
  });

  it('detects a deleted entry at any position and names where', async () => {
    const ledger = await ledgerWith(8, 4);
    for (let i = 0; i < 8; i++) {
      const recs = clone(ledger.records());
      recs.splice(i, 1);
      const v = verifyLedger(recs, ledger.head);
      expect(v.ok).toBe(false);
      expect(v.problems[0].index).toBe(i);
      expect(v.problems[0].message).toMatch(i === 7 ? /entries from index 7 were removed/ : /removed/);
    }
  });

  it('detects any reordering of two entries', async () => {
    const ledger = await ledgerWith(6, 5);
    for (let i = 0; i < 6; i++) {
      for (let j = i + 1; j < 6; j++) {
        const recs = clone(ledger.records());
        [recs[i], recs[j]] = [recs[j], recs[i]];
        const v = verifyLedger(recs, ledger.head);
        expect(v.ok).toBe(false);
        expect(v.problems[0]).toMatchObject({ index: i, check: 'index' });
      }
    }
  });

  it('persists across a reload (file round-trip) and keeps appending on the same chain', async () => {
    const ledger = await ledgerWith(5, 6);
    const text = serializeLedger(ledger);
    const reloaded = await openLedgerFile(text, { now: fakeClock(Date.UTC(2026, 0, 1)) });
    expect(reloaded.head).toEqual(ledger.head);
    expect(reloaded.entries()).toEqual(ledger.entries());
    await reloaded.append('rollback', { why: 'after reload' });
    expect(reloaded.verify()).toMatchObject({ ok: true, length: 6 });
    expect(reloaded.entries()[5].prev).toBe(ledger.head.hash);
  });

  it('refuses to open a tampered file, naming the index', async () => {
    const ledger = await ledgerWith(4, 7);
    const file = parseLedgerFile(serializeLedger(ledger));
    (file.records[2].entry.payload as Record<string, unknown>).value = 12345;
    await expect(openLedgerFile(JSON.stringify(file))).rejects.toThrow(/ledger refused: entry 2 was edited/);
    const truncated = parseLedgerFile(serializeLedger(ledger));
    truncated.records.pop();
    await expect(openLedgerFile(JSON.stringify(truncated))).rejects.toThrow(/entries from index 3 were removed/);
  });

  it('refuses malformed files with one-line messages', async () => {
    expect(() => parseLedgerFile('{"format":"x"}')).toThrow(/format is "x", expected "slm-garden-ledger"/);
    expect(() => parseLedgerFile('{"format":"slm-garden-ledger","version":1,"head":{"length":0,"hash":""},"records":[],"x":1}')).toThrow(
      /unknown key "x"/,
    );
    expect(() => parseLedgerFile('{"format":"slm-garden-ledger","format":"slm-garden-ledger"}')).toThrow(/duplicate key "format"/);
    const ledger = await ledgerWith(1);
    expect(() => ledger.append('delete' as never, {})).toThrow(LedgerError);
  });

  it('a store refuses an out-of-order append', async () => {
    const store = new MemoryLedgerStore();
    const ledger = await Ledger.open(store, { now: fakeClock() });
    await ledger.append('admission', {});
    await expect(store.append(ledger.records()[0])).rejects.toThrow(/cannot be appended at position 1/);
  });
});
