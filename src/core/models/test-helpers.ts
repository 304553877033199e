/** Shared fixtures for the model tests (not imported by production code). */
import { breed } from '../operators/breed.ts';
import { cpuBackend } from '../operators/backend.ts';
import { candidateSlm } from '../operators/candidate.ts';
import type { QuantScheme } from '../operators/quantize.cpu.ts';
import { readSlm, speciesId, speciesSignature } from '../format/slm.ts';
import { sha256Hex } from '../hash.ts';
import type { Tensor } from '../tensor.ts';

/**
 * A model quantized the way the app and `garden quantize` do it (the quantize operator, then
 * candidateSlm with the family's graph): the file's bytes, tensors, metadata and species, and its
 * own dequantizing graph.
 */
export async function quantizedCandidate(
  graph: Uint8Array,
  tensors: readonly Tensor[],
  vocabulary: readonly string[],
  scheme: QuantScheme,
  blockSize: number,
) {
  const result = await breed({ operator: 'quantize', params: { scheme, blockSize }, seed: 0, parents: [tensors] }, cpuBackend);
  const species = speciesId(speciesSignature(tensors, sha256Hex(graph), [...vocabulary]));
  const file = candidateSlm(result, [{ hash: sha256Hex(graph), species, tensors, family: { graph, vocabulary } }]);
  if (!file.graph) throw new Error('quantizedCandidate: candidateSlm gave no graph of its own');
  const slm = readSlm(file.bytes);
  return {
    bytes: file.bytes,
    species: file.species,
    tensors: slm.tensors,
    metadata: slm.metadata,
    graph: file.graph,
    graphHash: sha256Hex(file.graph),
  };
}
