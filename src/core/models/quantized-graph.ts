/**
 * Quantized candidates that run quantized: rewrite a weight-free species graph so that every weight
 * W the model stores as "W.q" + "W.scales" (src/core/operators/quantize.cpu.ts) is dequantized
 * inside onnxruntime from those tensors, instead of being handed to it as float32.
 *
 * Layout (quantize.cpu.ts): a tensor of n elements with last dimension C has R = n / C rows; each
 * row is split into nb = ceil(C / B) blocks of B elements (the last one shorter when B ∤ C);
 * "W.scales" is F32 [R, nb]; "W.q" is I8 with W's shape, or I4 (two signed nibbles per byte, low
 * nibble first, over the flat element index) — ceil(n / 2) bytes.
 *
 * Two lowerings (QUANT_GRAPH_OPS), both checked bit for bit against `dequantizeModel` in
 * onnxruntime-web 1.30's wasm EP:
 *
 * - "dequantize-linear": one blocked DequantizeLinear (opset 21: axis = last, block_size = B) per
 *   weight, from W.q as INT8 or INT4 [..shape] external data. The graph's opset is raised to 21
 *   (IR ≥ 10), which is allowed only when every op of the graph means the same at 21
 *   (OPSET21_STABLE_OPS). onnxruntime does not constant-fold DequantizeLinear, so the session keeps
 *   the weights quantized and dequantizes them on each run.
 * - "cast": the graph keeps its opset (≥ 13) and uses only Cast, Reshape, Mul, Expand, Slice,
 *   Concat, Div and Sub:
 *     int8:  W.q (INT8 [..shape]) → Cast(float)                                          → qf [n]
 *     int4:  W.q (UINT8 [ceil(n/2)]) → Cast(int64) → hi = p / 16, lo = p − 16·hi
 *            → Concat([lo, hi], axis 1) → Reshape [2·ceil(n/2)] (→ Slice [0, n) when n is odd)
 *            → v − 16·(v / 8)  (signed nibble) → Cast(float)                            → qf [n]
 *     B | C: Reshape(qf, [R, nb, B]) · Reshape(W.scales, [R, nb, 1]) → Reshape(W's shape) → W
 *     B ∤ C: Reshape(W.scales, [R, nb, 1]) → Expand [R, nb, B] → Reshape [R, nb·B] → Slice [0, C)
 *            on axis 1, times Reshape(qf, [R, C]) → Reshape(W's shape) → W
 *   onnxruntime may fold this once when the session is created (float weights in memory).
 * "auto" (the default) picks "dequantize-linear" when the graph allows it, else "cast".
 *
 * Every product is one float32 multiplication q·s, so the weights the graph computes are bit for
 * bit `dequantizeModel`'s. Structural constants are int64 raw data inside the graph (so
 * `inspectOnnxGraph(...).embeddedWeights` stays empty); the quantized tensors are external data
 * named by tensor, as every garden graph's weights are.
 */
import onnxProto from 'onnx-proto';
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { speciesId, speciesSignature, type SpeciesSignature } from '../format/slm.ts';
import { numel, type DType } from '../tensor.ts';
import { QUANT_KEYS, QUANT_SUFFIX, type QuantScheme } from '../operators/quantize.cpu.ts';
import { ONNX_ELEMENT_TYPES } from './onnx-graph.ts';

const { onnx } = onnxProto;
type INode = onnxProto.onnx.INodeProto;
type ITensor = onnxProto.onnx.ITensorProto;

/** The stored dtypes of "W.q" and the scheme each means. */
export const QUANT_DTYPE_SCHEMES = Object.freeze({ I8: 'int8', I4: 'int4' } as const satisfies Partial<Record<DType, QuantScheme>>);

/** The lowest default-domain opset the rewrite is written for. */
export const QUANT_GRAPH_MIN_OPSET = 13;

const INT8 = 3;
const INT4 = 22;
const DQ_OPSET = 21;
const DQ_IR_VERSION = 10;

/** How the dequantization is written into the graph. */
export const QUANT_GRAPH_OPS = Object.freeze({
  auto: 'dequantize-linear when every op of the graph means the same at opset 21, else cast',
  'dequantize-linear': 'one blocked DequantizeLinear per weight (opset 21); the session keeps the weights quantized',
  cast: "Cast/Reshape/Mul (int4: Div/Sub nibble unpacking) at the graph's own opset (≥ 13)",
} as const);
export type QuantGraphOp = keyof typeof QUANT_GRAPH_OPS;

