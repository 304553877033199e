/**
 * The tensor store as the streaming breed's source and sink: a stored model as a ModelSource
 * whose reads go chunk by chunk through readTensorRange (each chunk verified, never a whole
 * tensor), and the store's tensorWriter as each output tensor's sink. breedStream over these
 * breeds store → store in bounded memory; putStreamedModel then lists the outputs as a model.
 */
import type { ModelSource } from '../core/operators/stream.ts';
import type { StreamedTensor, TensorOutput } from '../core/operators/breed.ts';
import type { Sha256Hex } from '../core/hash.ts';
import { StoreError, type PutModelInput, type PutModelResult, type TensorStore } from './tensor-store.ts';

/** A stored model's tensors, read by range from the store. */
export async function storedModelSource(store: TensorStore, id: Sha256Hex): Promise<ModelSource> {
  const model = await store.matchModel(id);
  if (!model) throw new StoreError(`no model ${id.slice(0, 12)} in the store`);
  const hashes = new Map(model.manifest.tensors.map((t) => [t.name, t.hash]));
  return {
    tensors: model.manifest.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
    read(name, offset, length) {
      const h = hashes.get(name);
      if (!h) throw new StoreError(`model ${id.slice(0, 12)} has no tensor ${JSON.stringify(name)}`);
      return store.readTensorRange(h, offset, length);
    },
  };
}

/** breedStream's sink: each output tensor into the store chunk by chunk; a cancelled breed's finished outputs dropped. */
export function storeSink(store: TensorStore): {
  output: () => TensorOutput;
  discard: (outputs: readonly StreamedTensor[]) => Promise<void>;
} {
  return {
    output: () => store.tensorWriter(),
    discard: async (outputs) => void (await store.dropUnlisted(outputs.map((t) => t.hash))),
  };
}

/** List a streamed breed's outputs (already in the store) as one model, in one transaction. */
export function putStreamedModel(
  store: TensorStore,
  outputs: readonly StreamedTensor[],
  rest: Omit<PutModelInput, 'tensors'>,
): Promise<PutModelResult> {
  return store.putModel({ ...rest, tensors: outputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], hash: t.hash })) });
}
