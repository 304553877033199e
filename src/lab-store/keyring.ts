/**
 * The app's ledger keyring: the policy, release and evaluation zones' ECDSA P-256 keys, in an
 * IndexedDB database of their own (`<garden>-keys`), apart from the ledger they sign. Made on the
 * first open of a garden; the first policy change of its ledger pins their public keys.
 *
 * The private keys are non-extractable CryptoKeys, stored as such (IndexedDB clones CryptoKeys):
 * no script in the page, the garden's own included, can read their bytes. A garden made when the
 * keyring held JWKs is sealed on its next open: the same keys, imported non-extractable, replace
 * the JWKs in the one record.
 */
import { openDB } from 'idb';
import { checkKeyring, checkSealedKeyring, generateSealedKeyring, sealKeyring, type SealedKeyring } from '../core/lab/signing.ts';

export async function openKeyring(name: string): Promise<SealedKeyring> {
  const db = await openDB(name, 1, {
    upgrade(d) {
      d.createObjectStore('keyring');
    },
    blocking: (_cur, _next, e) => (e.target as IDBDatabase).close(),
  });
  try {
    const stored: unknown = await db.get('keyring', 'zones');
    if (stored !== undefined) {
      if ((stored as { format?: string }).format === 'slm-garden-sealed-keyring') return checkSealedKeyring(stored);
      const sealed = await sealKeyring(checkKeyring(stored));
      await db.put('keyring', sealed, 'zones');
      return sealed;
    }
    const ring = await generateSealedKeyring();
    // add, never put: two tabs making a keyring at once keep the first one's.
    try {
      await db.add('keyring', ring, 'zones');
      return ring;
    } catch {
      return checkSealedKeyring(await db.get('keyring', 'zones'));
    }
  } finally {
    db.close();
  }
}