/** `.slm` metadata key recording the lowering a quantized candidate's graph was written with. */
export const QUANT_GRAPH_OP_KEY = 'garden.quant.graphOp';

/** The lowering a quantized `.slm` records (QUANT_GRAPH_OP_KEY), "auto" when it records none. */
export function recordedQuantGraphOp(metadata: Readonly<Record<string, string>>): QuantGraphOp {
  return quantGraphOp(metadata[QUANT_GRAPH_OP_KEY] ?? 'auto');
}

export function quantGraphOp(x: unknown): QuantGraphOp {
  if (typeof x === 'string' && Object.prototype.hasOwnProperty.call(QUANT_GRAPH_OPS, x)) return x as QuantGraphOp;
  throw new Error(`unknown quantized graph op ${JSON.stringify(x)}; valid: ${Object.keys(QUANT_GRAPH_OPS).join(', ')}`);
}

/**
 * Default-domain ops whose meaning for a graph written at opset 13…20 is the same at opset 21 (the
 * versions between only add types, or attributes whose defaults keep the old behaviour), so such a
 * graph may be raised to 21 for DequantizeLinear.
 */
export const OPSET21_STABLE_OPS: ReadonlySet<string> = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'MatMul',
  'Gemm',
  'Relu',
  'Gather',
  'Reshape',
  'Concat',
  'Transpose',
  'Identity',
  'Flatten',
  'Softmax',
  'LogSoftmax',
  'Tanh',
  'Sigmoid',
  'Cast',
  'Unsqueeze',
  'Squeeze',
  'Slice',
  'Expand',
  'Sqrt',
  'Erf',
  'Where',
  'DequantizeLinear',
]);

export interface TensorSignature {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

/** One weight the model stores quantized, with its block layout. */
export interface QuantizedWeight {
  /** The weight's name in the graph ("fc1.weight"); the model stores name + ".q" and name + ".scales". */
  name: string;
  scheme: QuantScheme;
  shape: number[];
  rows: number;
  cols: number;
  blocks: number;
}

/** Does this model store any tensor quantized ("<name>.q" with "<name>.scales")? */
export function isQuantizedModel(tensors: readonly TensorSignature[]): boolean {
  const names = new Set(tensors.map((t) => t.name));
  return tensors.some((t) => t.name.endsWith(QUANT_SUFFIX.q) && names.has(t.name.slice(0, -QUANT_SUFFIX.q.length) + QUANT_SUFFIX.scales));
}

/** The block size a quantized `.slm` records in its metadata (QUANT_KEYS.blockSize). */
export function quantBlockSize(metadata: Readonly<Record<string, string>>): number {
  const raw = metadata[QUANT_KEYS.blockSize];
  const b = Number(raw);
  if (raw === undefined || !/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(b)) {
    throw new Error(`quantized model metadata ${QUANT_KEYS.blockSize} is ${JSON.stringify(raw ?? null)}, expected a positive integer`);
  }
  return b;
}

/**
 * The quantized weights of a model, checked against the block layout: "W.q" is I8 or I4 with W's
 * shape (rank ≥ 1, no zero dimension) and "W.scales" is F32 [R, ceil(C / blockSize)].
 */
export function quantizedWeights(tensors: readonly TensorSignature[], blockSize: number): QuantizedWeight[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`quantized graph: block size ${blockSize} must be a positive integer`);
  const by = new Map(tensors.map((t) => [t.name, t]));
  const out: QuantizedWeight[] = [];
  for (const t of tensors) {
    if (!t.name.endsWith(QUANT_SUFFIX.q)) continue;
    const name = t.name.slice(0, -QUANT_SUFFIX.q.length);
    const s = by.get(name + QUANT_SUFFIX.scales);
    if (!s) continue;
    if (by.has(name))
      throw new Error(`quantized graph: the model has both "${name}" and "${t.name}"; a weight is stored either float or quantized`);
    if (!Object.prototype.hasOwnProperty.call(QUANT_DTYPE_SCHEMES, t.dtype)) {
      throw new Error(
        `quantized graph: "${t.name}" has dtype ${t.dtype}; quantized tensors are: ${Object.keys(QUANT_DTYPE_SCHEMES).join(', ')}`,
      );
    }
    const scheme = QUANT_DTYPE_SCHEMES[t.dtype as keyof typeof QUANT_DTYPE_SCHEMES];
    const shape = [...t.shape];
    const n = numel(shape);
    if (shape.length < 1 || n === 0)
      throw new Error(`quantized graph: "${t.name}" has shape [${shape}]; a quantized tensor needs rank ≥ 1 and at least one element`);
    const cols = shape[shape.length - 1];
    const rows = n / cols;
    const blocks = Math.ceil(cols / blockSize);
    if (s.dtype !== 'F32' || s.shape.length !== 2 || s.shape[0] !== rows || s.shape[1] !== blocks) {
      throw new Error(
        `quantized graph: "${s.name}" is ${s.dtype} [${s.shape}] but "${t.name}" [${shape}] with block size ${blockSize} needs F32 [${rows},${blocks}]`,
      );
    }
    out.push({ name, scheme, shape, rows, cols, blocks });
  }
  return out;
}

