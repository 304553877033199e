/** The starter catalog on disk, for the CLI: read and check it, and load a family's pinned graph. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../core/hash.ts';
import { checkCatalog, type Catalog, type CatalogFamily } from '../core/models/catalog.ts';

/** public/starter/catalog.json of this checkout (built by `npm run starter`). */
export const DEFAULT_CATALOG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public', 'starter', 'catalog.json');

const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

export function loadCatalog(path: string): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read catalog ${path}: ${why(e)} (run "npm run starter" to build it)`);
  }
  return checkCatalog(raw);
}

export function findFamily(catalog: Catalog, id: string): CatalogFamily {
  const family = catalog.families.find((f) => f.id === id);
  if (!family) throw new Error(`unknown family "${id}"; valid: ${catalog.families.map((f) => f.id).join(', ')}`);
  return family;
}

/** A family's weight-free graph (checked against the catalog's pin) and its catalog entry. */
export function loadFamily(catalogPath: string, id: string, catalog = loadCatalog(catalogPath)): { family: CatalogFamily; graph: Uint8Array } {
  const family = findFamily(catalog, id);
  const path = join(dirname(catalogPath), family.graph);
  let graph: Uint8Array;
  try {
    const b = readFileSync(path);
    graph = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new Error(`cannot read the ${id} graph ${path}: ${why(e)}`);
  }
  const actual = sha256Hex(graph);
  if (actual !== family.graphHash) throw new Error(`the ${id} graph ${path} hashes to ${actual} but the catalog pins ${family.graphHash}`);
  return { family, graph };
}
