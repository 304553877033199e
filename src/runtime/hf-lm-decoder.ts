/**
 * The decoder for any causal LM a Hugging Face folder may hold (hf.ts HfLm): the Llama family's
 * (llama-graph.ts) or GPT-2's (gpt2-graph.ts) ONNX decoder in onnxruntime-web, or their CPU
 * references. The ONNX sessions are imported when asked for, so the reference needs no onnxruntime.
 */
import { isGpt2Lm, type HfLm } from '../core/format/hf.ts';
import { referenceDecoder, type CausalDecoder } from '../core/models/decoder.ts';
import { gpt2ReferenceDecoder } from '../core/models/gpt2.ts';
import type { LlamaGraphVariant } from '../core/models/llama-graph.ts';
import type { Tensor } from '../core/tensor.ts';

export async function hfLmDecoder(
  lm: HfLm,
  tensors: readonly Tensor[],
  runtime: 'onnx' | 'reference',
  variant: LlamaGraphVariant = 'standard',
): Promise<CausalDecoder> {
  if (isGpt2Lm(lm)) {
    if (variant !== 'standard') throw new Error(`the ${variant} decoder takes a Llama-family model, not GPT2LMHeadModel`);
    if (runtime === 'reference') return gpt2ReferenceDecoder(lm.config, tensors);
    const { createGpt2Session } = await import('./gpt2-session.ts');
    return createGpt2Session(lm.config, tensors);
  }
  if (runtime === 'reference') return referenceDecoder(lm.config, tensors);
  const { createCausalLmSession } = await import('./causal-lm-session.ts');
  return createCausalLmSession(lm.config, tensors, { variant });
}