/**
 * The tensor signature the model has once dequantized: each "W.q" + "W.scales" pair becomes an F32
 * "W" of W.q's shape; other tensors are unchanged. A quantized member of a family has the family's
 * species over this signature (with the family's graph hash and labels), whatever species its
 * own file records.
 */
export function dequantizedSpecs(tensors: readonly TensorSignature[]): { name: string; dtype: DType; shape: number[] }[] {
  const names = new Set(tensors.map((t) => t.name));
  const base = (t: TensorSignature, suffix: string) => (t.name.endsWith(suffix) ? t.name.slice(0, -suffix.length) : null);
  const out: { name: string; dtype: DType; shape: number[] }[] = [];
  for (const t of tensors) {
    const ws = base(t, QUANT_SUFFIX.scales);
    if (ws !== null && names.has(ws + QUANT_SUFFIX.q)) continue;
    const wq = base(t, QUANT_SUFFIX.q);
    if (wq !== null && names.has(wq + QUANT_SUFFIX.scales)) out.push({ name: wq, dtype: 'F32', shape: [...t.shape] });
    else out.push({ name: t.name, dtype: t.dtype, shape: [...t.shape] });
  }
  return out;
}

/**
 * The species a model has as a member of a family: the species of its dequantized signature
 * (`dequantizedSpecs`) with the family's graph hash and label set (or tokenizer vocabulary). For a
 * model stored unquantized this is the species of its own tensors over the family graph; a
 * quantized model belongs to the family when this equals the family's species, whatever species
 * its own file records (that one binds its rewritten graph). Only names, dtypes and shapes are read.
 */
export function familySpeciesOf(tensors: readonly TensorSignature[], familyGraphHash: Sha256Hex, labels: readonly string[]): Sha256Hex {
  return speciesId(speciesSignature(dequantizedSpecs(tensors), familyGraphHash, [...labels]));
}

function external(name: string, dataType: number, dims: number[], length: number): ITensor {
  return {
    name,
    dims,
    dataType,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: name },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(length) },
    ],
  };
}

function int64Const(name: string, dims: number[], values: number[]): ITensor {
  const raw = new Uint8Array(8 * values.length);
  const dv = new DataView(raw.buffer);
  values.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
  return { name, dims, dataType: ONNX_ELEMENT_TYPES.int64, rawData: raw };
}

