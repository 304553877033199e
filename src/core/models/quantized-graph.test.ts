import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { createOrtSession, releaseSession, runClassifier } from '../../runtime/ort-session.ts';
import { buildOnnxGraph, inspectOnnxGraph } from './onnx-graph.ts';
import { mlpForward, mlpFromTensors, mlpGraph, mlpToTensors, type MlpParams } from './mlp.ts';
import {
  dequantizedSpecs,
  familySpeciesOf,
  isQuantizedModel,
  quantBlockSize,
  QUANT_GRAPH_OP_KEY,
  recordedQuantGraphOp,
  quantizedGraph,
  quantizedSpecies,
} from './quantized-graph.ts';
import { dequantizeModel, quantizeModel, QUANT_KEYS, type QuantScheme } from '../operators/quantize.cpu.ts';
import { randomUnit, tensorKey } from '../operators/prng.ts';
import { readSlm, speciesId, speciesSignature } from '../format/slm.ts';
import { sha256Hex } from '../hash.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';
import { quantizedCandidate } from './test-helpers.ts';

const rand = (seed: number, name: string, n: number, scale = 1) =>
  Float32Array.from({ length: n }, (_, i) => (randomUnit(tensorKey(seed, name), i) * 2 - 1) * scale);

/** A graph whose output is the weight itself: out = W · x with x = [1], so the result is W bit for bit. */
function echoGraph(shape: number[]): Uint8Array {
  return buildOnnxGraph({
    name: 'echo',
    inputs: [{ name: 'x', type: 'float32', shape: [1] }],
    outputs: [{ name: 'y', type: 'float32', shape }],
    weights: [{ name: 'w', dtype: 'F32', shape }],
    nodes: [{ op: 'Mul', inputs: ['w', 'x'], outputs: ['y'] }],
  });
}

async function runEcho(graph: Uint8Array, tensors: Tensor[]): Promise<Float32Array> {
  const session = await createOrtSession(graph, tensors);
  try {
    const out = await session.run({ x: new (await import('onnxruntime-web')).Tensor('float32', Float32Array.of(1), [1]) });
    return Float32Array.from(out.y.data as Float32Array);
  } finally {
    await releaseSession(session);
  }
}

