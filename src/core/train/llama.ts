/**
 * The Llama-family decoder (Llama, Mistral, Qwen2; src/core/models/llama.ts is the inference
 * oracle) on the training tape, for batches of equal-length sequences, with LoRA beside any of its
 * linear layers (Hugging Face's [out, in] layout, PEFT's fan_in_fan_out = false):
 *   h = embed[ids];  per layer: h += o_proj(attn(RoPE(q_proj n), RoPE(k_proj n), v_proj n)),
 *   n = RMSNorm(h); h += down_proj(silu(gate_proj n) ⊙ up_proj n), n = RMSNorm(h);
 *   logits = RMSNorm(h)·(lm_head or embed)ᵀ;  loss = next-token cross-entropy.
 */
import { layerPrefix, ropeInvFreq, type CausalLmConfig } from '../models/llama-config.ts';
import { tensorKey } from '../operators/prng.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { crossEntropy } from './loss.ts';
import { add, mul, silu } from './ops.ts';
import { causalAttention, embedding, rmsNorm, rope } from './ops-llm.ts';
import { runSteps, trainSteps, type LoopOptions, type StepReport } from './loop.ts';
import type { AdamWState } from './optim.ts';
import { loraScaling, mergeAdapter, type Adapter, type LinearSite } from './lora.ts';
import { loraGraphTensors } from './lora-graph.ts';
import { importPeft, PeftError, type PeftFiles } from './peft.ts';
import { adapterParams, loraLinear } from './mlp.ts';
import { Tape, type Value } from './tape.ts';

/** Every linear layer of the decoder, named as PEFT names the modules of LlamaForCausalLM. */
export function llamaSites(c: CausalLmConfig): LinearSite[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const sites: LinearSite[] = [];
  const site = (module: string, inFeatures: number, outFeatures: number, bias: boolean) =>
    sites.push({
      module,
      weight: `${module}.weight`,
      ...(bias ? { bias: `${module}.bias` } : {}),
      inFeatures,
      outFeatures,
      layout: 'out-in',
    });
  for (let l = 0; l < c.numLayers; l++) {
    const p = layerPrefix(l);
    site(`${p}self_attn.q_proj`, H, q, c.qkvBias);
    site(`${p}self_attn.k_proj`, H, kv, c.qkvBias);
    site(`${p}self_attn.v_proj`, H, kv, c.qkvBias);
    site(`${p}self_attn.o_proj`, q, H, c.oBias);
    site(`${p}mlp.gate_proj`, H, I, c.mlpBias);
    site(`${p}mlp.up_proj`, H, I, c.mlpBias);
    site(`${p}mlp.down_proj`, I, H, c.mlpBias);
  }
  if (!c.tieWordEmbeddings) site('lm_head', H, c.vocabSize, false);
  return sites;
}

export interface LlamaTapeModel {
  config: CausalLmConfig;
  /** A weight (base or trained) as a value on the tape, by its Hugging Face name. */
  weight(name: string): Value;
  has(name: string): boolean;
  adapter?: Adapter;
  /** The adapter's LoRA values on this tape, by `${module}.lora_A` / `.lora_B`. */
  lora?: ReadonlyMap<string, Value>;
  /** Dropout key for this step (0 = no dropout). */
  dropoutKey?: number;
}

/** The dropout key of a run's step: the CPU tape and the GPU trainer draw the same mask from it. */
export const dropoutKeyOf = (seed: number, step: number): number => (seed + step + 1) >>> 0;

function linear(m: LlamaTapeModel, x: Value, module: string): Value {
  const bias = m.has(`${module}.bias`) ? m.weight(`${module}.bias`) : null;
  const p = m.adapter?.lora.get(module);
  const lora =
    p && m.lora
      ? {
          a: m.lora.get(`${module}.lora_A`)!,
          b: m.lora.get(`${module}.lora_B`)!,
          scaling: loraScaling(m.adapter!.config, p.r),
          dropout: m.dropoutKey ? m.adapter!.config.dropout : 0,
          key: tensorKey(m.dropoutKey ?? 0, module),
        }
      : null;
  return loraLinear(x, m.weight(`${module}.weight`), 'out-in', bias, lora);
}

