/**
 * A causal decoder with its KV cache, as generation sees it: feed tokens, get the logits of each
 * fed position; the cache advances. Two implementations: the CPU reference (here) and the ONNX
 * graph in onnxruntime-web (src/runtime/causal-lm-session.ts).
 */
import { LlamaReference, llamaWeights, type KvCache } from './llama.ts';
import type { CausalLmConfig } from './llama-config.ts';
import type { Tensor } from '../tensor.ts';

export interface CausalDecoder {
  readonly vocabSize: number;
  /** Positions already in the cache. */
  readonly length: number;
  /** Run `ids` after the cached positions: logits [ids.length × vocab]. */
  forward(ids: readonly number[]): Promise<Float32Array>;
  /** Empty the cache. */
  reset(): void;
  release(): Promise<void>;
}

/** The reference forward pass as a decoder. */
export function referenceDecoder(config: CausalLmConfig, tensors: readonly Tensor[]): CausalDecoder {
  const ref = new LlamaReference(config, llamaWeights(tensors));
  let cache: KvCache = ref.newCache();
  return {
    vocabSize: config.vocabSize,
    get length() {
      return cache.length;
    },
    forward: async (ids) => ref.forward(ids, cache),
    reset: () => void (cache = ref.newCache()),
    release: async () => undefined,
  };
}