/** The nodes and constants that compute weight `w.name` (of ONNX element type `outType`) from "W.q" and "W.scales". */
function dequantizer(w: QuantizedWeight, blockSize: number, outType: number): { nodes: INode[]; consts: ITensor[] } {
  const p = `${w.name}/dq/`;
  const nodes: INode[] = [];
  const consts: ITensor[] = [];
  const node = (op: string, inputs: string[], out: string, attribute: onnxProto.onnx.IAttributeProto[] = []): string => {
    nodes.push({ name: `${p}${op.toLowerCase()}_${nodes.length}`, opType: op, input: inputs, output: [out], attribute });
    return out;
  };
  const konst = (what: string, values: number[], scalar = false): string => {
    consts.push(int64Const(p + what, scalar ? [] : [values.length], values));
    return p + what;
  };
  const castTo = (to: number) => [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: to }];
  const n = numel(w.shape);
  const qName = w.name + QUANT_SUFFIX.q;
  const sName = w.name + QUANT_SUFFIX.scales;
  const { rows, cols, blocks } = w;

  let qf: string;
  if (w.scheme === 'int8') {
    qf = node('Cast', [qName], p + 'q_f32', castTo(ONNX_ELEMENT_TYPES.float32));
  } else {
    const packed = Math.ceil(n / 2);
    const c16 = konst('16', [16], true);
    const c8 = konst('8', [8], true);
    const bytes = node('Cast', [qName], p + 'bytes', castTo(ONNX_ELEMENT_TYPES.int64));
    const hi = node('Div', [bytes, c16], p + 'hi');
    const lo = node('Sub', [bytes, node('Mul', [hi, c16], p + 'hi16')], p + 'lo');
    const col = konst('pair_col', [packed, 1]);
    const pairs = node('Concat', [node('Reshape', [lo, col], p + 'lo_col'), node('Reshape', [hi, col], p + 'hi_col')], p + 'pairs', [
      { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
    ]);
    let nibbles = node('Reshape', [pairs, konst('nibbles_shape', [2 * packed])], p + 'nibbles');
    if (2 * packed !== n)
      nibbles = node('Slice', [nibbles, konst('nibbles_start', [0]), konst('n', [n]), konst('axis0', [0])], p + 'nibbles_n');
    // v in [0, 15] → v − 16·floor(v / 8): 8…15 become −8…−1.
    const signed = node('Sub', [nibbles, node('Mul', [node('Div', [nibbles, c8], p + 'neg'), c16], p + 'neg16')], p + 'q_i64');
    qf = node('Cast', [signed], p + 'q_f32', castTo(ONNX_ELEMENT_TYPES.float32));
  }

  const s3 = node('Reshape', [sName, konst('scales_shape', [rows, blocks, 1])], p + 'scales_3d');
  let scaled: string;
  if (cols % blockSize === 0) {
    scaled = node('Mul', [node('Reshape', [qf, konst('blocked_shape', [rows, blocks, blockSize])], p + 'q_blocked'), s3], p + 'scaled');
  } else {
    const wide = node('Expand', [s3, konst('expand_shape', [rows, blocks, blockSize])], p + 'scales_wide');
    const flat = node('Reshape', [wide, konst('padded_shape', [rows, blocks * blockSize])], p + 'scales_padded');
    const perCol = node('Slice', [flat, konst('cols_start', [0]), konst('cols', [cols]), konst('axis1', [1])], p + 'scales_cols');
    scaled = node('Mul', [node('Reshape', [qf, konst('rows_cols', [rows, cols])], p + 'q_rows'), perCol], p + 'scaled');
  }
  if (outType === ONNX_ELEMENT_TYPES.float32) {
    node('Reshape', [scaled, konst('shape', w.shape)], w.name);
  } else {
    node('Cast', [node('Reshape', [scaled, konst('shape', w.shape)], p + 'f32')], w.name, castTo(outType));
  }
  return { nodes, consts };
}

/** The DequantizeLinear lowering: one node (plus a scales Reshape when W is not 2-D, a Cast for float16 weights). */
function dequantizeLinear(w: QuantizedWeight, blockSize: number, outType: number): { nodes: INode[]; consts: ITensor[] } {
  const p = `${w.name}/dq/`;
  const nodes: INode[] = [];
  const consts: ITensor[] = [];
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  let scales = w.name + QUANT_SUFFIX.scales;
  if (w.shape.length !== 2) {
    // DequantizeLinear wants the scales with W's rank: [..shape[:-1], nb].
    const shape = [...w.shape.slice(0, -1), w.blocks];
    consts.push(int64Const(p + 'scales_shape', [shape.length], shape));
    nodes.push({ name: p + 'reshape_0', opType: 'Reshape', input: [scales, p + 'scales_shape'], output: [p + 'scales'] });
    scales = p + 'scales';
  }
  const out = outType === ONNX_ELEMENT_TYPES.float32 ? w.name : p + 'f32';
  nodes.push({
    name: p + `dequantizelinear_${nodes.length}`,
    opType: 'DequantizeLinear',
    input: [w.name + QUANT_SUFFIX.q, scales],
    output: [out],
    attribute: [int('axis', w.shape.length - 1), int('block_size', blockSize)],
  });
  if (out !== w.name)
    nodes.push({ name: p + `cast_${nodes.length}`, opType: 'Cast', input: [out], output: [w.name], attribute: [int('to', outType)] });
  return { nodes, consts };
}

