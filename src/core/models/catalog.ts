/**
 * The starter garden's catalog (public/starter/catalog.json): model families, each with one
 * species graph, its models (.slm) and its frozen suites, all pinned by SHA-256.
 */
import type { Sha256Hex } from '../hash.ts';

export const CATALOG_VERSION = 1;

/** How a family's input is presented to people (the app picks an input widget by this). */
export const INPUT_KINDS = Object.freeze({
  image28: { description: '28×28 grayscale image, 784 floats in [0, 1], row-major' },
  features: { description: 'a feature vector of floats (e.g. hashed bag-of-words counts)' },
  tokens: { description: 'the previous k token ids (int32), a fixed context window' },
} as const);
export type InputKind = keyof typeof INPUT_KINDS;

export const MODEL_ROLES = Object.freeze(['base', 'specialist'] as const);
export type ModelRole = (typeof MODEL_ROLES)[number];

export interface CatalogModel {
  id: string;
  name: string;
  role: ModelRole;
  /** Path relative to the catalog's directory. */
  file: string;
  hash: Sha256Hex;
  bytes: number;
  description: string;
  /** The suite id this specialist is meant for (specialists only). */
  speciality?: string;
}

export interface CatalogSuite {
  id: string;
  name: string;
  file: string;
  hash: Sha256Hex;
  bytes: number;
  count: number;
  perturbation: string;
  /** The family's primary quality suite. */
  primary: boolean;
  description: string;
  task: 'classify' | 'lm';
  /** Robustness suites only: the clean suite of the same family this one is compared with. */
  baseline?: string;
}

export interface CatalogFamily {
  id: string;
  name: string;
  description: string;
  species: Sha256Hex;
  graph: string;
  graphHash: Sha256Hex;
  input: {
    name: string;
    shape: number[];
    kind: InputKind;
    /** For tokens: the character set, index = token id. */
    vocabulary?: string[];
  };
  output: { name: string; labels: string[] };
  models: CatalogModel[];
  suites: CatalogSuite[];
}

export interface Catalog {
  version: typeof CATALOG_VERSION;
  families: CatalogFamily[];
}

const HEX = /^[0-9a-f]{64}$/;

/** Check a parsed catalog.json; throws one line naming the first problem. */
export function checkCatalog(raw: unknown): Catalog {
  const fail = (msg: string): never => {
    throw new Error(`catalog check failed: ${msg}`);
  };
  if (!raw || typeof raw !== 'object') fail('not an object');
  const c = raw as Catalog;
  if (c.version !== CATALOG_VERSION) fail(`version is ${JSON.stringify(c.version)}, expected ${CATALOG_VERSION}`);
  if (!Array.isArray(c.families)) fail('families is not an array');
  const ids = new Set<string>();
  for (const f of c.families) {
    if (typeof f.id !== 'string' || ids.has(f.id)) fail(`family id ${JSON.stringify(f.id)} is missing or repeated`);
    ids.add(f.id);
    if (!HEX.test(f.species)) fail(`family ${f.id}: species is not a SHA-256 hex string`);
    if (!HEX.test(f.graphHash)) fail(`family ${f.id}: graphHash is not a SHA-256 hex string`);
    if (!Object.prototype.hasOwnProperty.call(INPUT_KINDS, f.input?.kind))
      fail(`family ${f.id}: input kind ${JSON.stringify(f.input?.kind)}; valid: ${Object.keys(INPUT_KINDS).join(', ')}`);
    if (!Array.isArray(f.output?.labels) || f.output.labels.length < 1) fail(`family ${f.id}: output labels missing`);
    for (const m of f.models ?? []) {
      if (!HEX.test(m.hash)) fail(`model ${m.id}: hash is not a SHA-256 hex string`);
      if (!(MODEL_ROLES as readonly string[]).includes(m.role))
        fail(`model ${m.id}: role ${JSON.stringify(m.role)}; valid: ${MODEL_ROLES.join(', ')}`);
    }
    for (const s of f.suites ?? []) {
      if (!HEX.test(s.hash)) fail(`suite ${s.id}: hash is not a SHA-256 hex string`);
      if (s.baseline !== undefined && !(f.suites ?? []).some((x) => x.id === s.baseline && x.id !== s.id))
        fail(`suite ${s.id}: baseline "${s.baseline}" is not another suite of family ${f.id}`);
    }
    if (!(f.suites ?? []).some((s) => s.primary)) fail(`family ${f.id}: no primary suite`);
  }
  return c;
}
