import { describe, expect, it } from 'vitest';
import {
  Ledger,
  MemoryLedgerStore,
  openLedgerFile,
  serializeLedger,
  storageDraft,
  verifyAuthority,
  verifyLedger,
  type LedgerRecord,
  type StorageDecision,
} from './ledger.ts';
import { createSigner, generateKeyring, zoneOf } from './signing.ts';
import { manifestHash } from '../manifest/index.ts';
import { fakeClock } from './test-helpers.ts';

const H = (c: string) => c.repeat(64);
const archive: StorageDecision = {
  action: 'archive',
  model: 'candidate-ab12cd34',
  modelHash: H('a'),
  name: 'Candidate 3',
  reason: 'no-op',
};
const clone = (records: readonly LedgerRecord[]) => JSON.parse(JSON.stringify(records)) as LedgerRecord[];

async function signedLedger() {
  const signer = await createSigner(await generateKeyring());
  const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock(), signer });
  await ledger.append('policy-change', { reason: 'initial policy' });
  await ledger.appendAll([storageDraft(archive)]);
  await ledger.appendAll([storageDraft({ ...archive, action: 'restore', reason: 'restored by the user' })]);
  await ledger.appendAll([storageDraft({ ...archive, action: 'delete', reason: 'deleted by the user' })]);
  return { ledger, signer };
}

describe('ledger: storage decisions', () => {
  it('are written by the release zone, chained and signed like every entry; the file round-trips', async () => {
    expect(zoneOf('storage')).toBe('release');
    const { ledger, signer } = await signedLedger();
    const recs = ledger.records();
    expect(recs.map((r) => [r.entry.type, r.entry.payload.action ?? null, r.sig?.zone])).toEqual([
      ['policy-change', null, 'policy'],
      ['storage', 'archive', 'release'],
      ['storage', 'restore', 'release'],
      ['storage', 'delete', 'release'],
    ]);
    expect(recs[1].entry.payload).toEqual({
      action: 'archive',
      model: archive.model,
      modelHash: archive.modelHash,
      name: 'Candidate 3',
      reason: 'no-op',
    });
    expect(recs[2].entry.prev).toBe(recs[1].hash);
    expect(ledger.verify()).toMatchObject({ ok: true, length: 4 });
    expect(await verifyAuthority(recs, { trusted: signer.root })).toMatchObject({ ok: true, signed: true });
    const reopened = await openLedgerFile(serializeLedger(ledger), { signer });
    expect(reopened.head).toEqual(ledger.head);
  });

  it('refuses a malformed storage decision in one line and appends nothing', async () => {
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    await ledger.appendAll([storageDraft(archive)]);
    for (const bad of [
      { ...archive, action: 'purge' },
      { ...archive, modelHash: 'not-a-hash' },
      { ...archive, reason: '' },
    ] as StorageDecision[]) {
      await expect(ledger.appendAll([storageDraft(bad)])).rejects.toThrow(/payload/);
    }
    await expect(ledger.append('storage', { ...archive, extra: 1 })).rejects.toThrow(/payload/);
    expect(ledger.length).toBe(1);
    expect(ledger.verify().ok).toBe(true);
  });

  it('a tampered storage entry fails verification, naming its index', async () => {
    const { ledger, signer } = await signedLedger();
    // Edited in place: the recorded hash no longer matches.
    const edited = clone(ledger.records());
    edited[1].entry.payload.action = 'restore';
    expect(verifyLedger(edited, ledger.head).problems[0]).toMatchObject({ index: 1, check: 'hash' });
    // Edited and re-hashed: the next entry's link breaks.
    const rehashed = clone(ledger.records());
    rehashed[1].entry.payload.reason = 'it was never archived';
    rehashed[1].hash = manifestHash(rehashed[1].entry);
    expect(verifyLedger(rehashed, ledger.head).problems.map((p) => [p.index, p.check])).toContainEqual([1, 'link']);
    // Re-hashed as the last entry (head rewritten too): the release zone's signature no longer verifies.
    const last = clone(ledger.records());
    last[3].entry.payload.modelHash = H('b');
    last[3].hash = manifestHash(last[3].entry);
    expect(verifyLedger(last, { length: 4, hash: last[3].hash }).ok).toBe(true);
    const auth = await verifyAuthority(last, { trusted: signer.root });
    expect(auth.ok).toBe(false);
    expect(auth.problems[0]).toMatchObject({ index: 3, check: 'signature' });
    // A payload outside the schema (an unknown action) is malformed.
    const unknown = clone(ledger.records());
    unknown[2].entry.payload.action = 'purge';
    unknown[2].hash = manifestHash(unknown[2].entry);
    expect(verifyLedger(unknown).problems[0]).toMatchObject({ index: 2, check: 'schema' });
    // Signed by another zone than the release zone: refused.
    const wrongZone = clone(ledger.records());
    wrongZone[1].sig = { ...wrongZone[0].sig!, zone: 'policy' };
    expect((await verifyAuthority(wrongZone, { trusted: signer.root })).problems[0]).toMatchObject({ index: 1, check: 'signature' });
  });

  it('a ledger written before storage entries existed still verifies and takes one', async () => {
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    for (const type of ['policy-change', 'admission', 'release', 'rollback'] as const) await ledger.append(type, { reason: type });
    const old = await openLedgerFile(serializeLedger(ledger));
    expect(old.verify().ok).toBe(true);
    await old.appendAll([storageDraft(archive)]);
    expect(old.verify()).toMatchObject({ ok: true, length: 5 });
  });
});
