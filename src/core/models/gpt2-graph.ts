/**
 * The ONNX decoder for GPT-2 (gpt2.ts), in standard opset-17 ops with Optimum's cache interface
 * (input_ids, position_ids, past_key_values.{i}.key/value [batch, heads, past, head_dim] →
 * logits, present.{i}.key/value), weights as external data named by their Hugging Face tensor
 * name in their stored dtype (cast to float in the graph), as llama-graph.ts: LayerNormalization,
 * Conv1D as MatMul + Add (W is [in, out]), learned positions gathered by position_ids, gelu_new
 * spelled out (0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))), the causal mask from absolute
 * positions, the head tied to wte.
 */
import type { DType } from '../tensor.ts';
import { gpt2ExpectedTensors, gpt2LayerPrefix, type Gpt2Config } from './gpt2.ts';
import { GraphBuilder, pastKeyName, pastValueName, presentKeyName, presentValueName, LLAMA_GRAPH_OPSET } from './llama-graph.ts';

const FLOAT32_LOWEST = -3.4028234663852886e38;

export function buildGpt2Graph(c: Gpt2Config, tensors: readonly { name: string; dtype: DType; shape: number[] }[]): Uint8Array {
  const g = new GraphBuilder();
  const specs = new Map(tensors.map((t) => [t.name, t]));
  for (const e of gpt2ExpectedTensors(c))
    if (!specs.has(e.name)) throw new Error(`the model has no tensor ${JSON.stringify(e.name)} that the decoder needs`);
  const weights = new Map<string, string>();
  const w = (name: string): string => {
    let v = weights.get(name);
    if (v === undefined) {
      const s = specs.get(name)!;
      v = g.weight(s.name, s.dtype, s.shape);
      weights.set(name, v);
    }
    return v;
  };
  const { hiddenSize: E, headDim: D, numHeads, numLayers } = c;
  const layerNorm = (x: string, prefix: string) =>
    g.node('LayerNormalization', [x, w(`${prefix}.weight`), w(`${prefix}.bias`)], { axis: -1, epsilon: { float: c.layerNormEps } });
  const conv = (x: string, prefix: string) => g.node('Add', [g.node('MatMul', [x, w(`${prefix}.weight`)]), w(`${prefix}.bias`)]);

  // The causal mask from absolute positions: query t at P + t sees keys 0 … P + t.
  const { past, axis0, totalScalar, zero, one } = g.positions();
  const axis1 = g.i64([1]);
  const keyPos = g.node('Unsqueeze', [g.node('Range', [zero, totalScalar, one]), axis0]);
  const queryPos = g.node('Unsqueeze', [g.node('Range', [g.node('Squeeze', [past, axis0]), totalScalar, one]), axis1]);
  const mask = g.node('Greater', [keyPos, queryPos]);
  const lowest = g.f32([FLOAT32_LOWEST], true);
  const scale = g.f32([1 / Math.sqrt(D)], true);
  const heads = (x: string) => g.node('Transpose', [g.node('Reshape', [x, g.i64([0, 0, numHeads, D])])], { perm: [0, 2, 1, 3] });
  const merged = g.i64([0, 0, E]);
  const split = g.i64([E, E, E]);
  const half = g.f32([0.5], true);
  const oneF = g.f32([1], true);
  const cubic = g.f32([0.044715], true);
  const root = g.f32([Math.sqrt(2 / Math.PI)], true);
  const gelu = (x: string) => {
    const x3 = g.node('Mul', [g.node('Mul', [x, x]), x]);
    const inner = g.node('Mul', [root, g.node('Add', [x, g.node('Mul', [cubic, x3])])]);
    return g.node('Mul', [g.node('Mul', [half, x]), g.node('Add', [oneF, g.node('Tanh', [inner])])]);
  };

  const wte = w('transformer.wte.weight');
  let h = g.node('Add', [
    g.node('Gather', [wte, 'input_ids'], { axis: 0 }),
    g.node('Gather', [w('transformer.wpe.weight'), 'position_ids'], { axis: 0 }),
  ]);
  for (let l = 0; l < numLayers; l++) {
    const p = gpt2LayerPrefix(l);
    const [q, k, v] = g.nodeOutputs('Split', [conv(layerNorm(h, `${p}ln_1`), `${p}attn.c_attn`), split], [`q_${l}`, `k_${l}`, `v_${l}`], {
      axis: -1,
    });
    const keys = g.node('Concat', [pastKeyName(l), heads(k)], { axis: 2 }, presentKeyName(l));
    const values = g.node('Concat', [pastValueName(l), heads(v)], { axis: 2 }, presentValueName(l));
    const scores = g.node('Mul', [g.node('MatMul', [heads(q), g.node('Transpose', [keys], { perm: [0, 1, 3, 2] })]), scale]);
    const probs = g.node('Softmax', [g.node('Where', [mask, lowest, scores])], { axis: -1 });
    const ctx = g.node('Reshape', [g.node('Transpose', [g.node('MatMul', [probs, values])], { perm: [0, 2, 1, 3] }), merged]);
    h = g.node('Add', [h, conv(ctx, `${p}attn.c_proj`)]);
    h = g.node('Add', [h, conv(gelu(conv(layerNorm(h, `${p}ln_2`), `${p}mlp.c_fc`)), `${p}mlp.c_proj`)]);
  }
  g.node('MatMul', [layerNorm(h, 'transformer.ln_f'), g.node('Transpose', [wte], { perm: [1, 0] })], {}, 'logits');

  return g.model({
    numLayers,
    kvHeads: numHeads,
    headDim: D,
    vocabSize: c.vocabSize,
    irVersion: 8,
    opsets: [{ domain: '', version: LLAMA_GRAPH_OPSET }],
    docString: `GPT2LMHeadModel decoder with KV cache (${numLayers} layers, hidden ${E}, ${numHeads} heads)`,
  });
}
