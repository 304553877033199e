/** Tests only: seeded tiny GPT-2 checkpoints (GPT2LMHeadModel) in Hugging Face's config keys and tensor names. */
import { mulberry32 } from '../seeded.ts';
import { fromFloat32, numel, type DType } from '../tensor.ts';
import { gpt2ExpectedTensors, parseGpt2Config, type Gpt2Config } from './gpt2.ts';
import type { TinyCheckpoint } from './llama-testing.ts';

/**
 * config.json keys as transformers' GPT2Config writes them (n_embd, n_head, n_layer, n_positions,
 * vocab_size, …) over `architectures: ["GPT2LMHeadModel"]`; LayerNorm weights near 1, everything
 * else uniform in ±0.3 (sharp enough that greedy choices are clear).
 */
export function tinyGpt2Checkpoint(config: Record<string, unknown>, dtype: DType, seed: number): TinyCheckpoint & { cfg: Gpt2Config } {
  const full = { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', ...config };
  const cfg = parseGpt2Config(full);
  const r = mulberry32(seed);
  const tensors = gpt2ExpectedTensors(cfg).map(({ name, shape }) => {
    const norm = name.endsWith('ln_1.weight') || name.endsWith('ln_2.weight') || name.endsWith('ln_f.weight');
    const v = Float32Array.from({ length: numel(shape) }, () => (norm ? 1 + 0.2 * (r() - 0.5) : 0.6 * (r() - 0.5)));
    return fromFloat32(name, shape, v, dtype);
  });
  return { config: full, tensors, cfg };
}
