/**
 * The starter slots' contracts (src/core/lab/contracts/SLOT.contract), read from disk for the CLI
 * and the tests. The core parses them (src/core/lab/contract.ts); this file only finds and reads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { contractVerb, parseContract, type Contract, type ContractVerb } from '../core/lab/contract.ts';

export const STARTER_CONTRACTS_DIR = fileURLToPath(new URL('../core/lab/contracts/', import.meta.url));

/** The contract file's path for a slot, or null when the starter ships none. */
export function starterContractPath(slot: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(slot)) return null;
  const p = `${STARTER_CONTRACTS_DIR}${slot}.contract`;
  return existsSync(p) ? p : null;
}

/** Read and parse a slot's starter contract; null when there is none. */
export function loadStarterContract(slot: string): { contract: Contract; verb: ContractVerb; path: string } | null {
  const path = starterContractPath(slot);
  if (!path) return null;
  const contract = parseContract(readFileSync(path, 'utf8'), `${slot}.contract`);
  return { contract, verb: contractVerb(contract), path };
}
