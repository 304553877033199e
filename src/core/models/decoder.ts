/**
 * A causal decoder with its KV cache, as generation sees it: feed tokens, get the logits of each
 * fed position; the cache advances. Two implementations: the CPU reference (here) and the ONNX
 * graph in onnxruntime-web (src/runtime/causal-lm-session.ts).
 */
import { LlamaReference, llamaWeights, type KvCache } from './llama.ts';
import type { CausalLmConfig } from './llama-config.ts';
import type { Tensor } from '../tensor.ts';
import { dequantizeModel } from '../operators/quantize.cpu.ts';
import { isQuantizedModel } from './quantized-graph.ts';

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

/**
 * The reference forward pass as a decoder. A quantized model (config.quantBlockSize) runs on its
 * dequantized weights (dequantizeModel: q·s in float32, the numbers DequantizeLinear gives).
 */
export function referenceDecoder(config: CausalLmConfig, tensors: readonly Tensor[]): CausalDecoder {
  const plain = isQuantizedModel(tensors) ? dequantizeModel(tensors, quantBlockOf(config)) : tensors;
  const ref = new LlamaReference(config, llamaWeights(plain));
  return cachedDecoder<KvCache>(
    config.vocabSize,
    () => ref.newCache(),
    (ids, cache) => ref.forward(ids, cache),
  );
}

/** A CPU forward pass over its own cache object as a decoder (the Llama and GPT-2 references). */
export function cachedDecoder<C extends { length: number }>(
  vocabSize: number,
  newCache: () => C,
  forward: (ids: readonly number[], cache: C) => Float32Array,
): CausalDecoder {
  let cache = newCache();
  return {
    vocabSize,
    get length() {
      return cache.length;
    },
    forward: async (ids) => forward(ids, cache),
    reset: () => void (cache = newCache()),
    release: async () => undefined,
  };
}

function quantBlockOf(c: CausalLmConfig): number {
  if (c.quantBlockSize === undefined) throw new Error('the model stores quantized weights but its config names no block size');
  return c.quantBlockSize;
}