const LOWERINGS = ['dequantize-linear', 'cast'] as const;
const opsetOf = (g: Uint8Array) => Number(onnxProto.onnx.ModelProto.decode(g).opsetImport!.find((o) => !o.domain)!.version);

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('quantizedGraph: weights dequantized inside onnxruntime-web', () => {
  it('computes exactly dequantizeModel’s weights, int8 and int4, any rank, block sizes that divide the last dimension or not', async () => {
    const cases: { shape: number[]; block: number }[] = [
      { shape: [6, 8], block: 4 }, // divides
      { shape: [5, 10], block: 4 }, // padded last block, even n
      { shape: [3, 7], block: 3 }, // padded, odd n (int4: half a byte left over)
      { shape: [2, 3, 5], block: 2 }, // rank 3, padded, odd n
      { shape: [4, 9], block: 64 }, // one block per row
      { shape: [1, 1], block: 1 },
    ];
    for (const [i, { shape, block }] of cases.entries()) {
      for (const scheme of ['int8', 'int4'] as QuantScheme[]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const w = rand(100 + i, 'w', n, 3);
        if (n > 2) w[1] = 0; // a zero, and a block of zeros where the shape allows
        const q = quantizeModel([fromFloat32('w', shape, w)], scheme, block);
        const want = toFloat32(dequantizeModel(q, block)[0]);
        for (const op of LOWERINGS) {
          const graph = quantizedGraph(echoGraph(shape), q, block, { op });
          const got = await runEcho(graph, q);
          expect(bits(got), `${op} ${scheme} [${shape}] block ${block}`).toEqual(bits(Float32Array.from(want)));
        }
      }
    }
  });

  it('a quantized MLP in onnxruntime-web matches the CPU dequantized reference on seeded random models', async () => {
    for (const seed of [1, 2, 3]) {
      const [I, H, C] = [7 + 4 * seed, 5 + seed, 3 + seed];
      const p: MlpParams = {
        shape: { inputs: I, hidden: H, classes: C },
        w1: rand(seed, 'w1', I * H),
        b1: rand(seed, 'b1', H),
        w2: rand(seed, 'w2', H * C),
        b2: rand(seed, 'b2', C),
      };
      const graph = mlpGraph(p.shape, 't');
      for (const scheme of ['int8', 'int4'] as QuantScheme[]) {
        const block = [2, 3, 5][seed - 1];
        const q = quantizeModel(mlpToTensors(p), scheme, block);
        expect(isQuantizedModel(q)).toBe(true);
        const batch = 4;
        const x = Float32Array.from({ length: batch * I }, (_, i) => randomUnit(tensorKey(seed, 'x'), i));
        const want = mlpForward(mlpFromTensors(dequantizeModel(q, block)), x, batch);
        for (const op of LOWERINGS) {
          const session = await createOrtSession(quantizedGraph(graph, q, block, { op }), q);
          const got = await runClassifier(session, x, batch, I);
          await releaseSession(session);
          for (let k = 0; k < got.length; k++) expect(Math.abs(got[k] - want[k])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[k])));
        }
      }
    }
  });

  it('keeps the graph weight-free and deterministic, and gives the quantized model a species of its own', async () => {
    const p: MlpParams = {
      shape: { inputs: 6, hidden: 4, classes: 3 },
      w1: rand(5, 'w1', 24),
      b1: rand(5, 'b1', 4),
      w2: rand(5, 'w2', 12),
      b2: rand(5, 'b2', 3),
    };
    const graph = mlpGraph(p.shape, 't');
    const labels = ['a', 'b', 'c'];
    const c8 = await quantizedCandidate(graph, mlpToTensors(p), labels, 'int8', 4);
    const c4 = await quantizedCandidate(graph, mlpToTensors(p), labels, 'int4', 4);
    const info = inspectOnnxGraph(c4.graph);
    expect(info.embeddedWeights).toEqual([]);
    expect(info.external.map((e) => [e.location, e.length]).sort()).toEqual([
      ['fc1.bias', 16],
      ['fc1.weight.q', 12],
      ['fc1.weight.scales', 6 * 4],
      ['fc2.bias', 12],
      ['fc2.weight.q', 6],
      ['fc2.weight.scales', 4 * 4],
    ]);
    expect(quantizedGraph(graph, c4.tensors, 4)).toEqual(c4.graph);
    // "auto" raises this all-stable MLP graph to opset 21 for DequantizeLinear; "cast" keeps opset 13.
    expect(quantizedGraph(graph, c4.tensors, 4, { op: 'dequantize-linear' })).toEqual(c4.graph);
    expect([opsetOf(graph), opsetOf(c4.graph), opsetOf(quantizedGraph(graph, c4.tensors, 4, { op: 'cast' }))]).toEqual([13, 21, 13]);
    expect(inspectOnnxGraph(quantizedGraph(graph, c4.tensors, 4, { op: 'cast' })).embeddedWeights).toEqual([]);
    expect(c4.graphHash).toBe(sha256Hex(c4.graph));
    const parent = speciesId(speciesSignature(mlpToTensors(p), sha256Hex(graph), labels));
    expect(new Set([parent, c8.species, c4.species, quantizedSpecies(graph, c8.tensors, labels, 2 * 4).species]).size).toBe(4);
    // Dequantized, the signature is the parent's again: that is how a quantized member of a family is recognised.
    expect(speciesId(speciesSignature(dequantizedSpecs(c4.tensors), sha256Hex(graph), labels))).toBe(parent);
    for (const c of [c8, c4]) expect(familySpeciesOf(c.tensors, sha256Hex(graph), labels)).toBe(parent);
    expect(familySpeciesOf(mlpToTensors(p), sha256Hex(graph), labels)).toBe(parent);
    // another family (other labels, other graph) is not matched
    expect(familySpeciesOf(c8.tensors, sha256Hex(graph), ['a', 'b', 'd'])).not.toBe(parent);
    expect(familySpeciesOf(c8.tensors, c8.graphHash, labels)).not.toBe(parent);
    expect(c8.metadata).toMatchObject({
      [QUANT_KEYS.scheme]: 'int8',
      [QUANT_KEYS.blockSize]: '4',
      [QUANT_GRAPH_OP_KEY]: 'dequantize-linear',
    });
    expect(recordedQuantGraphOp(c8.metadata)).toBe('dequantize-linear');
    expect(recordedQuantGraphOp({})).toBe('auto');
    // A .slm that records the quantized graph hash and labels passes the species check on read.
    const slm = readSlm(c8.bytes);
    expect(slm.species).toBe(c8.species);
    expect(quantBlockSize(slm.metadata)).toBe(4);
  });

  it('refuses what it cannot rewrite, with one line naming the problem', async () => {
    const p: MlpParams = {
      shape: { inputs: 6, hidden: 5, classes: 3 },
      w1: rand(6, 'w1', 30),
      b1: rand(6, 'b1', 5),
      w2: rand(6, 'w2', 15),
      b2: rand(6, 'b2', 3),
    };
    const graph = mlpGraph(p.shape, 't');
    const q = quantizeModel(mlpToTensors(p), 'int4', 2);
    expect(() => quantizedGraph(graph, q, 4)).toThrow(
      /"fc1.weight.scales" is F32 \[6,3\] but "fc1.weight.q" \[6,5\] with block size 4 needs F32 \[6,2\]/,
    );
    expect(() => quantizedGraph(graph, mlpToTensors(p), 2)).toThrow(/stores no tensor quantized/);
    expect(() => quantizedGraph(mlpGraph({ inputs: 6, hidden: 5, classes: 4 }, 't'), q, 2)).toThrow(
      /"fc2.weight.q" has shape \[5,3\] but the graph's "fc2.weight" is \[5,4\]/,
    );
    expect(() => quantizedGraph(echoGraph([6, 5]), q, 2)).toThrow(
      /stores "fc1.weight" quantized but the graph has no external weight "fc1.weight"/,
    );
    // A graph with an op whose meaning changes by opset 21 (ReduceMean takes axes as an input from 18) stays at its opset.
    const reduce = buildOnnxGraph({
      name: 'r',
      inputs: [],
      outputs: [{ name: 'y', type: 'float32', shape: [6, 1] }],
      weights: [{ name: 'fc1.weight', dtype: 'F32', shape: [6, 5] }],
      nodes: [{ op: 'ReduceMean', inputs: ['fc1.weight'], outputs: ['y'], attributes: { axes: [1] } }],
    });
    const q1 = q.filter((t) => t.name.startsWith('fc1.weight'));
    expect(opsetOf(quantizedGraph(reduce, q1, 2))).toBe(13);
    expect(() => quantizedGraph(reduce, q1, 2, { op: 'dequantize-linear' })).toThrow(
      /uses ops that may change meaning there: ReduceMean; use op "cast"/,
    );
    expect(() => quantizedGraph(graph, q, 2, { op: 'qdq' as 'cast' })).toThrow(
      /unknown quantized graph op "qdq"; valid: auto, dequantize-linear, cast/,
    );
    expect(() => quantBlockSize({})).toThrow(/garden.quant.blockSize is null, expected a positive integer/);
    const short = q.map((t) => (t.name === 'fc1.weight.q' ? { ...t, data: t.data.subarray(1) } : t));
    for (const op of LOWERINGS)
      await expect(createOrtSession(quantizedGraph(graph, q, 2, { op }), short)).rejects.toThrow(
        /"fc1.weight.q" is 14 bytes but the graph expects 15/,
      );
  });
});
