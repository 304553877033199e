/**
 * The app's ledger keyring: the policy, release and evaluation zones' ECDSA P-256 keys, in an
 * IndexedDB database of their own (`<garden>-keys`), apart from the ledger they sign. Made on the
 * first open of a garden; the first policy change of its ledger pins their public keys.
 */
import { openDB } from 'idb';
import { checkKeyring, generateKeyring, type Keyring } from '../core/lab/signing.ts';

export async function openKeyring(name: string): Promise<Keyring> {
  const db = await openDB(name, 1, {
    upgrade(d) {
      d.createObjectStore('keyring');
    },
    blocking: (_cur, _next, e) => (e.target as IDBDatabase).close(),
  });
  try {
    const stored = await db.get('keyring', 'zones');
    if (stored !== undefined) return checkKeyring(stored);
    const ring = await generateKeyring();
    // add, never put: two tabs making a keyring at once keep the first one's.
    try {
      await db.add('keyring', ring, 'zones');
      return ring;
    } catch {
      return checkKeyring(await db.get('keyring', 'zones'));
    }
  } finally {
    db.close();
  }
}
