/**
 * The candidate file: one function that turns a breed result into `.slm` bytes, used by the
 * app (browser, GPU or CPU), `garden breed`, `garden quantize` and `garden lab` (Node), so the
 * same breed on the same backend kind gives the same bytes wherever it ran. The bytes bind the breed's lineage key: operator@version, resolved parameters,
 * seed and the parents' hashes (base first), never file paths or clocks.
 */
import { hashJson, sha256Hex, type Sha256Hex } from '../hash.ts';
import { speciesId, speciesSignature, writeSlm } from '../format/slm.ts';
import { carriedMetadata } from '../format/hf-keys.ts';
import type { TensorSpec } from '../format/safetensors.ts';
import type { Tensor } from '../tensor.ts';
import type { SlmWriteOptions } from '../format/slm.ts';
import type { BreedResult } from './breed.ts';
import { stackedCausalLm } from './passthrough.ts';
import { isQuantizedModel, quantBlockSize, quantizedSpecies, QUANT_GRAPH_OP_KEY, type QuantGraphOp } from '../models/quantized-graph.ts';

/** What a candidate's header reads of a parent: everything but its tensors' data. */
export interface ParentHeaderInfo {
  /** SHA-256 of the parent's .slm bytes. */
  hash: Sha256Hex;
  species: Sha256Hex;
  /** The species graph hash and vocabulary, when the parent's file carries them. */
  graph?: Sha256Hex;
  vocabulary?: string[];
  /** The parent's tensors (only their names, dtypes and shapes are read here). */
  tensors: readonly TensorSpec[];
  /**
   * The family's weight-free inference graph and label set, when the caller has them: a quantized
   * candidate then gets its own dequantizing graph and the species bound to it.
   */
  family?: { graph: Uint8Array; vocabulary: readonly string[]; op?: QuantGraphOp };
  /** The parent's `.slm` metadata: the species' own files in it (a causal LM's config and tokenizer, hf-keys.ts) pass to the candidate. */
  metadata?: Readonly<Record<string, string>>;
}

/** A parent as a breed takes it: its header information and its tensors with their data. */
export interface ParentInfo extends ParentHeaderInfo {
  tensors: readonly Tensor[];
}

/**
 * What identifies a breed. The same key on the CPU gives the same candidate bytes; a GPU run may
 * differ in arithmetic by the ULP bounds docs/OPERATORS.md states (masks and selections never).
 */
export function lineageKey(
  result: Pick<BreedResult, 'operator' | 'params' | 'seed'>,
  parents: readonly Pick<ParentInfo, 'hash'>[],
  graph?: { hash: Sha256Hex; op: string },
): Sha256Hex {
  // A quantized candidate's file also depends on the graph it is bound to and how it dequantizes.
  return hashJson({
    kind: 'lineage-key',
    operator: result.operator,
    params: result.params,
    seed: result.seed,
    parents: parents.map((p) => p.hash),
    ...(graph ? { graph } : {}),
  });
}

/**
 * The recipe a candidate file carries (`garden.recipe`): operator, parameters, seed and the
 * parents' SHA-256, in the order the lineage key hashes them, so a downloaded file says how it
 * was bred and its lineage key can be recomputed from it.
 */
export function recipeMetadata(
  result: Pick<BreedResult, 'operator' | 'params' | 'seed'>,
  parents: readonly Pick<ParentInfo, 'hash'>[],
): string {
  return JSON.stringify({ operator: result.operator, params: result.params, seed: result.seed, parents: parents.map((p) => p.hash) });
}

function sameSignature(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  const sig = (ts: readonly TensorSpec[]) => hashJson(ts.map((t) => [t.name, t.dtype, t.shape]).sort());
  return sig(a) === sig(b);
}

/**
 * The candidate's species: recomputed from its tensors when the parents carry graph and
 * vocabulary; the parents' species when its tensors have the same names, shapes and dtypes; else
 * (quantize) a species derived from the parents' and the operator's.
 */
export function candidateSpecies(
  result: Pick<BreedResult, 'operator' | 'metadata'> & { tensors: readonly TensorSpec[] },
  first: ParentHeaderInfo,
): Sha256Hex {
  if (!isQuantizedModel(result.tensors) && first.graph !== undefined && first.vocabulary !== undefined)
    return speciesId(speciesSignature(result.tensors, first.graph, first.vocabulary));
  if (sameSignature(result.tensors, first.tensors)) return first.species;
  return hashJson({
    kind: 'species',
    derivedFrom: first.species,
    operator: result.operator,
    metadata: result.metadata,
    tensors: result.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
  });
}

