/**
 * LoRA applied at inference without merging: a species graph rewritten so that every MatMul whose
 * weight has a LoRA gets two more beside it, y = x·W + (x·Aᵀ)·(s·Bᵀ), as PEFT's unmerged forward
 * computes it. The LoRA weights travel as external tensors "<module>.lora_A.T" [in, r] and
 * "<module>.lora_B.sT" [r, out] (transposed so the graph is plain MatMul, s = alpha/r folded into
 * B). Saved modules (modules_to_save) replace their base tensors; the graph is unchanged for them.
 * withLoraMatMuls rewrites the garden's [in, out] species graphs (the MLP and the char LM); the
 * Llama decoder (llama-graph.ts) adds the same two MatMuls wherever its tensors include a pair.
 */
import type { GraphNode, GraphSpec } from '../models/onnx-graph.ts';
import { fromFloat32, type Tensor } from '../tensor.ts';
import { loraScaling, type Adapter } from './lora.ts';

/** The external tensors of a module's LoRA in a graph: Aᵀ [in, r] and s·Bᵀ [r, out] (any base layout). */
export const loraGraphNames = (m: string) => ({ a: `${m}.lora_A.T`, b: `${m}.lora_B.sT` });
const aName = (m: string) => loraGraphNames(m).a;
const bName = (m: string) => loraGraphNames(m).b;

export function withLoraMatMuls(spec: GraphSpec, adapter: Adapter): GraphSpec {
  const byWeight = new Map([...adapter.lora.values()].map((p) => [p.site.weight, p]));
  const nodes: GraphNode[] = [];
  const found = new Set<string>();
  for (const n of spec.nodes) {
    const p = n.op === 'MatMul' ? byWeight.get(n.inputs[1]) : undefined;
    if (!p) {
      nodes.push(n);
      continue;
    }
    if (p.site.layout !== 'in-out') throw new Error(`LoRA graphs take [in, out] weights; "${p.site.weight}" is [out, in]`);
    found.add(p.site.weight);
    const m = p.site.module;
    const out = n.outputs[0];
    nodes.push({ ...n, outputs: [`${out}.base`] });
    nodes.push({ op: 'MatMul', inputs: [n.inputs[0], aName(m)], outputs: [`${m}.lora_down`] });
    nodes.push({ op: 'MatMul', inputs: [`${m}.lora_down`, bName(m)], outputs: [`${m}.lora_up`] });
    nodes.push({ op: 'Add', inputs: [`${out}.base`, `${m}.lora_up`], outputs: [out] });
  }
  for (const w of byWeight.keys()) if (!found.has(w)) throw new Error(`the graph has no MatMul with weight "${w}" for its LoRA`);
  const weights = [
    ...spec.weights,
    ...[...adapter.lora.values()].flatMap((p) => [
      { name: aName(p.site.module), shape: [p.site.inFeatures, p.r], dtype: 'F32' as const },
      { name: bName(p.site.module), shape: [p.r, p.site.outFeatures], dtype: 'F32' as const },
    ]),
  ];
  return {
    ...spec,
    name: `${spec.name}+lora`,
    docString: `${spec.docString ?? spec.name}; LoRA beside ${[...adapter.lora.keys()].join(', ')} (r ${adapter.config.r}, alpha ${adapter.config.alpha})`,
    weights,
    nodes,
  };
}

/** The tensors a LoRA graph reads: the base (saved modules in place) and the transposed LoRA pairs (the same for either base layout). */
export function loraGraphTensors(base: readonly Tensor[], adapter: Adapter): Tensor[] {
  const lora = [...adapter.lora.values()].flatMap((p) => {
    const { inFeatures: I, outFeatures: O } = p.site;
    const s = loraScaling(adapter.config, p.r);
    const at = new Float32Array(I * p.r);
    for (let k = 0; k < p.r; k++) for (let i = 0; i < I; i++) at[i * p.r + k] = p.a[k * I + i];
    const bt = new Float32Array(p.r * O);
    for (let o = 0; o < O; o++) for (let k = 0; k < p.r; k++) bt[k * O + o] = s * p.b[o * p.r + k];
    return [fromFloat32(aName(p.site.module), [I, p.r], at), fromFloat32(bName(p.site.module), [p.r, O], bt)];
  });
  return [...base.map((t) => adapter.saved.get(t.name) ?? t), ...lora];
}
