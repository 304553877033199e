/**
 * A causal LM in onnxruntime-web: the decoder graph generated from the config
 * (src/core/models/llama-graph.ts), its weights handed over as external data by tensor name, and
 * the KV cache kept as the previous run's present.* outputs fed back as past_key_values.*.
 * Runs go through the one queue of ort-session.ts.
 */
import * as ort from 'onnxruntime-web';
import type { CausalDecoder } from '../core/models/decoder.ts';
import type { CausalLmConfig } from '../core/models/llama-config.ts';
import {
  buildLlamaGraph,
  type LlamaGraphVariant,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
} from '../core/models/llama-graph.ts';
import type { Tensor } from '../core/tensor.ts';
import { createOrtSession, releaseSession, runFeeds, type InferenceSession, type OrtSessionOptions } from './ort-session.ts';

export interface OrtCausalLm extends CausalDecoder {
  readonly session: InferenceSession;
  readonly graph: Uint8Array;
}

export interface CausalLmSessionOptions extends OrtSessionOptions {
  /** The decoder's ops (llama-graph.ts LLAMA_GRAPH_VARIANTS); standard by default. */
  variant?: LlamaGraphVariant;
}

export async function createCausalLmSession(
  config: CausalLmConfig,
  tensors: readonly Tensor[],
  opts: CausalLmSessionOptions = {},
): Promise<OrtCausalLm> {
  const graph = buildLlamaGraph(config, tensors, opts.variant ?? 'standard');
  const session = await createOrtSession(graph, tensors, opts);
  return kvCacheDecoder(session, graph, config);
}

/**
 * A decoder graph with Optimum's inputs and outputs (input_ids, position_ids,
 * past_key_values.{i}.key/value → logits, present.{i}.key/value) in a session, as a CausalDecoder:
 * the cache is the previous run's present.* fed back as past_key_values.* (Llama's and GPT-2's graphs).
 */
export function kvCacheDecoder(
  session: InferenceSession,
  graph: Uint8Array,
  dims: { numLayers: number; numKvHeads: number; headDim: number; vocabSize: number },
): OrtCausalLm {
  const { numLayers, numKvHeads, headDim, vocabSize } = dims;
  const empty = () => new ort.Tensor('float32', new Float32Array(0), [1, numKvHeads, 0, headDim]);
  let past: ort.Tensor[] = [];
  let length = 0;
  const reset = () => {
    for (const t of past) t.dispose();
    past = Array.from({ length: 2 * numLayers }, empty);
    length = 0;
  };
  reset();
  return {
    session,
    graph,
    vocabSize,
    get length() {
      return length;
    },
    async forward(ids) {
      const n = ids.length;
      for (const id of ids)
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
          throw new Error(`token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor(
          'int64',
          BigInt64Array.from(ids, (x) => BigInt(x)),
          [1, n],
        ),
        position_ids: new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: n }, (_, i) => BigInt(length + i)),
          [1, n],
        ),
      };
      for (let l = 0; l < numLayers; l++) {
        feeds[pastKeyName(l)] = past[2 * l];
        feeds[pastValueName(l)] = past[2 * l + 1];
      }
      const out = await runFeeds(session, feeds);
      const logits = Float32Array.from(out.logits.data as Float32Array);
      out.logits.dispose();
      for (const t of past) t.dispose();
      past = [];
      for (let l = 0; l < numLayers; l++) past.push(out[presentKeyName(l)], out[presentValueName(l)]);
      length += n;
      return logits;
    },
    reset,
    async release() {
      for (const t of past) t.dispose();
      past = [];
      await releaseSession(session);
    },
  };
}
