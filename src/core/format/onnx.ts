/**
 * ONNX import: weights out, graph kept. Every initializer of a garden dtype (F32, F16, BF16, I8,
 * U8, I4) — in the main graph and in every subgraph (If/Loop/Scan bodies) — becomes a tensor, and
 * the graph keeps it as an external-data reference by tensor name, in the MAIN graph (subgraph
 * weights are hoisted; subgraphs see outer-scope values, and onnxruntime-web resolves in-memory
 * external data for main-graph initializers only):
 *   data_location = EXTERNAL, external_data = {location: <tensor name>, offset: 0, length: <bytes>}.
 * That weight-free graph is the species graph; at runtime onnxruntime-web gets
 * `externalData: [{ path: tensorName, data: bytes }]`. Large float `Constant` nodes are lifted
 * to initializers first (exporters such as spox write weights that way). Initializers of other
 * dtypes (int64 shape constants, …) stay inside the graph; external ones are read back in.
 * Models that themselves use external data are read through a resolver for their files.
 */
import onnxProto from 'onnx-proto';
import { FormatError } from './errors.ts';
import { MAX_DIMENSION, MAX_RANK } from './safetensors.ts';
import type { ByteSource } from './source.ts';
import { byteLength, type DType, type Tensor } from '../tensor.ts';

const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

/** ONNX TensorProto.DataType numbers of the garden dtypes. */
export const ONNX_DTYPES = Object.freeze({ F32: 1, U8: 2, I8: 3, F16: 10, BF16: 16, I4: 22 } as const);
const FROM_ONNX = new Map<number, DType>(Object.entries(ONNX_DTYPES).map(([k, v]) => [v, k as DType]));
/** Element sizes in bits of the other ONNX dtypes, to check and inline their external data. */
const OTHER_BITS = new Map<number, number>([
  [4, 16],
  [5, 16],
  [6, 32],
  [7, 64],
  [9, 8],
  [11, 64],
  [12, 32],
  [13, 64],
  [14, 64],
  [15, 128],
  [17, 8],
  [18, 8],
  [19, 8],
  [20, 8],
  [21, 4],
  [23, 4],
]);

const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;
/** Subgraph nesting deeper than this is refused (real models nest a handful of levels). */
export const MAX_GRAPH_DEPTH = 64;

export interface OnnxImportOptions {
  /** Opens an external-data file named by a TensorProto's `location`. Required when the model uses external data. */
  external?: (location: string) => Promise<ByteSource>;
  /** Float `Constant` node values at least this large become tensors too (default 64 bytes; Infinity disables). */
  liftConstantBytes?: number;
}

export interface OnnxImport {
  /** The weights, in graph traversal order (names are unique; a clash gets a `@n` suffix). */
  tensors: Tensor[];
  /** The species graph: the ModelProto with every weight as external data named by tensor. */
  graph: Uint8Array;
  inputs: string[];
  outputs: string[];
}

function num(v: number | { toNumber(): number } | null | undefined, what: string): number {
  const n = typeof v === 'number' ? v : v == null ? 0 : v.toNumber();
  if (!Number.isSafeInteger(n)) throw new FormatError('onnx', `${what} ${n} is not a safe integer`);
  return n;
}

function dimsOf(t: ITensorProto, name: string): number[] {
  const dims = (t.dims ?? []).map((d) => num(d as number, `tensor ${JSON.stringify(name)} dimension`));
  if (dims.length > MAX_RANK)
    throw new FormatError('dimension', `tensor ${JSON.stringify(name)} has ${dims.length} dimensions, more than ${MAX_RANK}`);
  for (const d of dims) {
    if (d < 0) throw new FormatError('shape', `tensor ${JSON.stringify(name)} has a negative dimension ${d}`);
    if (d > MAX_DIMENSION) throw new FormatError('dimension', `tensor ${JSON.stringify(name)} declares an absurd dimension ${d}`);
  }
  return dims;
}

function elementBytes(dataType: number, dims: number[], name: string): number {
  const dtype = FROM_ONNX.get(dataType);
  const bits = dtype ? null : OTHER_BITS.get(dataType);
  let n = dtype ? byteLength(dtype, dims) : bits ? Math.ceil((dims.reduce((a, b) => a * b, 1) * bits) / 8) : NaN;
  if (Number.isNaN(n)) throw new FormatError('onnx', `tensor ${JSON.stringify(name)} has unsupported data type ${dataType}`);
  if (!Number.isSafeInteger(n) || n > MAX_DIMENSION)
    throw new FormatError('dimension', `tensor ${JSON.stringify(name)} shape [${dims}] is absurdly large`);
  n = Math.max(0, n);
  return n;
}

