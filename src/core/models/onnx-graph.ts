/**
 * ONNX inference graphs for the garden's model families, generated with onnx-proto (protobufjs).
 *
 * Weights are never inside a graph: every weight initializer is declared with
 * data_location = EXTERNAL and external_data {location: <tensor name>, offset: 0, length: <bytes>},
 * so one graph serves every model of a species. At runtime onnxruntime-web is handed
 * `externalData: [{ path: tensorName, data: tensorBytes }]` built from a `.slm` file's tensors.
 * Small structural constants (a Reshape target shape) stay inside the graph as raw data.
 */
import onnxProto from 'onnx-proto';
import { byteLength, type DType } from '../tensor.ts';

const { onnx } = onnxProto;

/** ONNX element types the garden's graphs use (TensorProto.DataType numbers). */
export const ONNX_ELEMENT_TYPES = Object.freeze({
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
} as const);
export type OnnxElementType = keyof typeof ONNX_ELEMENT_TYPES;

const DTYPE_TO_ONNX: Partial<Record<DType, OnnxElementType>> = { F32: 'float32', U8: 'uint8' };

/** The opset and IR version every starter graph is written for (onnx 1.10: IR 8, opset 13). */
export const GRAPH_OPSET = 13;
export const GRAPH_IR_VERSION = 8;

export interface GraphValue {
  name: string;
  type: OnnxElementType;
  /** A number is a fixed dimension, a string a symbolic one (e.g. the batch "N"). */
  shape: (number | string)[];
}

export interface GraphWeight {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface GraphConstant {
  name: string;
  type: 'int64';
  shape: number[];
  values: number[];
}

export interface GraphNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number | number[]>;
}

export interface GraphSpec {
  name: string;
  inputs: GraphValue[];
  outputs: GraphValue[];
  weights: GraphWeight[];
  constants?: GraphConstant[];
  nodes: GraphNode[];
  docString?: string;
}

function valueInfo(v: GraphValue): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_ELEMENT_TYPES[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Serialize a graph spec to ONNX ModelProto bytes. Deterministic: the same spec gives the same bytes. */
export function buildOnnxGraph(spec: GraphSpec): Uint8Array {
  const initializer: onnxProto.onnx.ITensorProto[] = spec.weights.map((w) => {
    const type = DTYPE_TO_ONNX[w.dtype];
    if (!type) throw new Error(`graph weight "${w.name}" has dtype ${w.dtype}; graphs take: ${Object.keys(DTYPE_TO_ONNX).join(', ')}`);
    return {
      name: w.name,
      dims: w.shape,
      dataType: ONNX_ELEMENT_TYPES[type],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: w.name },
        { key: 'offset', value: '0' },
        { key: 'length', value: String(byteLength(w.dtype, w.shape)) },
      ],
    };
  });
  for (const c of spec.constants ?? []) {
    const raw = new Uint8Array(8 * c.values.length);
    const dv = new DataView(raw.buffer);
    c.values.forEach((v, i) => dv.setBigInt64(8 * i, BigInt(v), true));
    initializer.push({ name: c.name, dims: c.shape, dataType: ONNX_ELEMENT_TYPES.int64, rawData: raw });
  }
  const node: onnxProto.onnx.INodeProto[] = spec.nodes.map((n, i) => ({
    name: `${n.op.toLowerCase()}_${i}`,
    opType: n.op,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attributes ?? {}).map(([name, v]) =>
      Array.isArray(v)
        ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
        : { name, type: onnx.AttributeProto.AttributeType.INT, i: v },
    ),
  }));
  const model = onnx.ModelProto.create({
    irVersion: GRAPH_IR_VERSION,
    producerName: 'slm-garden',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: GRAPH_OPSET }],
    docString: spec.docString ?? '',
    graph: {
      name: spec.name,
      node,
      initializer,
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface ExternalWeightRef {
  name: string;
  location: string;
  length: number;
  dims: number[];
  dataType: number;
}

/**
 * Read back a graph's external weight references and I/O names (a check that a graph is
 * weight-free and which tensors it expects).
 */
export function inspectOnnxGraph(bytes: Uint8Array): {
  inputs: string[];
  outputs: string[];
  external: ExternalWeightRef[];
  embeddedWeights: string[];
} {
  const model = onnx.ModelProto.decode(bytes);
  const g = model.graph;
  if (!g) throw new Error('onnx check failed: model has no graph');
  const external: ExternalWeightRef[] = [];
  const embeddedWeights: string[] = [];
  for (const t of g.initializer ?? []) {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
      external.push({
        name: t.name ?? '',
        location: kv.get('location') ?? '',
        length: Number(kv.get('length') ?? NaN),
        dims: (t.dims ?? []).map(Number),
        dataType: t.dataType ?? 0,
      });
    } else if (t.dataType === ONNX_ELEMENT_TYPES.float32) {
      embeddedWeights.push(t.name ?? '');
    }
  }
  return {
    inputs: (g.input ?? []).map((v) => v.name ?? ''),
    outputs: (g.output ?? []).map((v) => v.name ?? ''),
    external,
    embeddedWeights,
  };
}
