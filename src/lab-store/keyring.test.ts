import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { openDB } from 'idb';
import { IdbLedgerStore } from './idb-ledger.ts';
import { openKeyring } from './keyring.ts';
import { Ledger, verifyAuthority } from '../core/lab/ledger.ts';
import { PolicyZone } from '../core/lab/policy.ts';
import { ReleaseController } from '../core/lab/release.ts';
import { createSigner, generateKeyring, keyId } from '../core/lab/signing.ts';
import { manifestHash } from '../core/manifest/index.ts';
import { CONTRACT, fakeClock, testPolicy } from '../core/lab/test-helpers.ts';

let n = 0;
const fresh = () => `keyring-test-${n++}`;

describe('the app ledger signed with the garden keyring (IndexedDB)', () => {
  it('keeps one keyring across opens, signs every entry, and refuses a forged entry on the next open', async () => {
    const keys = fresh();
    const audit = fresh();
    const ring = await openKeyring(keys);
    expect((await openKeyring(keys)).public).toEqual(ring.public);
    const store = await IdbLedgerStore.open(audit);
    const ledger = await Ledger.open(store, { now: fakeClock(), signer: await createSigner(ring) });
    await PolicyZone.open(ledger, testPolicy());
    const release = ReleaseController.open(ledger);
    await release.createSlot('digits', CONTRACT, 'A', ['B']);
    const records = ledger.records();
    expect(records.every((r) => r.sig !== undefined)).toBe(true);
    expect(records[0].entry.payload.keys).toEqual(ring.public);
    expect((await verifyAuthority(records, { trusted: ring.public })).ok).toBe(true);
    store.close();

    // A forged, correctly chained release entry written straight into the database.
    const db = await openDB(audit, 1);
    const last = records[records.length - 1];
    const entry = { ...last.entry, index: records.length, prev: last.hash, payload: { ...last.entry.payload, action: 'champion' } };
    const hash = manifestHash(entry);
    await db.add('entries', { hash, entry }, records.length);
    await db.put('head', { length: records.length + 1, hash }, 'head');
    db.close();
    const reopened = await IdbLedgerStore.open(audit);
    await expect(Ledger.open(reopened, { signer: await createSigner(await openKeyring(keys)) })).rejects.toThrow(
      `ledger refused: entry ${records.length} [signature]: entry ${records.length} (release) is not signed`,
    );
    reopened.close();
  });

  it('a garden begun unsigned keeps working: its ledger stays unsigned', async () => {
    const audit = fresh();
    const store = await IdbLedgerStore.open(audit);
    const old = await Ledger.open(store, { now: fakeClock() });
    await PolicyZone.open(old, testPolicy());
    store.close();
    const ring = await openKeyring(fresh());
    const again = await IdbLedgerStore.open(audit);
    const ledger = await Ledger.open(again, { now: fakeClock(), signer: await createSigner(ring) });
    await ReleaseController.open(ledger).createSlot('digits', CONTRACT, 'A', ['B']);
    expect(ledger.records().map((r) => r.sig)).toEqual([undefined, undefined]);
    expect(ledger.verify().ok).toBe(true);
    expect(keyId(ring.public.policy)).toMatch(/^[0-9a-f]{16}$/);
    again.close();
  });
});

describe('the keyring keeps its private keys non-extractable', () => {
  const exportable = (key: unknown) =>
    crypto.subtle.exportKey('jwk', key as CryptoKey).then(
      () => true,
      () => false,
    );

  it('a new keyring stores CryptoKeys that cannot be exported, and signs with them', async () => {
    const name = fresh();
    const ring = await openKeyring(name);
    const db = await openDB(name, 1);
    const stored = (await db.get('keyring', 'zones')) as { private: Record<string, unknown> };
    db.close();
    for (const z of ['policy', 'release', 'evaluation']) {
      expect(await exportable(stored.private[z])).toBe(false);
      expect(await exportable(ring.private[z as 'policy'])).toBe(false);
    }
    expect(JSON.stringify(stored)).not.toContain('"d"');
    const sig = await (await createSigner(ring)).sign('policy', new Uint8Array([1, 2, 3]));
    expect(sig.key).toBe(keyId(ring.public.policy));
  });

  it('a keyring stored as JWKs (an older garden) is sealed on open: same public keys, no JWK left', async () => {
    const name = fresh();
    const old = await generateKeyring();
    const db = await openDB(name, 1, { upgrade: (d) => void d.createObjectStore('keyring') });
    await db.put('keyring', old, 'zones');
    db.close();
    const ring = await openKeyring(name);
    expect(ring.format).toBe('slm-garden-sealed-keyring');
    expect(ring.public).toEqual(old.public);
    expect(await exportable(ring.private.release)).toBe(false);
    const again = await openDB(name, 1);
    expect(JSON.stringify(await again.get('keyring', 'zones'))).not.toContain(old.private.policy.d as string);
    again.close();
  });
});
