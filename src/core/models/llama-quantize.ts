/**
 * Quantize a Llama-family causal LM so that it runs quantized (garden quantize on a Llama .slm or
 * a Hugging Face folder).
 *
 * The linear weights — every layer's q/k/v/o_proj and gate/up/down_proj, and lm_head when the head
 * is not tied — become "W.q" (I8, or I4 two signed nibbles a byte) [out, in] + "W.scales" F32
 * [out, ceil(in / B)], block-wise symmetric along the input dimension (quantize.cpu.ts). The
 * embedding, norms and biases stay in their dtype. The decoder graph (llama-graph.ts) consumes the
 * pairs with one blocked DequantizeLinear each; the reference (decoder.ts) runs on
 * dequantizeModel's weights, the same float32 products q·s.
 *
 * The file is a species of its own: its quantized tensor signature over the model's architecture
 * hash, with the Hugging Face texts and garden.quant.{scheme,blockSize} in its metadata.
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { HF_KEYS } from '../format/hf-keys.ts';
import { compareNames } from '../format/safetensors.ts';
import { speciesId, speciesSignature, writeSlm } from '../format/slm.ts';
import { quantizeModel, QUANT_KEYS, type QuantScheme } from '../operators/quantize.cpu.ts';
import type { Tensor } from '../tensor.ts';
import type { CausalLmConfig } from './llama-config.ts';

const LINEAR = /^model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$/;

/** Is this tensor one of the linear weights a causal LM quantizes? */
export function isQuantizedLinear(config: CausalLmConfig, name: string): boolean {
  return LINEAR.test(name) || (!config.tieWordEmbeddings && name === 'lm_head.weight');
}

/** The model's tensors with its linear weights quantized (others unchanged), sorted by name. */
export function quantizeCausalLm(config: CausalLmConfig, tensors: readonly Tensor[], scheme: QuantScheme, blockSize: number): Tensor[] {
  return quantizeModel(tensors, scheme, blockSize, (t) => isQuantizedLinear(config, t.name)).sort(compareNames);
}

export interface QuantizedCausalLmFile {
  bytes: Uint8Array;
  hash: Sha256Hex;
  species: Sha256Hex;
  tensors: Tensor[];
}

/**
 * The `.slm` of a quantized causal LM: `metadata` is the source model's (its Hugging Face texts are
 * kept), `graphHash` its architecture hash.
 */
export function quantizedCausalLmSlm(
  config: CausalLmConfig,
  tensors: readonly Tensor[],
  source: { metadata: Readonly<Record<string, string>>; graphHash: Sha256Hex },
  scheme: QuantScheme,
  blockSize: number,
): QuantizedCausalLmFile {
  if (source.metadata[HF_KEYS.config] === undefined) throw new Error('quantize: the model carries no config.json');
  const q = quantizeCausalLm(config, tensors, scheme, blockSize);
  const species = speciesId(speciesSignature(q, source.graphHash, []));
  // The source's lineage key names its own making, not this file's: it is not carried.
  const { 'garden.lineage': _lineage, ...carried } = source.metadata;
  const extra = {
    ...carried,
    [QUANT_KEYS.scheme]: scheme,
    [QUANT_KEYS.blockSize]: String(blockSize),
    'garden.operator': 'quantize',
  };
  const bytes = writeSlm(q, { species, graph: source.graphHash, vocabulary: [], extra });
  return { bytes, hash: sha256Hex(bytes), species, tensors: q };
}
