/**
 * A ledger file's companions on disk, kept apart from it: its keyring (`FILE.keys.json`, the
 * zones' private keys, mode 0600: whoever holds it may write the ledger) and its anchor
 * (`FILE.anchor.json`, the signed count and head hash). `garden lab --ledger FILE` creates both for
 * a new ledger and rewrites the anchor after every write; `garden ledger verify FILE` reads both.
 */
import { chmodSync, existsSync } from 'node:fs';
import { LIMITS, readTextSync, writeFileAtomicSync } from './confine.ts';
import { parseStrictJson } from '../core/manifest/strict-json.ts';
import { checkKeyring, rootKeys, type Keyring } from '../core/lab/signing.ts';
import { pinnedKeys, serializeLedger, verifyAuthority, type AuthorityVerdict, type Ledger, type LedgerRecord } from '../core/lab/ledger.ts';

export const keyringPath = (ledgerPath: string) => `${ledgerPath}.keys.json`;
export const anchorPath = (ledgerPath: string) => `${ledgerPath}.anchor.json`;

export function loadKeyring(ledgerPath: string, path = keyringPath(ledgerPath)): Keyring | null {
  if (!existsSync(path)) return null;
  return checkKeyring(parseStrictJson(readTextSync(path, 'keyring', LIMITS.json), 'keyring'));
}

/**
 * A new ledger's keyring, written just before the ledger so that no signed entry is ever orphaned,
 * and not before: a refused round leaves no keyring behind.
 */
export function saveKeyring(ledgerPath: string, ring: Keyring): void {
  const path = keyringPath(ledgerPath);
  writeFileAtomicSync(path, JSON.stringify(ring, null, 2) + '\n');
  chmodSync(path, 0o600);
}

export function readAnchor(ledgerPath: string): unknown {
  const path = anchorPath(ledgerPath);
  if (!existsSync(path)) return null;
  return parseStrictJson(readTextSync(path, 'anchor', LIMITS.json), 'anchor');
}

/** Who wrote the ledger, checked against the keyring and the anchor beside it. */
export async function ledgerAuthority(
  ledgerPath: string,
  records: readonly LedgerRecord[],
  ring = loadKeyring(ledgerPath),
): Promise<AuthorityVerdict> {
  return verifyAuthority(records, { trusted: ring ? rootKeys(ring) : null, anchor: readAnchor(ledgerPath), requireSigned: ring !== null });
}

/** The ledger whole through a temp file and a rename, then its anchor (when it is signed). */
export async function writeLedgerFiles(ledgerPath: string, ledger: Ledger, signer: boolean): Promise<void> {
  writeFileAtomicSync(ledgerPath, serializeLedger(ledger));
  if (signer && pinnedKeys(ledger.records()) !== null)
    writeFileAtomicSync(anchorPath(ledgerPath), JSON.stringify(await ledger.anchor(), null, 2) + '\n');
}
