/**
 * The ONNX decoder of a Llama-family causal LM, generated from its config (llama-config.ts), with a
 * KV cache, in standard ONNX ops only (opset 17) so that it runs on onnxruntime-web's wasm EP.
 *
 * Inputs:  input_ids int64 [batch, sequence], position_ids int64 [batch, sequence],
 *          past_key_values.{i}.key / .value float [batch, kv_heads, past_sequence, head_dim]
 *          (past_sequence 0 on the first call).
 * Outputs: logits float [batch, sequence, vocab],
 *          present.{i}.key / .value float [batch, kv_heads, past_sequence + sequence, head_dim].
 * The names are the ones Optimum's exports use.
 *
 * Weights are never inside the graph: each is an initializer in its stored dtype (FLOAT, FLOAT16,
 * BFLOAT16) with external data named by its Hugging Face tensor name, cast to float where it is
 * not F32, so one graph serves every model of a species (see onnx-graph.ts). Structural constants
 * (RoPE inverse frequencies, reshape targets, ε) are Constant nodes.
 *
 * Per layer, exactly the reference (llama.ts): RMSNorm as x·1/√(mean(x²)+ε)·w; q/k/v = MatMul with
 * the transposed weight (+ bias); RoPE with rotate_half from cos/sin of position·inv_freq; keys and
 * values appended to the past; grouped-query attention by reshaping the query heads into
 * [kv_heads, heads/kv_heads] groups against unsqueezed keys (no copies of the cache); the causal
 * (and sliding-window) mask from absolute positions past_sequence + t, masked scores set to
 * float32's lowest value before Softmax; SwiGLU as gate·Sigmoid(gate)·up.
 *
 * The "fused" variant uses SimplifiedLayerNormalization and GroupQueryAttention (below).
 *
 * A quantized model (garden quantize: "W.q" I8 or I4 [out, in] + "W.scales" F32 [out, ceil(in / B)],
 * quantize.cpu.ts) keeps those tensors as they are stored: each becomes one blocked
 * DequantizeLinear (axis 1, block_size B = config.quantBlockSize) feeding the MatMul, and the graph
 * is written at opset 21 (IR 10; ReduceMean then takes its axes as an input). Nothing is
 * dequantized on the host; onnxruntime does not constant-fold DequantizeLinear.
 *
 * A LoRA adapter applied without merging (PEFT's unmerged forward) travels as two more tensors per
 * module, "<module>.lora_A.T" [in, r] and "<module>.lora_B.sT" [r, out] (lora-graph.ts
 * loraGraphTensors); where they are among the tensors, that linear layer gets (x·Aᵀ)·(s·Bᵀ) added.
 */
import onnxProto from 'onnx-proto';
import { byteLength, type DType } from '../tensor.ts';
import { layerPrefix, ropeInvFreq, type CausalLmConfig } from './llama-config.ts';
import { loraGraphNames } from '../train/lora-graph.ts';
import { isQuantizedModel, quantizedWeights, type QuantizedWeight } from './quantized-graph.ts';
import { QUANT_SUFFIX } from '../operators/quantize.cpu.ts';

const { onnx } = onnxProto;
type INode = onnxProto.onnx.INodeProto;
type ITensor = onnxProto.onnx.ITensorProto;
type IAttr = onnxProto.onnx.IAttributeProto;

export const LLAMA_GRAPH_OPSET = 17;
const IR_VERSION = 8;
/** A quantized decoder's opset: blocked DequantizeLinear (INT8, INT4) needs 21, and IR 10. */
export const LLAMA_QUANT_GRAPH_OPSET = 21;
const QUANT_IR_VERSION = 10;
export const T = { float: 1, uint8: 2, int8: 3, int64: 7, bool: 9, float16: 10, bfloat16: 16, int4: 22 } as const;
const WEIGHT_TYPES: Partial<Record<DType, number>> = { F32: T.float, F16: T.float16, BF16: T.bfloat16 };
const QUANT_TYPES: Partial<Record<DType, number>> = { I8: T.int8, I4: T.int4 };
/** torch.finfo(torch.float32).min, what transformers fills masked scores with. */
const FLOAT32_LOWEST = -3.4028234663852886e38;

