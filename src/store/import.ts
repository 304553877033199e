/**
 * Imported model → store, and store → runtime. Every tensor is read and checked before the
 * store's single transaction opens, so a refused file writes nothing.
 */
import { loadTensors, type ImportedModel } from '../core/format/model.ts';
import { ortExternalData } from '../core/format/onnx.ts';
import type { Tensor } from '../core/tensor.ts';
import { StoreError, type PutModelResult, type StoredModel, type TensorStore } from './tensor-store.ts';

export async function storeImported(
  store: TensorStore,
  model: ImportedModel,
  opts: { manifests?: unknown[]; meta?: Record<string, unknown> } = {},
): Promise<PutModelResult> {
  const tensors = await loadTensors(model);
  return store.putModel({
    tensors,
    species: model.species,
    graph: model.graph,
    vocabulary: model.vocabulary,
    manifests: opts.manifests,
    meta: opts.meta,
  });
}

/** A stored model ready for onnxruntime-web: graph bytes and `externalData` by tensor name. */
export async function loadRunnable(
  store: TensorStore,
  id: string,
): Promise<{ model: StoredModel; tensors: Tensor[]; graph: Uint8Array; externalData: { path: string; data: Uint8Array }[] }> {
  const model = await store.matchModel(id);
  if (!model) throw new StoreError(`no model ${id.slice(0, 12)} in the store`);
  if (!model.manifest.graph) throw new StoreError(`model ${id.slice(0, 12)} has no species graph to run`);
  const graph = await store.matchGraph(model.manifest.graph);
  if (!graph) throw new StoreError(`the store lacks graph ${model.manifest.graph.slice(0, 12)} of model ${id.slice(0, 12)}`);
  const tensors = await store.loadModel(id);
  return { model, tensors, graph, externalData: ortExternalData(tensors) };
}
