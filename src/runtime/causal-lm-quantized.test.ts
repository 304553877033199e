/**
 * Quantized causal LMs run quantized: the decoder graph keeps "W.q" (INT8 / INT4) + "W.scales" as
 * external data and dequantizes them with blocked DequantizeLinear in onnxruntime-web (wasm),
 * checked against the reference forward pass on the dequantized weights (dequantizeModel: the
 * same float32 products q·s). Tolerance as the float decoder's (1e-4; the reference sums in f64);
 * greedy tokens identical. The error against the float original is printed.
 */
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { referenceDecoder, type CausalDecoder } from '../core/models/decoder.ts';
import { generate } from '../core/models/generate.ts';
import { parseCausalLmConfig } from '../core/models/llama-config.ts';
import { inspectOnnxGraph } from '../core/models/onnx-graph.ts';
import { tinyCheckpoint, type TinyCheckpointOptions } from '../core/models/llama-testing.ts';
import { quantizeCausalLm } from '../core/models/llama-quantize.ts';
import type { QuantScheme } from '../core/operators/quantize.cpu.ts';
import type { LlamaGraphVariant } from '../core/models/llama-graph.ts';
import { createCausalLmSession } from './causal-lm-session.ts';

const LOGIT_TOLERANCE = 1e-4;
const ids = [0, 5, 17, 42, 9, 3, 60, 11, 7, 25, 33, 8];
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

const greedy = async (d: CausalDecoder, prompt: number[], steps: number) =>
  (await generate(d, prompt, { maxNew: steps, greedy: true })).ids;

const cases: [string, TinyCheckpointOptions, QuantScheme, number, LlamaGraphVariant][] = [
  ['Llama, hidden 64, separate head', { hidden: 64, heads: 4, kvHeads: 2, intermediate: 96 }, 'int8', 32, 'standard'],
  ['Llama, hidden 64, separate head', { hidden: 64, heads: 4, kvHeads: 2, intermediate: 96 }, 'int4', 32, 'standard'],
  ['Qwen2, biases, tied, BF16 (block 16 ∤ 24)', { architecture: 'Qwen2ForCausalLM', tied: true, dtype: 'BF16' }, 'int4', 16, 'standard'],
  ['Llama, fused decoder, per-channel (block ≥ in)', { hidden: 64, heads: 4, kvHeads: 2 }, 'int8', 128, 'fused'],
  ['Llama, fused decoder (MatMulNBits)', { hidden: 64, heads: 4, kvHeads: 2, intermediate: 96 }, 'int4', 32, 'fused'],
  ['Llama, fused decoder (MatMulNBits)', { hidden: 64, heads: 4, kvHeads: 2, intermediate: 96 }, 'int8', 32, 'fused'],
];

describe('quantized causal-LM decoder vs the reference on the dequantized weights', () => {
  for (const [what, o, scheme, block, variant] of cases) {
    it(`${what}, ${scheme} block ${block}, ${variant}: logits within ${LOGIT_TOLERANCE}, greedy identical`, async () => {
      const ck = tinyCheckpoint(o);
      const cfg0 = parseCausalLmConfig(ck.config);
      const cfg = { ...cfg0, quantBlockSize: block };
      const q = quantizeCausalLm(cfg0, ck.tensors, scheme, block);
      const onnx = await createCausalLmSession(cfg, q, { variant });
      try {
        const model = onnxProto.onnx.ModelProto.decode(onnx.graph);
        const nodes = model.graph!.node!;
        const linears = q.filter((t) => t.name.endsWith('.weight.q')).length;
        expect(linears).toBe(7 * cfg.numLayers + (cfg.tieWordEmbeddings ? 0 : 1));
        // Fused, with B | K: MatMulNBits on every linear weight; else one DequantizeLinear each.
        const nbits = variant === 'fused' && block === 32;
        expect(nodes.filter((n) => n.opType === 'MatMulNBits').length).toBe(nbits ? linears : 0);
        expect(nodes.filter((n) => n.opType === 'DequantizeLinear').length).toBe(nbits ? 0 : linears);
        // Float activations (accuracy_level 0): 4 would let a native build quantize them to int8, off the reference.
        for (const n of nodes.filter((x) => x.opType === 'MatMulNBits'))
          expect(Number(n.attribute!.find((a) => a.name === 'accuracy_level')?.i)).toBe(0);
        expect(Number(model.opsetImport!.find((x) => !x.domain)!.version)).toBe(21);
        // The quantized bytes go to onnxruntime as they are stored: no float copy of a linear weight.
        const g = inspectOnnxGraph(onnx.graph);
        expect(g.embeddedWeights).toEqual([]);
        expect(g.external.map((e) => e.location).sort()).toEqual(q.map((t) => t.name).sort());

        const ref = referenceDecoder(cfg, q);
        const expected = await ref.forward(ids);
        const got = await onnx.forward(ids);
        const err = maxDiff(got, expected);
        expect(err).toBeLessThan(LOGIT_TOLERANCE);
        const vsFloat = maxDiff(got, await referenceDecoder(cfg0, ck.tensors).forward(ids));
        console.log(
          `${what} ${scheme}/${block} ${variant}: |onnx − ref(dequantized)| ${err.toExponential(2)}, vs f32 original ${vsFloat.toExponential(2)}`,
        );
        // Quantization does change the model (int4 more than int8): the check below is not vacuous.
        expect(vsFloat).toBeGreaterThan(err);
        expect(await greedy(onnx, [0, 5, 17], 10)).toEqual(await greedy(ref, [0, 5, 17], 10));
      } finally {
        await onnx.release();
      }
    });
  }

  it('refuses quantized tensors without a block size', () => {
    const ck = tinyCheckpoint({ layers: 1 });
    const cfg = parseCausalLmConfig(ck.config);
    const q = quantizeCausalLm(cfg, ck.tensors, 'int8', 32);
    expect(() => referenceDecoder(cfg, q)).toThrow(/block size/);
    return expect(createCausalLmSession(cfg, q)).rejects.toThrow(/block size/);
  });
});