function externalRef(t: ITensorProto, name: string): { location: string; offset: number; length: number | undefined } {
  const kv = new Map<string, string>();
  for (const e of t.externalData ?? []) {
    const k = e.key ?? '';
    if (kv.has(k)) throw new FormatError('onnx', `tensor ${JSON.stringify(name)} repeats external_data key ${JSON.stringify(k)}`);
    kv.set(k, e.value ?? '');
  }
  const location = kv.get('location');
  if (!location) throw new FormatError('onnx', `tensor ${JSON.stringify(name)} is external but names no location`);
  const int = (k: string) => {
    const s = kv.get(k);
    if (s === undefined) return undefined;
    if (!/^(0|[1-9][0-9]{0,15})$/.test(s))
      throw new FormatError(
        'offsets',
        `tensor ${JSON.stringify(name)} external_data ${k} ${JSON.stringify(s)} is not a non-negative integer`,
      );
    return Number(s);
  };
  return { location, offset: int('offset') ?? 0, length: int('length') };
}

/** The raw little-endian bytes of an initializer, wherever the proto keeps them. */
async function tensorBytes(
  t: ITensorProto,
  name: string,
  dims: number[],
  opts: OnnxImportOptions,
  files: Map<string, Promise<ByteSource>>,
): Promise<Uint8Array> {
  const dataType = t.dataType ?? 0;
  const size = elementBytes(dataType, dims, name);
  let data: Uint8Array;
  if (t.dataLocation === EXTERNAL) {
    const ref = externalRef(t, name);
    if (!opts.external)
      throw new FormatError(
        'onnx',
        `tensor ${JSON.stringify(name)} is external data in ${JSON.stringify(ref.location)} but no resolver for external files was given`,
      );
    if (ref.length !== undefined && ref.length !== size)
      throw new FormatError('size', `tensor ${JSON.stringify(name)} external length ${ref.length} but shape [${dims}] needs ${size}`);
    let src = files.get(ref.location);
    if (!src) {
      src = opts.external(ref.location);
      files.set(ref.location, src);
    }
    const s = await src;
    if (ref.offset + size > s.size)
      throw new FormatError(
        'offsets',
        `tensor ${JSON.stringify(name)} [${ref.offset}, ${ref.offset + size}) runs past the ${s.size}-byte file ${JSON.stringify(ref.location)}`,
      );
    data = new Uint8Array(await s.read(ref.offset, size)); // a copy (Buffer.slice would be a view)
  } else if (t.rawData && t.rawData.length > 0) {
    data = new Uint8Array(t.rawData);
  } else if (dataType === ONNX_DTYPES.F32 && t.floatData && t.floatData.length > 0) {
    data = new Uint8Array(Float32Array.from(t.floatData).buffer);
  } else if (
    t.int32Data &&
    t.int32Data.length > 0 &&
    [ONNX_DTYPES.F16, ONNX_DTYPES.BF16, ONNX_DTYPES.I8, ONNX_DTYPES.U8].includes(dataType as 10)
  ) {
    const wide = dataType === ONNX_DTYPES.F16 || dataType === ONNX_DTYPES.BF16;
    data = new Uint8Array(t.int32Data.length * (wide ? 2 : 1));
    const dv = new DataView(data.buffer);
    t.int32Data.forEach((v, i) => (wide ? dv.setUint16(2 * i, v & 0xffff, true) : dv.setUint8(i, v & 0xff)));
  } else if (size === 0) {
    data = new Uint8Array(0);
  } else {
    throw new FormatError(
      'onnx',
      `tensor ${JSON.stringify(name)} (type ${dataType}) keeps its values in a field the importer does not read; expected raw_data`,
    );
  }
  if (data.length !== size)
    throw new FormatError(
      'size',
      `tensor ${JSON.stringify(name)} has ${data.length} bytes but shape [${dims}] of type ${dataType} needs ${size}`,
    );
  return data;
}