export const pastKeyName = (i: number) => `past_key_values.${i}.key`;
export const pastValueName = (i: number) => `past_key_values.${i}.value`;
export const presentKeyName = (i: number) => `present.${i}.key`;
export const presentValueName = (i: number) => `present.${i}.value`;

export type AttrValue = number | number[] | { float: number } | { type: 'to'; value: number };

/** Nodes, constants and external weights of a decoder graph (shared by the Llama and GPT-2 builders). */
export class GraphBuilder {
  readonly nodes: INode[] = [];
  readonly initializers: ITensor[] = [];
  private n = 0;

  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.nodeOutputs(op, inputs, [name ?? `${op.toLowerCase()}_${this.n}`], attrs)[0];
  }

  /** A node with several outputs, or in another domain (com.microsoft). */
  nodeOutputs(op: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string[] {
    const attribute: IAttr[] = Object.entries(attrs).map(([k, v]) => {
      if (Array.isArray(v)) return { name: k, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
      if (typeof v === 'number') return { name: k, type: onnx.AttributeProto.AttributeType.INT, i: v };
      if ('float' in v) return { name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.float };
      return { name: k, type: onnx.AttributeProto.AttributeType.INT, i: v.value };
    });
    this.nodes.push({ name: `n${this.n++}_${op}`, opType: op, domain, input: inputs, output: outputs, attribute });
    return outputs;
  }

  private constant(dataType: number, dims: number[], raw: Uint8Array): string {
    const out = `const_${this.n}`;
    const value: ITensor = { dims, dataType, rawData: raw };
    this.nodes.push({
      name: `n${this.n++}_Constant`,
      opType: 'Constant',
      input: [],
      output: [out],
      attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: value }],
    });
    return out;
  }

  i64(values: number[], scalar = false): string {
    const raw = new Uint8Array(8 * values.length);
    const dv = new DataView(raw.buffer);
    values.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
    return this.constant(T.int64, scalar ? [] : [values.length], raw);
  }

  f32(values: Float32Array | number[], scalar = false): string {
    const f = Float32Array.from(values);
    return this.constant(T.float, scalar ? [] : [f.length], new Uint8Array(f.buffer));
  }

  /** A weight as external data named by its tensor; returns a float value (cast when stored narrower). */
  weight(name: string, dtype: DType, shape: number[]): string {
    const dataType = WEIGHT_TYPES[dtype];
    if (dataType === undefined)
      throw new Error(`weight ${JSON.stringify(name)} is ${dtype}; the decoder takes ${Object.keys(WEIGHT_TYPES).join(', ')}`);
    this.external(name, dataType, dtype, shape);
    return dtype === 'F32' ? name : this.node('Cast', [name], { to: { type: 'to', value: T.float } });
  }

  /**
   * A weight stored quantized ("W.q" I8/I4 [N, K], "W.scales" F32 [N, ceil(K / B)]), as external
   * data: one blocked DequantizeLinear (axis 1, block_size B) inside the graph, so the session keeps
   * the quantized bytes and dequantizes on each run (onnxruntime does not constant-fold it).
   */
  quantizedWeight(q: QuantizedWeight, dtype: DType, blockSize: number): string {
    const qName = q.name + QUANT_SUFFIX.q;
    const sName = q.name + QUANT_SUFFIX.scales;
    this.external(qName, QUANT_TYPES[dtype] as number, dtype, q.shape);
    this.external(sName, T.float, 'F32', [q.rows, q.blocks]);
    return this.node('DequantizeLinear', [qName, sName], { axis: q.shape.length - 1, block_size: blockSize });
  }

  /**
   * y = x·Wᵀ by MatMulNBits (com.microsoft) from the same stored bytes: "W.q" read as UINT8
   * [N, K / B, B·bits / 8] (the flat nibble / byte order is MatMulNBits' when B | K), its signed
   * values made unsigned by one BitwiseXor (0x88 for int4, 0x80 for int8: q + 2^(bits−1), the
   * default zero point), "W.scales" reshaped to [N · K / B]. onnxruntime folds the XOR once into
   * packed bytes; the float weight never exists.
   *
   * accuracy_level stays 0 (float activations): 4 would let a native build quantize the activations
   * to int8 (MLAS CompInt8), which the reference does not do; onnxruntime-web 1.30's wasm build has
   * no QNBitGemm kernels at all, so there either level dequantizes the whole weight per call
   * (ComputeBUnpacked) and 4 is measured no faster (bench/lm.ts).
   */
  matMulNBits(x: string, q: QuantizedWeight, dtype: DType, blockSize: number): string {
    const bits = dtype === 'I4' ? 4 : 8;
    const qName = q.name + QUANT_SUFFIX.q;
    const sName = q.name + QUANT_SUFFIX.scales;
    // Declared as the session hands stored tensors over (I8: its shape; I4: its packed bytes), then reshaped.
    this.external(qName, T.uint8, 'I8', bits === 4 ? [(q.rows * q.cols) / 2] : q.shape);
    this.external(sName, T.float, 'F32', [q.rows, q.blocks]);
    const flip = this.constant(T.uint8, [], Uint8Array.of(bits === 4 ? 0x88 : 0x80));
    const blobs = this.i64([q.rows, q.blocks, (blockSize * bits) / 8]);
    const packed = this.node('Reshape', [this.node('BitwiseXor', [qName, flip]), blobs]);
    const scales = this.node('Reshape', [sName, this.i64([-1])]);
    const attrs = { K: q.cols, N: q.rows, bits, block_size: blockSize, accuracy_level: 0 };
    return this.nodeOutputs('MatMulNBits', [x, packed, scales], [`matmulnbits_${this.n}`], attrs, 'com.microsoft')[0];
  }

  /** Positions: past length P (from past_key_values.0.key), sequence length, total P + sequence as a scalar; query t sits at P + t. */
  positions(): { seq: string; past: string; axis0: string; totalScalar: string; zero: string; one: string } {
    const seq = this.node('Shape', ['input_ids'], { start: 1, end: 2 });
    const past = this.node('Shape', [pastKeyName(0)], { start: 2, end: 3 });
    const axis0 = this.i64([0]);
    const totalScalar = this.node('Squeeze', [this.node('Add', [past, seq]), axis0]);
    return { seq, past, axis0, totalScalar, zero: this.i64([0], true), one: this.i64([1], true) };
  }

  /** The model around the nodes: Optimum's cache inputs and outputs (input_ids, position_ids, past/present per layer, logits). */
  model(o: {
    numLayers: number;
    kvHeads: number;
    headDim: number;
    vocabSize: number;
    irVersion: number;
    opsets: { domain: string; version: number }[];
    docString: string;
  }): Uint8Array {
    const value = (name: string, elemType: number, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto => ({
      name,
      type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
    const inputs = [value('input_ids', T.int64, ['batch', 'sequence']), value('position_ids', T.int64, ['batch', 'sequence'])];
    const outputs = [value('logits', T.float, ['batch', 'sequence', o.vocabSize])];
    for (let l = 0; l < o.numLayers; l++) {
      inputs.push(
        value(pastKeyName(l), T.float, ['batch', o.kvHeads, 'past_sequence', o.headDim]),
        value(pastValueName(l), T.float, ['batch', o.kvHeads, 'past_sequence', o.headDim]),
      );
      outputs.push(
        value(presentKeyName(l), T.float, ['batch', o.kvHeads, 'total_sequence', o.headDim]),
        value(presentValueName(l), T.float, ['batch', o.kvHeads, 'total_sequence', o.headDim]),
      );
    }
    const model = onnx.ModelProto.create({
      irVersion: o.irVersion,
      producerName: 'slm-garden',
      producerVersion: '1',
      opsetImport: o.opsets,
      docString: o.docString,
      graph: { name: 'causal_lm', node: this.nodes, initializer: this.initializers, input: inputs, output: outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private external(name: string, dataType: number, dtype: DType, shape: number[]): void {
    this.initializers.push({
      name,
      dims: shape,
      dataType,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: name },
        { key: 'offset', value: '0' },
        { key: 'length', value: String(byteLength(dtype, shape)) },
      ],
    });
  }
}

export interface LlamaGraphWeight {
  name: string;
  dtype: DType;
  shape: number[];
}

/**
 * How the decoder is written. "standard": ONNX ops only. "fused": onnxruntime's contrib ops where
 * its wasm EP runs them (probed on 1.30): SimplifiedLayerNormalization for every RMSNorm, and
 * GroupQueryAttention with its own rotary embedding (do_rotary, cos/sin caches computed from the
 * same inverse frequencies) when head_dim is a multiple of 16 (its CPU kernel's requirement;
 * other head sizes keep the standard attention). Both are checked against the reference.
 */
export const LLAMA_GRAPH_VARIANTS = Object.freeze({
  standard: 'standard ONNX ops (opset 17)',
  fused: 'SimplifiedLayerNormalization and GroupQueryAttention (com.microsoft) where onnxruntime-web wasm runs them',
} as const);
export type LlamaGraphVariant = keyof typeof LLAMA_GRAPH_VARIANTS;

/** GroupQueryAttention's CPU kernel refuses other head sizes (with its rotary embedding: multiples of 16). */
export const fusedAttention = (c: CausalLmConfig, variant: LlamaGraphVariant) => variant === 'fused' && c.headDim % 16 === 0;

/** Serialize the decoder for a config and the model's tensor specs (their dtypes decide the casts). Deterministic. */
export function buildLlamaGraph(
  c: CausalLmConfig,
  tensors: readonly LlamaGraphWeight[],
  variant: LlamaGraphVariant = 'standard',
): Uint8Array {
  if (!Object.prototype.hasOwnProperty.call(LLAMA_GRAPH_VARIANTS, variant))
    throw new Error(`unknown decoder variant ${JSON.stringify(variant)}; valid: ${Object.keys(LLAMA_GRAPH_VARIANTS).join(', ')}`);
  const g = new GraphBuilder();
  const specs = new Map(tensors.map((t) => [t.name, t]));
  // Weights stored quantized (quantize.cpu.ts layout, block size from the config): DequantizeLinear at opset 21.
  const quantized = isQuantizedModel(tensors);
  if (quantized && c.quantBlockSize === undefined)
    throw new Error('the model stores quantized weights but its config names no block size (garden.quant.blockSize)');
  const quant = new Map(quantized ? quantizedWeights(tensors, c.quantBlockSize as number).map((q) => [q.name, q]) : []);
  const opset = quantized ? LLAMA_QUANT_GRAPH_OPSET : LLAMA_GRAPH_OPSET;
  // The fused variant takes a quantized linear weight by MatMulNBits where its layout allows (B a power of two ≥ 16 dividing K).
  const nBits = (q: QuantizedWeight) => {
    const b = c.quantBlockSize as number;
    return variant === 'fused' && b >= 16 && (b & (b - 1)) === 0 && q.cols % b === 0 && q.shape.length === 2;
  };
  const weights = new Map<string, string>();
  const w = (name: string): string => {
    let v = weights.get(name);
    if (v === undefined) {
      const s = specs.get(name);
      const q = quant.get(name);
      if (q) v = g.quantizedWeight(q, (specs.get(name + QUANT_SUFFIX.q) as LlamaGraphWeight).dtype, c.quantBlockSize as number);
      else if (!s) throw new Error(`the model has no tensor ${JSON.stringify(name)} that the decoder needs`);
      else v = g.weight(s.name, s.dtype, s.shape);
      weights.set(name, v);
    }
    return v;
  };
  const has = (name: string) => specs.has(name) || quant.has(name);
  const { hiddenSize: H, headDim: D, numHeads, numKvHeads, numLayers } = c;
  const rep = numHeads / numKvHeads;
  const half = D / 2;

  const linear = (x: string, prefix: string, bias: boolean): string => {
    const qw = quant.get(`${prefix}.weight`);
    const mm =
      qw && nBits(qw)
        ? g.matMulNBits(x, qw, (specs.get(qw.name + QUANT_SUFFIX.q) as LlamaGraphWeight).dtype, c.quantBlockSize as number)
        : g.node('MatMul', [x, g.node('Transpose', [w(`${prefix}.weight`)], { perm: [1, 0] })]);
    const y = bias && has(`${prefix}.bias`) ? g.node('Add', [mm, w(`${prefix}.bias`)]) : mm;
    // An unmerged LoRA (lora-graph.ts): y + (x·Aᵀ)·(s·Bᵀ), when the tensors carry the module's pair.
    const lora = loraGraphNames(prefix);
    return has(lora.a) ? g.node('Add', [y, g.node('MatMul', [g.node('MatMul', [x, w(lora.a)]), w(lora.b)])]) : y;
  };
  const eps = variant === 'fused' ? '' : g.f32([c.rmsNormEps], true);
  const rmsNorm = (x: string, weight: string): string => {
    if (variant === 'fused')
      return g.node('SimplifiedLayerNormalization', [x, w(weight)], { axis: -1, epsilon: { float: c.rmsNormEps }, stash_type: 1 });
    // ReduceMean takes its axes as an input from opset 18.
    const sq = g.node('Mul', [x, x]);
    const ms =
      opset >= 18 ? g.node('ReduceMean', [sq, g.i64([-1])], { keepdims: 1 }) : g.node('ReduceMean', [sq], { axes: [-1], keepdims: 1 });
    const inv = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [ms, eps])])]);
    return g.node('Mul', [w(weight), g.node('Mul', [x, inv])]);
  };

  const { seq, past, axis0, totalScalar, zero, one } = g.positions();
  const axis1 = g.i64([1]);
  const toFloat = { to: { type: 'to' as const, value: T.float } };

  /** Attention of layer l on the normalized hidden state n: [batch, sequence, heads × head_dim]; writes present.l.*. */
  let attention: (n: string, l: number) => string;
  if (fusedAttention(c, variant)) {
    // GroupQueryAttention with its own rotary embedding: cos/sin caches [total, head_dim / 2] for
    // positions 0…total − 1, seqlens_k = total − 1 per batch row, total_sequence_length (int32).
    const toInt32 = { to: { type: 'to' as const, value: 6 } };
    const positions = g.node('Unsqueeze', [g.node('Cast', [g.node('Range', [zero, totalScalar, one])], toFloat), axis1]);
    const table = g.node('Mul', [positions, g.f32(ropeInvFreq(c))]);
    const batch = g.node('Shape', ['input_ids'], { start: 0, end: 1 });
    const seqlens = g.node('Expand', [g.node('Cast', [g.node('Sub', [g.node('Add', [past, seq]), g.i64([1])])], toInt32), batch]);
    const shared = [seqlens, g.node('Cast', [totalScalar], toInt32), g.node('Cos', [table]), g.node('Sin', [table])];
    const attrs: Record<string, AttrValue> = {
      num_heads: numHeads,
      kv_num_heads: numKvHeads,
      do_rotary: 1,
      rotary_interleaved: 0,
      scale: { float: 1 / Math.sqrt(D) },
    };
    if (c.slidingWindow !== null) attrs.local_window_size = c.slidingWindow;
    attention = (n, l) => {
      const p = layerPrefix(l);
      const qkv = [
        linear(n, `${p}self_attn.q_proj`, c.qkvBias),
        linear(n, `${p}self_attn.k_proj`, c.qkvBias),
        linear(n, `${p}self_attn.v_proj`, c.qkvBias),
      ];
      return g.nodeOutputs(
        'GroupQueryAttention',
        [...qkv, pastKeyName(l), pastValueName(l), ...shared],
        [`attention_${l}`, presentKeyName(l), presentValueName(l)],
        attrs,
        'com.microsoft',
      )[0];
    };
  } else {
    const pastScalar = g.node('Squeeze', [past, axis0]);
    const keyPos = g.node('Unsqueeze', [g.node('Range', [zero, totalScalar, one]), g.i64([0])]);
    const queryPos = g.node('Unsqueeze', [g.node('Range', [pastScalar, totalScalar, one]), axis1]);
    let mask = g.node('Greater', [keyPos, queryPos]);
    if (c.slidingWindow !== null) {
      const tooOld = g.node('LessOrEqual', [keyPos, g.node('Sub', [queryPos, g.i64([c.slidingWindow], true)])]);
      mask = g.node('Or', [mask, tooOld]);
    }
    const lowest = g.f32([FLOAT32_LOWEST], true);
    const scale = g.f32([1 / Math.sqrt(D)], true);

    // RoPE tables [batch, 1, sequence, head_dim].
    const posF = g.node('Unsqueeze', [g.node('Cast', ['position_ids'], toFloat), g.i64([2])]);
    const freqs = g.node('Mul', [posF, g.f32(ropeInvFreq(c))]);
    const emb = g.node('Concat', [freqs, freqs], { axis: -1 });
    const cos = g.node('Unsqueeze', [g.node('Cos', [emb]), axis1]);
    const sin = g.node('Unsqueeze', [g.node('Sin', [emb]), axis1]);
    const lowHalf = [g.i64([0]), g.i64([half]), g.i64([3])];
    const highHalf = [g.i64([half]), g.i64([D]), g.i64([3])];
    const rope = (x: string) => {
      const x1 = g.node('Slice', [x, ...lowHalf]);
      const x2 = g.node('Slice', [x, ...highHalf]);
      const rotated = g.node('Concat', [g.node('Neg', [x2]), x1], { axis: 3 });
      return g.node('Add', [g.node('Mul', [x, cos]), g.node('Mul', [rotated, sin])]);
    };
    const heads = (x: string, n: number) => g.node('Transpose', [g.node('Reshape', [x, g.i64([0, 0, n, D])])], { perm: [0, 2, 1, 3] });
    const groupedQ = g.i64([0, numKvHeads, rep, -1, D]);
    const ungroup = g.i64([0, numHeads, -1, D]);
    const merged = g.i64([0, 0, numHeads * D]);
    const axis2 = g.i64([2]);
    attention = (n, l) => {
      const p = layerPrefix(l);
      const q = rope(heads(linear(n, `${p}self_attn.q_proj`, c.qkvBias), numHeads));
      const k = rope(heads(linear(n, `${p}self_attn.k_proj`, c.qkvBias), numKvHeads));
      const v = heads(linear(n, `${p}self_attn.v_proj`, c.qkvBias), numKvHeads);
      const keys = g.node('Concat', [pastKeyName(l), k], { axis: 2 }, presentKeyName(l));
      const values = g.node('Concat', [pastValueName(l), v], { axis: 2 }, presentValueName(l));
      const kT = g.node('Transpose', [g.node('Unsqueeze', [keys, axis2])], { perm: [0, 1, 2, 4, 3] });
      const scores = g.node('Mul', [g.node('MatMul', [g.node('Reshape', [q, groupedQ]), kT]), scale]);
      const probs = g.node('Softmax', [g.node('Where', [mask, lowest, scores])], { axis: -1 });
      const ctx = g.node('MatMul', [probs, g.node('Unsqueeze', [values, axis2])]);
      return g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [ctx, ungroup])], { perm: [0, 2, 1, 3] }), merged]);
    };
  }

  let h = g.node('Gather', [w('model.embed_tokens.weight'), 'input_ids'], { axis: 0 });
  for (let l = 0; l < numLayers; l++) {
    const p = layerPrefix(l);
    const attn = attention(rmsNorm(h, `${p}input_layernorm.weight`), l);
    h = g.node('Add', [h, linear(attn, `${p}self_attn.o_proj`, c.oBias)]);
    const n2 = rmsNorm(h, `${p}post_attention_layernorm.weight`);
    const gate = linear(n2, `${p}mlp.gate_proj`, c.mlpBias);
    const up = linear(n2, `${p}mlp.up_proj`, c.mlpBias);
    const act = g.node('Mul', [g.node('Mul', [gate, g.node('Sigmoid', [gate])]), up]);
    h = g.node('Add', [h, linear(act, `${p}mlp.down_proj`, c.mlpBias)]);
  }
  const final = rmsNorm(h, 'model.norm.weight');
  const head = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  if (has(loraGraphNames('lm_head').a) || quant.has('lm_head.weight')) g.node('Identity', [linear(final, 'lm_head', false)], {}, 'logits');
  else g.node('MatMul', [final, g.node('Transpose', [w(head)], { perm: [1, 0] })], {}, 'logits');

  return g.model({
    numLayers,
    kvHeads: numKvHeads,
    headDim: D,
    vocabSize: c.vocabSize,
    irVersion: quantized ? QUANT_IR_VERSION : IR_VERSION,
    opsets: [{ domain: '', version: opset }, ...(variant === 'fused' ? [{ domain: 'com.microsoft', version: 1 }] : [])],
    docString: `${c.architecture} decoder with KV cache (${numLayers} layers, hidden ${H}, ${numHeads} heads / ${numKvHeads} kv heads)`,
  });
}