/** The lowering "auto" picks for a graph: DequantizeLinear when its opset is ≥ 21 or every op means the same at 21. */
export function resolveQuantGraphOp(model: onnxProto.onnx.IModelProto, op: QuantGraphOp = 'auto'): Exclude<QuantGraphOp, 'auto'> {
  if (op === 'cast') return 'cast';
  const version = Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0);
  const foreign = (model.opsetImport ?? []).some((o) => !!o.domain && o.domain !== 'ai.onnx');
  const unstable = [
    ...new Set(
      (model.graph?.node ?? []).filter((nd) => !nd.domain && !OPSET21_STABLE_OPS.has(nd.opType ?? '')).map((nd) => nd.opType ?? ''),
    ),
  ];
  const ok = version >= DQ_OPSET || (!foreign && unstable.length === 0);
  if (op === 'dequantize-linear' && !ok) {
    throw new Error(
      `quantized graph: DequantizeLinear needs opset ${DQ_OPSET}, and the graph (opset ${version}) uses ops that may change meaning there: ${unstable.join(', ') || 'another domain'}; use op "cast"`,
    );
  }
  return ok ? 'dequantize-linear' : 'cast';
}

function externalLocation(t: ITensor): string | undefined {
  if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) return undefined;
  return (t.externalData ?? []).find((e) => e.key === 'location')?.value ?? undefined;
}

/**
 * Rewrite a weight-free species graph for a quantized model: every external weight W for which
 * `tensors` holds "W.q" + "W.scales" is replaced by those two external initializers and the
 * nodes that dequantize them (see the file comment); all other weights and nodes are unchanged.
 * `tensors` needs only names, dtypes and shapes. `blockSize` is the quantization's block size
 * (`quantBlockSize(slm.metadata)`); it cannot be recovered from the shapes when B ∤ C.
 * `opts.op` picks the lowering (QUANT_GRAPH_OPS, default "auto"). Deterministic: the same inputs
 * give the same bytes. Throws when a quantized tensor has no external weight of that name in the
 * graph, or the graph's opset is below 13.
 */
export function quantizedGraph(
  graphBytes: Uint8Array,
  tensors: readonly TensorSignature[],
  blockSize: number,
  opts: QuantGraphOptions = {},
): Uint8Array {
  return rewrite(graphBytes, tensors, blockSize, opts).graph;
}

