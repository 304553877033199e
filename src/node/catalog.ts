/** The starter catalog on disk, for the CLI: read and check it, and load a family's pinned graph. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../core/hash.ts';
import { checkCatalog, type Catalog, type CatalogFamily } from '../core/models/catalog.ts';
import { checkClaimedSpecies, type SlmFile } from '../core/format/slm.ts';
import { FormatError } from '../core/format/errors.ts';
import { familySpeciesOf, isQuantizedModel } from '../core/models/quantized-graph.ts';
import { ConfineError, LIMITS, confinedPath, readRegularSync, readTextSync } from './confine.ts';

/** public/starter/catalog.json of this checkout (built by `npm run starter`). */
export const DEFAULT_CATALOG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public', 'starter', 'catalog.json');

const why = (e: unknown) => (e instanceof ConfineError ? e.message : ((e as NodeJS.ErrnoException).code ?? (e as Error).message));

/** A file the catalog names (a graph, model or suite): inside the catalog's folder, a regular file, bounded. */
export function catalogFile(catalogPath: string, rel: string, what: string, max: number): Uint8Array {
  const dir = dirname(catalogPath);
  return readRegularSync(confinedPath(dir, dir, rel, `catalog entry (${what})`), what, max);
}

export function loadCatalog(path: string): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readTextSync(path, 'catalog', LIMITS.json));
  } catch (e) {
    if (e instanceof ConfineError) throw /^cannot read/.test(e.message) ? new Error(`${e.message} (run "npm run starter" to build it)`) : e;
    throw new Error(`cannot read catalog ${path}: ${why(e)}`);
  }
  return checkCatalog(raw);
}

export function findFamily(catalog: Catalog, id: string): CatalogFamily {
  const family = catalog.families.find((f) => f.id === id);
  if (!family) throw new Error(`unknown family "${id}"; valid: ${catalog.families.map((f) => f.id).join(', ')}`);
  return family;
}

/** A family's weight-free graph (checked against the catalog's pin) and its catalog entry. */
export function loadFamily(
  catalogPath: string,
  id: string,
  catalog = loadCatalog(catalogPath),
): { family: CatalogFamily; graph: Uint8Array } {
  const family = findFamily(catalog, id);
  const path = join(dirname(catalogPath), family.graph);
  let graph: Uint8Array;
  try {
    graph = catalogFile(catalogPath, family.graph, `the ${id} graph`, LIMITS.graph);
  } catch (e) {
    if (e instanceof ConfineError) throw /^cannot read/.test(e.message) ? new Error(e.message) : e;
    throw new Error(`cannot read the ${id} graph ${path}: ${why(e)}`);
  }
  const actual = sha256Hex(graph);
  if (actual !== family.graphHash) throw new Error(`the ${id} graph ${path} hashes to ${actual} but the catalog pins ${family.graphHash}`);
  return { family, graph };
}

/**
 * A model's species, recomputed, never trusted: its tensors (dequantized signature for a quantized
 * model) with the family's graph and labels must give the family's species, and a plain model's
 * own claim must be that species too. A file that records its own graph and vocabulary was already
 * checked against them by readSlm; this covers the ones that do not (the starter's, older files).
 */
export function checkFamilySpecies(slm: Pick<SlmFile, 'species' | 'tensors'>, family: CatalogFamily, what = 'the model'): void {
  if (isQuantizedModel(slm.tensors)) {
    const actual = familySpeciesOf(slm.tensors, family.graphHash, family.output.labels);
    if (actual !== family.species)
      throw new FormatError(
        'species',
        `${what} is a quantized model whose tensors give species ${actual}, not family ${family.id}'s ${family.species}`,
      );
    return;
  }
  if (slm.species !== family.species)
    throw new FormatError('species', `${what} claims species ${slm.species}, not family ${family.id}'s ${family.species}`);
  checkClaimedSpecies(slm.species, slm.tensors, family.graphHash, family.output.labels, what);
}
