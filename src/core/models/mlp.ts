/**
 * The multi-layer perceptron species used by the starter garden's classifiers:
 * logits = relu(x·W1 + b1)·W2 + b2, weights stored [in, out] so the graph is plain MatMul.
 * Tensor names: fc1.weight [in,hidden], fc1.bias [hidden], fc2.weight [hidden,classes], fc2.bias [classes].
 *
 * Also a CPU forward pass: the oracle the onnxruntime path is checked against, and a fallback.
 */
import { buildOnnxGraph, type GraphSpec } from './onnx-graph.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';

export interface MlpShape {
  inputs: number;
  hidden: number;
  classes: number;
}

export const MLP_INPUT = 'input';
export const MLP_OUTPUT = 'logits';

export function mlpTensorSpecs(s: MlpShape): { name: string; shape: number[] }[] {
  return [
    { name: 'fc1.weight', shape: [s.inputs, s.hidden] },
    { name: 'fc1.bias', shape: [s.hidden] },
    { name: 'fc2.weight', shape: [s.hidden, s.classes] },
    { name: 'fc2.bias', shape: [s.classes] },
  ];
}

/** The species graph: MatMul → Add → Relu → MatMul → Add, weights external. */
export function mlpGraphSpec(s: MlpShape, name: string): GraphSpec {
  return {
    name,
    docString: `${name}: MLP ${s.inputs}→${s.hidden} (ReLU)→${s.classes}; weights are external data named by tensor`,
    inputs: [{ name: MLP_INPUT, type: 'float32', shape: ['N', s.inputs] }],
    outputs: [{ name: MLP_OUTPUT, type: 'float32', shape: ['N', s.classes] }],
    weights: mlpTensorSpecs(s).map((t) => ({ ...t, dtype: 'F32' as const })),
    nodes: [
      { op: 'MatMul', inputs: [MLP_INPUT, 'fc1.weight'], outputs: ['h1'] },
      { op: 'Add', inputs: ['h1', 'fc1.bias'], outputs: ['h1b'] },
      { op: 'Relu', inputs: ['h1b'], outputs: ['h1r'] },
      { op: 'MatMul', inputs: ['h1r', 'fc2.weight'], outputs: ['h2'] },
      { op: 'Add', inputs: ['h2', 'fc2.bias'], outputs: [MLP_OUTPUT] },
    ],
  };
}

export function mlpGraph(s: MlpShape, name: string): Uint8Array {
  return buildOnnxGraph(mlpGraphSpec(s, name));
}

/** Float32 parameters of an MLP, in training form. */
export interface MlpParams {
  shape: MlpShape;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export function mlpToTensors(p: MlpParams): Tensor[] {
  const { inputs, hidden, classes } = p.shape;
  return [
    fromFloat32('fc1.weight', [inputs, hidden], p.w1),
    fromFloat32('fc1.bias', [hidden], p.b1),
    fromFloat32('fc2.weight', [hidden, classes], p.w2),
    fromFloat32('fc2.bias', [classes], p.b2),
  ];
}

export function mlpFromTensors(tensors: readonly Tensor[]): MlpParams {
  const by = new Map(tensors.map((t) => [t.name, t]));
  const get = (name: string, rank: number) => {
    const t = by.get(name);
    if (!t) throw new Error(`MLP model has no tensor "${name}"; has: ${[...by.keys()].join(', ')}`);
    if (t.shape.length !== rank) throw new Error(`MLP tensor "${name}" has rank ${t.shape.length}, expected ${rank}`);
    return t;
  };
  const w1 = get('fc1.weight', 2);
  const w2 = get('fc2.weight', 2);
  const shape = { inputs: w1.shape[0], hidden: w1.shape[1], classes: w2.shape[1] };
  if (w2.shape[0] !== shape.hidden) throw new Error(`MLP fc2.weight has ${w2.shape[0]} rows, expected ${shape.hidden}`);
  return {
    shape,
    w1: Float32Array.from(toFloat32(w1)),
    b1: Float32Array.from(toFloat32(get('fc1.bias', 1))),
    w2: Float32Array.from(toFloat32(w2)),
    b2: Float32Array.from(toFloat32(get('fc2.bias', 1))),
  };
}

/**
 * CPU forward pass for a batch. Returns logits [batch, classes]; if `hiddenOut` is given it
 * receives the post-ReLU activations [batch, hidden] (training uses them).
 */
export function mlpForward(p: MlpParams, x: Float32Array, batch: number, hiddenOut?: Float32Array): Float32Array {
  const { inputs: I, hidden: H, classes: C } = p.shape;
  if (x.length !== batch * I) throw new Error(`mlpForward: ${x.length} inputs for batch ${batch} × ${I}`);
  const h = hiddenOut ?? new Float32Array(batch * H);
  const out = new Float32Array(batch * C);
  const acc = new Float32Array(H);
  for (let n = 0; n < batch; n++) {
    acc.set(p.b1);
    const xo = n * I;
    for (let i = 0; i < I; i++) {
      const xv = x[xo + i];
      if (xv === 0) continue;
      const wo = i * H;
      for (let j = 0; j < H; j++) acc[j] += xv * p.w1[wo + j];
    }
    const ho = n * H;
    for (let j = 0; j < H; j++) h[ho + j] = acc[j] > 0 ? acc[j] : 0;
    const oo = n * C;
    for (let c = 0; c < C; c++) out[oo + c] = p.b2[c];
    for (let j = 0; j < H; j++) {
      const hv = h[ho + j];
      if (hv === 0) continue;
      const wo = j * C;
      for (let c = 0; c < C; c++) out[oo + c] += hv * p.w2[wo + c];
    }
  }
  return out;
}