/** Logits [batch·seqLen, vocab] for ids [batch·seqLen] (positions 0… in every sequence). */
export function llamaLogits(m: LlamaTapeModel, ids: ArrayLike<number>, batch: number, seqLen: number): Value {
  const c = m.config;
  if (ids.length !== batch * seqLen) throw new Error(`${ids.length} ids for ${batch} sequences of ${seqLen}`);
  const positions = Int32Array.from({ length: ids.length }, (_, i) => i % seqLen);
  const invFreq = ropeInvFreq(c);
  let h = embedding(m.weight('model.embed_tokens.weight'), ids);
  for (let l = 0; l < c.numLayers; l++) {
    const p = layerPrefix(l);
    const n = rmsNorm(h, m.weight(`${p}input_layernorm.weight`), c.rmsNormEps);
    const q = rope(linear(m, n, `${p}self_attn.q_proj`), positions, c.headDim, invFreq);
    const k = rope(linear(m, n, `${p}self_attn.k_proj`), positions, c.headDim, invFreq);
    const v = linear(m, n, `${p}self_attn.v_proj`);
    const a = causalAttention(q, k, v, {
      batch,
      seqLen,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      window: c.slidingWindow ?? 0,
    });
    h = add(h, linear(m, a, `${p}self_attn.o_proj`));
    const n2 = rmsNorm(h, m.weight(`${p}post_attention_layernorm.weight`), c.rmsNormEps);
    const gated = mul(silu(linear(m, n2, `${p}mlp.gate_proj`)), linear(m, n2, `${p}mlp.up_proj`));
    h = add(h, linear(m, gated, `${p}mlp.down_proj`));
  }
  const f = rmsNorm(h, m.weight('model.norm.weight'), c.rmsNormEps);
  return c.tieWordEmbeddings ? loraLinear(f, m.weight('model.embed_tokens.weight'), 'out-in', null, null) : linear(m, f, 'lm_head');
}

/** Mean next-token cross-entropy: row t predicts ids[t + 1] of the same sequence; the last position of each is ignored. */
export function llamaLoss(m: LlamaTapeModel, ids: ArrayLike<number>, batch: number, seqLen: number): Value {
  const logits = llamaLogits(m, ids, batch, seqLen);
  const targets = Int32Array.from({ length: ids.length }, (_, i) => ((i + 1) % seqLen === 0 ? -100 : ids[i + 1]));
  return crossEntropy(logits, targets);
}

/** A frozen f32 model over stored tensors (the base), with the adapter's trained values when given. */
export function frozenModel(
  tape: Tape,
  config: CausalLmConfig,
  tensors: ReadonlyMap<string, Float32Array>,
  shapes: ReadonlyMap<string, readonly number[]>,
  trained?: ReadonlyMap<string, Value>,
): Omit<LlamaTapeModel, 'adapter' | 'lora'> {
  return {
    config,
    has: (name) => tensors.has(name),
    weight(name) {
      const t = trained?.get(name);
      if (t) return t;
      const w = tensors.get(name);
      if (!w) throw new Error(`the model has no tensor ${JSON.stringify(name)}`);
      const s = shapes.get(name)!;
      return tape.constant(w, s.length === 2 ? s[0] : 1, s.length === 2 ? s[1] : s[0], name);
    },
  };
}

/** Windows of seqLen ids cut from `tokens` (consecutive, non-overlapping), as the ids of `rows`. */
export function windowIds(tokens: ArrayLike<number>, seqLen: number, rows: ArrayLike<number>): Int32Array {
  const ids = new Int32Array(rows.length * seqLen);
  for (let i = 0; i < rows.length; i++) for (let j = 0; j < seqLen; j++) ids[i * seqLen + j] = tokens[rows[i] * seqLen + j];
  return ids;
}

function windowCount(tokens: ArrayLike<number>, seqLen: number): number {
  const windows = Math.floor(tokens.length / seqLen);
  if (windows < 1) throw new Error(`${tokens.length} tokens make no window of ${seqLen}`);
  return windows;
}

const f32Maps = (baseTensors: readonly Tensor[]) => ({
  f32: new Map(baseTensors.map((t) => [t.name, Float32Array.from(toFloat32(t))])),
  shapes: new Map(baseTensors.map((t) => [t.name, t.shape])),
});

/**
 * The steps of training a LoRA of the decoder in place on windows of seqLen tokens cut from
 * `tokens` (consecutive, non-overlapping), one per `next()` (loop.ts trainSteps); `resume`
 * carries on a run another engine began (the GPU's, after it failed).
 */