export interface CandidateFile {
  bytes: Uint8Array;
  hash: Sha256Hex;
  species: Sha256Hex;
  lineageKey: Sha256Hex;
  /** The candidate's own inference graph when it differs from its parents' (quantized candidates). */
  graph?: Uint8Array;
}

export function candidateSlm(result: BreedResult, parents: readonly ParentInfo[]): CandidateFile {
  const first = parents[0];
  const operator = `${result.operator.id}@${result.operator.version}`;
  if (first.family && isQuantizedModel(result.tensors)) {
    // A quantized candidate is a species of its own: its tensors and its dequantizing graph.
    const q = quantizedSpecies(first.family.graph, result.tensors, first.family.vocabulary, quantBlockSize(result.metadata), {
      op: first.family.op,
    });
    const key = lineageKey(result, parents, { hash: sha256Hex(first.family.graph), op: q.op });
    const extra: Record<string, string> = {
      ...result.metadata,
      'garden.operator': operator,
      'garden.lineage': key,
      'garden.recipe': recipeMetadata(result, parents),
      [QUANT_GRAPH_OP_KEY]: q.op,
    };
    const bytes = writeSlm(result.tensors, { species: q.species, graph: q.graphHash, vocabulary: [...first.family.vocabulary], extra });
    return { bytes, hash: sha256Hex(bytes), species: q.species, lineageKey: key, graph: q.graph };
  }
  const key = lineageKey(result, parents);
  // A layer stack (passthrough slices) is a species of its own: the config says its layer count, and its architecture hash is recomputed.
  const stack = result.layers
    ? stackedCausalLm(
        parents.map((p) => p.metadata),
        result.layers,
        result.tensors,
      )
    : undefined;
  const { species, options } = plainHeader(result, parents, key, stack);
  const bytes = writeSlm(result.tensors, options);
  return { bytes, hash: sha256Hex(bytes), species, lineageKey: key };
}

type HeaderResult = Pick<BreedResult, 'operator' | 'params' | 'seed' | 'metadata'> & { tensors: readonly TensorSpec[] };

/** The species and writeSlm options of a candidate that is neither quantized with its family graph nor a layer stack. */
function plainHeader(
  result: HeaderResult,
  parents: readonly ParentHeaderInfo[],
  key: Sha256Hex,
  stack?: ReturnType<typeof stackedCausalLm>,
): { species: Sha256Hex; options: SlmWriteOptions } {
  const first = parents[0];
  const extra: Record<string, string> = {
    ...carriedMetadata(first.metadata),
    ...stack?.metadata,
    ...result.metadata,
    'garden.operator': `${result.operator.id}@${result.operator.version}`,
    'garden.lineage': key,
    'garden.recipe': recipeMetadata(result, parents),
  };
  // A parent handed over with its family (the app's) binds the family graph and labels, as a parent
  // file that records them (the starter's, read by the CLI) does: both write the same bytes.
  const bound = stack
    ? { ...first, graph: stack.graph, vocabulary: [] }
    : first.graph === undefined && first.vocabulary === undefined && first.family
      ? { ...first, graph: sha256Hex(first.family.graph), vocabulary: [...first.family.vocabulary] }
      : first;
  const species = candidateSpecies(result, bound);
  // A quantized candidate without its family graph cannot name a graph that runs it: bind none.
  const sameGraph = !isQuantizedModel(result.tensors);
  return {
    species,
    options: { species, graph: sameGraph ? bound.graph : undefined, vocabulary: sameGraph ? bound.vocabulary : undefined, extra },
  };
}

/**
 * The header of the candidate candidateSlm would write for a breed whose outputs are streamed
 * (tensor specs only, no data): its species, lineage key and the writeSlm options. Not for a
 * layer stack, nor a quantized candidate bound to its family graph (those need candidateSlm).
 */
export function candidateHeader(
  result: HeaderResult,
  parents: readonly ParentHeaderInfo[],
): { species: Sha256Hex; lineageKey: Sha256Hex; options: SlmWriteOptions } {
  if (parents[0].family && isQuantizedModel(result.tensors)) throw new Error('candidateHeader: a quantized candidate needs candidateSlm');
  const key = lineageKey(result, parents);
  return { ...plainHeader(result, parents, key), lineageKey: key };
}
