/**
 * The candidate file: one function that turns a breed result into `.slm` bytes, used by the
 * app (browser, GPU or CPU) and by `garden breed` (Node), so the same breed gives the same bytes
 * wherever it ran. The bytes bind the breed's lineage key: operator@version, resolved parameters,
 * seed and the parents' hashes (base first), never file paths or clocks.
 */
import { hashJson, sha256Hex, type Sha256Hex } from '../hash.ts';
import { speciesId, speciesSignature, writeSlm } from '../format/slm.ts';
import type { Tensor } from '../tensor.ts';
import type { BreedResult } from './breed.ts';

export interface ParentInfo {
  /** SHA-256 of the parent's .slm bytes. */
  hash: Sha256Hex;
  species: Sha256Hex;
  /** The species graph hash and vocabulary, when the parent's file carries them. */
  graph?: Sha256Hex;
  vocabulary?: string[];
  tensors: readonly Tensor[];
}

/** What identifies a breed: the same key, the same candidate bytes. */
export function lineageKey(result: Pick<BreedResult, 'operator' | 'params' | 'seed'>, parents: readonly Pick<ParentInfo, 'hash'>[]): Sha256Hex {
  return hashJson({ kind: 'lineage-key', operator: result.operator, params: result.params, seed: result.seed, parents: parents.map((p) => p.hash) });
}

function sameSignature(a: readonly Tensor[], b: readonly Tensor[]): boolean {
  const sig = (ts: readonly Tensor[]) => hashJson(ts.map((t) => [t.name, t.dtype, t.shape]).sort());
  return sig(a) === sig(b);
}

/**
 * The candidate's species: recomputed from its tensors when the parents carry graph and
 * vocabulary; the parents' species when its tensors have the same names, shapes and dtypes; else
 * (quantize) a species derived from the parents' and the operator's.
 */
export function candidateSpecies(result: BreedResult, first: ParentInfo): Sha256Hex {
  if (first.graph !== undefined && first.vocabulary !== undefined) return speciesId(speciesSignature(result.tensors, first.graph, first.vocabulary));
  if (sameSignature(result.tensors, first.tensors)) return first.species;
  return hashJson({ kind: 'species', derivedFrom: first.species, operator: result.operator, metadata: result.metadata, tensors: result.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })) });
}

export function candidateSlm(result: BreedResult, parents: readonly ParentInfo[]): { bytes: Uint8Array; hash: Sha256Hex; species: Sha256Hex; lineageKey: Sha256Hex } {
  const first = parents[0];
  const species = candidateSpecies(result, first);
  const key = lineageKey(result, parents);
  const bytes = writeSlm(result.tensors, {
    species,
    graph: first.graph,
    vocabulary: first.vocabulary,
    extra: { ...result.metadata, 'garden.operator': `${result.operator.id}@${result.operator.version}`, 'garden.lineage': key },
  });
  return { bytes, hash: sha256Hex(bytes), species, lineageKey: key };
}
