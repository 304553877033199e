/** GPT-2 in onnxruntime-web: the decoder generated from its config (gpt2-graph.ts) behind the same KV-cache decoder as Llama's. */
import type { Tensor } from '../core/tensor.ts';
import type { Gpt2Config } from '../core/models/gpt2.ts';
import { buildGpt2Graph } from '../core/models/gpt2-graph.ts';
import { kvCacheDecoder, type OrtCausalLm } from './causal-lm-session.ts';
import { createOrtSession, type OrtSessionOptions } from './ort-session.ts';

export async function createGpt2Session(
  config: Gpt2Config,
  tensors: readonly Tensor[],
  opts: OrtSessionOptions = {},
): Promise<OrtCausalLm> {
  const graph = buildGpt2Graph(config, tensors);
  const session = await createOrtSession(graph, tensors, opts);
  return kvCacheDecoder(session, graph, {
    numLayers: config.numLayers,
    numKvHeads: config.numHeads,
    headDim: config.headDim,
    vocabSize: config.vocabSize,
  });
}