function rewrite(
  graphBytes: Uint8Array,
  tensors: readonly TensorSignature[],
  blockSize: number,
  opts: QuantGraphOptions,
): { graph: Uint8Array; op: Exclude<QuantGraphOp, 'auto'> } {
  const weights = quantizedWeights(tensors, blockSize);
  const model = onnx.ModelProto.decode(graphBytes);
  const g = model.graph;
  if (!g) throw new Error('quantized graph: the model has no graph');
  const opset = (model.opsetImport ?? []).find((o) => !o.domain);
  if (!opset || Number(opset.version) < QUANT_GRAPH_MIN_OPSET) {
    throw new Error(
      `quantized graph: the graph's opset is ${opset ? Number(opset.version) : 'missing'}; the rewrite needs ${QUANT_GRAPH_MIN_OPSET} or later`,
    );
  }
  if (weights.length === 0)
    throw new Error(
      `quantized graph: the model stores no tensor quantized (no "<name>${QUANT_SUFFIX.q}" with "<name>${QUANT_SUFFIX.scales}")`,
    );
  const op = resolveQuantGraphOp(model, quantGraphOp(opts.op ?? 'auto'));

  const inits = g.initializer ?? [];
  const byName = new Map(inits.map((t) => [t.name ?? '', t]));
  const taken = new Set<string>([
    ...inits.map((t) => t.name ?? ''),
    ...(g.node ?? []).flatMap((nd) => [...(nd.input ?? []), ...(nd.output ?? [])]),
    ...(g.input ?? []).map((v) => v.name ?? ''),
  ]);
  const replaced = new Map<string, ITensor[]>();
  const newNodes: INode[] = [];
  for (const w of weights) {
    const init = byName.get(w.name);
    if (!init || externalLocation(init) !== w.name) {
      throw new Error(`quantized graph: the model stores "${w.name}" quantized but the graph has no external weight "${w.name}"`);
    }
    const dims = (init.dims ?? []).map(Number);
    if (dims.join(',') !== w.shape.join(','))
      throw new Error(`quantized graph: "${w.name}${QUANT_SUFFIX.q}" has shape [${w.shape}] but the graph's "${w.name}" is [${dims}]`);
    const outType = init.dataType ?? 0;
    if (outType !== ONNX_ELEMENT_TYPES.float32 && outType !== onnx.TensorProto.DataType.FLOAT16) {
      throw new Error(
        `quantized graph: the graph's "${w.name}" has element type ${outType}; only float and float16 weights can be quantized`,
      );
    }
    const n = numel(w.shape);
    const qInit =
      w.scheme === 'int8'
        ? external(w.name + QUANT_SUFFIX.q, INT8, w.shape, n)
        : op === 'dequantize-linear'
          ? external(w.name + QUANT_SUFFIX.q, INT4, w.shape, Math.ceil(n / 2))
          : external(w.name + QUANT_SUFFIX.q, ONNX_ELEMENT_TYPES.uint8, [Math.ceil(n / 2)], Math.ceil(n / 2));
    const sInit = external(w.name + QUANT_SUFFIX.scales, ONNX_ELEMENT_TYPES.float32, [w.rows, w.blocks], 4 * w.rows * w.blocks);
    const { nodes, consts } = op === 'dequantize-linear' ? dequantizeLinear(w, blockSize, outType) : dequantizer(w, blockSize, outType);
    for (const name of [
      qInit.name!,
      sInit.name!,
      ...consts.map((c) => c.name!),
      ...nodes.flatMap((nd) => nd.output ?? []).filter((o) => o !== w.name),
    ]) {
      if (taken.has(name)) throw new Error(`quantized graph: the graph already has a value named "${name}"`);
      taken.add(name);
    }
    replaced.set(w.name, [qInit, sInit, ...consts]);
    newNodes.push(...nodes);
  }
  g.initializer = inits.flatMap((t) => replaced.get(t.name ?? '') ?? [t]);
  // Older IRs list initializers among the graph inputs; a dequantized weight is no longer one.
  g.input = (g.input ?? []).filter((v) => !replaced.has(v.name ?? ''));
  g.node = [...newNodes, ...(g.node ?? [])];
  if (op === 'dequantize-linear') {
    for (const o of model.opsetImport ?? []) if (!o.domain) o.version = Math.max(Number(o.version), DQ_OPSET);
    model.irVersion = Math.max(Number(model.irVersion ?? 0), DQ_IR_VERSION);
  }
  const scheme = [...new Set(weights.map((w) => w.scheme))].join('+');
  model.docString = `${model.docString ?? ''}${model.docString ? '; ' : ''}quantized ${scheme}, block ${blockSize}: ${weights.map((w) => w.name).join(', ')} dequantized in-graph (${op})`;
  return { graph: onnx.ModelProto.encode(model).finish(), op };
}

export interface QuantGraphOptions {
  /** How the dequantization is written (QUANT_GRAPH_OPS); default "auto". */
  op?: QuantGraphOp;
}

export interface QuantizedSpecies {
  /** The rewritten graph (store it beside the model; its hash is bound by the species). */
  graph: Uint8Array;
  /** The lowering used ("auto" resolved). */
  op: Exclude<QuantGraphOp, 'auto'>;
  graphHash: Sha256Hex;
  signature: SpeciesSignature;
  species: Sha256Hex;
}

/**
 * The species of a quantized model: its own tensor names, dtypes and shapes ("W.q", "W.scales",
 * the float tensors it kept), the hash of its rewritten graph, and the family's vocabulary.
 */
export function quantizedSpecies(
  graphBytes: Uint8Array,
  tensors: readonly TensorSignature[],
  vocabulary: readonly string[],
  blockSize: number,
  opts: QuantGraphOptions = {},
): QuantizedSpecies {
  const { graph, op } = rewrite(graphBytes, tensors, blockSize, opts);
  const graphHash = sha256Hex(graph);
  const signature = speciesSignature(
    tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
    graphHash,
    [...vocabulary],
  );
  return { graph, op, graphHash, signature, species: speciesId(signature) };
}