function subgraphs(g: IGraphProto): IGraphProto[] {
  const out: IGraphProto[] = [];
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.g) out.push(a.g);
      for (const s of a.graphs ?? []) out.push(s);
    }
  }
  return out;
}

/** Turn large float Constant nodes into initializers of the same graph, named by their output. */
function liftConstants(g: IGraphProto, minBytes: number): void {
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name));
  const keep = [];
  for (const n of g.node ?? []) {
    const attrs = n.attribute ?? [];
    const value = attrs.length === 1 && attrs[0].name === 'value' ? attrs[0].t : null;
    const out = n.output ?? [];
    if (
      n.opType === 'Constant' &&
      (n.domain ?? '') === '' &&
      value &&
      out.length === 1 &&
      out[0] &&
      !graphOutputs.has(out[0]) &&
      FROM_ONNX.has(value.dataType ?? 0) &&
      value.dataLocation !== EXTERNAL &&
      (value.rawData?.length ?? 0) + 4 * (value.floatData?.length ?? 0) >= minBytes
    ) {
      (g.initializer ??= []).push({ ...value, name: out[0] });
      continue;
    }
    keep.push(n);
  }
  g.node = keep;
}

/** Decode ONNX bytes; any protobuf failure is a FormatError('onnx'). */
export function decodeOnnx(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    // protobufjs decodes nested messages recursively: a model nested 100k deep ends in a RangeError.
    if (e instanceof RangeError && /call stack/i.test(e.message))
      throw new FormatError('nesting', 'the ONNX model nests its messages too deeply to decode');
    throw new FormatError('onnx', `not an ONNX model (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  if (!model.graph) throw new FormatError('onnx', 'model has no graph');
  if ((model.opsetImport ?? []).length === 0) throw new FormatError('onnx', 'model declares no opset');
  return model;
}

/** Rename a value's uses in a graph and its subgraphs (node inputs and graph outputs). */
function renameUses(g: IGraphProto, from: string, to: string, depth = 0): void {
  if (depth > MAX_GRAPH_DEPTH) throw new FormatError('onnx', `subgraphs nest deeper than ${MAX_GRAPH_DEPTH}`);
  for (const n of g.node ?? []) n.input = (n.input ?? []).map((x) => (x === from ? to : x));
  for (const o of g.output ?? []) if (o.name === from) o.name = to;
  for (const s of subgraphs(g)) renameUses(s, from, to, depth + 1);
}

/** How many times each value name is defined anywhere in the model (inputs, initializers, node outputs). */
function countDefinitions(g: IGraphProto, defs: Map<string, number>, depth = 0): void {
  if (depth > MAX_GRAPH_DEPTH) throw new FormatError('onnx', `subgraphs nest deeper than ${MAX_GRAPH_DEPTH}`);
  const add = (n: string | null | undefined) => n && defs.set(n, (defs.get(n) ?? 0) + 1);
  const inputs = new Set((g.input ?? []).map((v) => v.name));
  for (const v of g.input ?? []) add(v.name);
  // An initializer that is also a graph input (IR < 4 default values) is one definition, not two.
  for (const t of g.initializer ?? []) if (!inputs.has(t.name)) add(t.name);
  for (const n of g.node ?? []) for (const o of n.output ?? []) add(o);
  for (const s of subgraphs(g)) countDefinitions(s, defs, depth + 1);
}

/**
 * Import an ONNX model: its weights as tensors, its graph with weights as external data by tensor
 * name. Weights of subgraphs are hoisted into the main graph (subgraphs see outer-scope values),
 * because onnxruntime resolves in-memory external data for main-graph initializers only.
 */
export async function importOnnx(bytes: Uint8Array, opts: OnnxImportOptions = {}): Promise<OnnxImport> {
  const model = decodeOnnx(bytes);
  const main = model.graph!;
  const minLift = opts.liftConstantBytes ?? 64;
  const tensors: Tensor[] = [];
  const used = new Set<string>();
  const files = new Map<string, Promise<ByteSource>>();
  const hoisted: ITensorProto[] = [];
  if (minLift !== Infinity) {
    const lift = (g: IGraphProto, depth: number) => {
      if (depth > MAX_GRAPH_DEPTH) throw new FormatError('onnx', `subgraphs nest deeper than ${MAX_GRAPH_DEPTH}`);
      liftConstants(g, minLift);
      for (const sg of subgraphs(g)) lift(sg, depth + 1);
    };
    lift(main, 0);
  }
  const defs = new Map<string, number>();
  countDefinitions(main, defs);
  const visit = async (g: IGraphProto, depth: number) => {
    if (depth > MAX_GRAPH_DEPTH) throw new FormatError('onnx', `subgraphs nest deeper than ${MAX_GRAPH_DEPTH}`);
    if ((g.sparseInitializer ?? []).length > 0) throw new FormatError('onnx', 'sparse initializers are not supported');
    const graphOutputs = new Set((g.output ?? []).map((o) => o.name));
    const keep: ITensorProto[] = [];
    for (const t of g.initializer ?? []) {
      const name = t.name ?? '';
      if (!name) throw new FormatError('onnx', 'an initializer has no name');
      const dims = dimsOf(t, name);
      const data = await tensorBytes(t, name, dims, opts, files);
      const dtype = FROM_ONNX.get(t.dataType ?? 0);
      if (!dtype || (depth > 0 && graphOutputs.has(name))) {
        // A structural constant of another type (or a subgraph's own output): keep it inside the graph.
        clearTyped(t);
        t.rawData = data;
        t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
        t.externalData = [];
        keep.push(t);
        continue;
      }
      let tensorName = name;
      if (used.has(name) || (depth > 0 && (defs.get(name) ?? 0) > 1)) {
        for (let k = 1; used.has(tensorName) || defs.has(tensorName); k++) tensorName = `${name}@${k}`;
        renameUses(g, name, tensorName);
        defs.set(tensorName, 1);
      }
      used.add(tensorName);
      tensors.push({ name: tensorName, dtype, shape: dims, data });
      clearTyped(t);
      t.name = tensorName;
      t.rawData = new Uint8Array(0);
      t.dataLocation = EXTERNAL;
      t.externalData = [
        { key: 'location', value: tensorName },
        { key: 'offset', value: '0' },
        { key: 'length', value: String(data.length) },
      ];
      if (depth === 0) keep.push(t);
      else hoisted.push(t);
    }
    g.initializer = keep;
    for (const sg of subgraphs(g)) await visit(sg, depth + 1);
  };
  await visit(main, 0);
  main.initializer = [...(main.initializer ?? []), ...hoisted];
  let graph: Uint8Array;
  try {
    graph = onnx.ModelProto.encode(model).finish();
  } catch (e) {
    throw new FormatError('onnx', `cannot re-encode the graph (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  return {
    tensors,
    graph,
    inputs: (main.input ?? []).map((v) => v.name ?? ''),
    outputs: (main.output ?? []).map((v) => v.name ?? ''),
  };
}

function clearTyped(t: ITensorProto): void {
  t.floatData = [];
  t.int32Data = [];
  t.int64Data = [];
  t.doubleData = [];
  t.uint64Data = [];
  t.stringData = [];
}

/** The external-data references of a species graph (tensor names it expects), main graph and subgraphs. */
export function externalRefs(
  graph: Uint8Array,
): { name: string; location: string; length: number | undefined; dtype: DType | null; shape: number[] }[] {
  const model = decodeOnnx(graph);
  const out: { name: string; location: string; length: number | undefined; dtype: DType | null; shape: number[] }[] = [];
  const visit = (g: IGraphProto, depth: number) => {
    if (depth > MAX_GRAPH_DEPTH) throw new FormatError('onnx', `subgraphs nest deeper than ${MAX_GRAPH_DEPTH}`);
    for (const t of g.initializer ?? []) {
      if (t.dataLocation !== EXTERNAL) continue;
      const name = t.name ?? '';
      const ref = externalRef(t, name);
      out.push({ name, location: ref.location, length: ref.length, dtype: FROM_ONNX.get(t.dataType ?? 0) ?? null, shape: dimsOf(t, name) });
    }
    for (const s of subgraphs(g)) visit(s, depth + 1);
  };
  visit(model.graph!, 0);
  return out;
}

/** The `externalData` option for onnxruntime-web: one entry per tensor, path = tensor name. */
export function ortExternalData(tensors: readonly { name: string; data: Uint8Array }[]): { path: string; data: Uint8Array }[] {
  return tensors.map((t) => ({ path: t.name, data: t.data }));
}