export function llamaAdapterSteps(
  config: CausalLmConfig,
  baseTensors: readonly Tensor[],
  adapter: Adapter,
  tokens: ArrayLike<number>,
  seqLen: number,
  opts: LoopOptions,
  resume?: AdamWState,
): Generator<StepReport, void, undefined> {
  const windows = windowCount(tokens, seqLen);
  const { f32, shapes } = f32Maps(baseTensors);
  return trainSteps(
    adapterParams(adapter),
    windows,
    (tape, values, rows, step) => {
      const model = { ...frozenModel(tape, config, f32, shapes, values), adapter, lora: values, dropoutKey: dropoutKeyOf(opts.seed, step) };
      return llamaLoss(model, windowIds(tokens, seqLen, rows), rows.length, seqLen);
    },
    opts,
    resume,
  );
}

/** Train a LoRA of the decoder in place (llamaAdapterSteps to the end); returns the loss per step. */
export function trainLlamaAdapter(
  config: CausalLmConfig,
  baseTensors: readonly Tensor[],
  adapter: Adapter,
  tokens: ArrayLike<number>,
  seqLen: number,
  opts: LoopOptions,
  onStep?: (r: StepReport) => void,
): StepReport[] {
  return runSteps(llamaAdapterSteps(config, baseTensors, adapter, tokens, seqLen, opts), onStep);
}

/**
 * Mean next-token cross-entropy over every window of `tokens` (no dropout), with the adapter's
 * LoRA beside its layers or, without one, of the base alone; `batch` windows per forward pass.
 */
export function llamaWindowLoss(
  config: CausalLmConfig,
  baseTensors: readonly Tensor[],
  adapter: Adapter | undefined,
  tokens: ArrayLike<number>,
  seqLen: number,
  batch = 8,
): number {
  const windows = windowCount(tokens, seqLen);
  const { f32, shapes } = f32Maps(baseTensors);
  let sum = 0;
  for (let w0 = 0; w0 < windows; w0 += batch) {
    const rows = Int32Array.from({ length: Math.min(batch, windows - w0) }, (_, i) => w0 + i);
    const tape = new Tape('f32');
    const params = adapter ? adapterParams(adapter) : [];
    const values = new Map(params.map((p) => [p.name, tape.constant(p.data, p.rows, p.cols, p.name)]));
    const model = { ...frozenModel(tape, config, f32, shapes, values), ...(adapter ? { adapter, lora: values } : {}) };
    sum += llamaLoss(model, windowIds(tokens, seqLen, rows), rows.length, seqLen).data[0] * rows.length;
  }
  return sum / windows;
}

/** How `garden generate --adapter` applies a LoRA: merged into the weights, or beside them in the graph. */
export const ADAPTER_MODES = Object.freeze({
  merged: "W + s·B·A in each weight's own dtype (PEFT's merge_and_unload)",
  unmerged: "(x·Aᵀ)·(s·Bᵀ) added beside each linear layer's MatMul in the decoder graph (PEFT's unmerged forward)",
} as const);
export type AdapterMode = keyof typeof ADAPTER_MODES;

/**
 * A PEFT LoRA adapter (garden- or PEFT-made) applied to a Llama-family model's tensors: the merged
 * tensors, or the base plus the transposed LoRA pairs the decoder graph adds beside its MatMuls.
 * An adapter bound to another species (garden.species in its metadata) is refused.
 */
export function applyLlamaAdapter(
  config: CausalLmConfig,
  tensors: readonly Tensor[],
  files: PeftFiles,
  mode: AdapterMode,
  species?: string,
): { tensors: Tensor[]; adapter: Adapter } {
  const adapter = importPeft(files, llamaSites(config), new Map(tensors.map((t) => [t.name, t])));
  if (adapter.species && species && adapter.species !== species)
    throw new PeftError(`the adapter was trained on species ${adapter.species.slice(0, 12)}…, this model is ${species.slice(0, 12)}…`);
  if (adapter.lora.size === 0 && adapter.saved.size === 0) throw new PeftError('the adapter has no LoRA pair and no saved module');
  return { tensors: mode === 'merged' ? mergeAdapter(tensors, adapter) : loraGraphTensors(tensors, adapter), adapter };
}
