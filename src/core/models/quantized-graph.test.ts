import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createOrtSession, releaseSession, runClassifier } from '../../runtime/ort-session.ts';
import { buildOnnxGraph } from './onnx-graph.ts';
import { inspectOnnxGraph } from './onnx-graph.ts';
import { mlpForward, mlpFromTensors, mlpGraph, mlpToTensors, type MlpParams } from './mlp.ts';
import { isQuantizedModel, quantBlockSize, quantizeCandidate, quantizedGraph, quantizedSpecies } from './quantized-graph.ts';
import { dequantizeModel, quantizeModel, QUANT_KEYS, type QuantScheme } from '../operators/quantize.cpu.ts';
import { randomUnit, tensorKey } from '../operators/prng.ts';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../format/slm.ts';
import { readSuite, suiteRows, type Suite } from '../eval/suite.ts';
import { accuracy } from '../eval/metrics.ts';
import { sha256Hex } from '../hash.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';

const rand = (seed: number, name: string, n: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => (randomUnit(tensorKey(seed, name), i) * 2 - 1) * scale);

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
        const graph = quantizedGraph(echoGraph(shape), q, block);
        const got = await runEcho(graph, q);
        expect(bits(got), `${scheme} [${shape}] block ${block}`).toEqual(bits(Float32Array.from(want)));
      }
    }
  });

  it('a quantized MLP in onnxruntime-web matches the CPU dequantized reference on seeded random models', async () => {
    for (const seed of [1, 2, 3]) {
      const [I, H, C] = [7 + 4 * seed, 5 + seed, 3 + seed];
      const p: MlpParams = { shape: { inputs: I, hidden: H, classes: C }, w1: rand(seed, 'w1', I * H), b1: rand(seed, 'b1', H), w2: rand(seed, 'w2', H * C), b2: rand(seed, 'b2', C) };
      const graph = mlpGraph(p.shape, 't');
      for (const scheme of ['int8', 'int4'] as QuantScheme[]) {
        const block = [2, 3, 5][seed - 1];
        const q = quantizeModel(mlpToTensors(p), scheme, block);
        expect(isQuantizedModel(q)).toBe(true);
        const session = await createOrtSession(quantizedGraph(graph, q, block), q);
        const batch = 4;
        const x = Float32Array.from({ length: batch * I }, (_, i) => randomUnit(tensorKey(seed, 'x'), i));
        const got = await runClassifier(session, x, batch, I);
        await releaseSession(session);
        const want = mlpForward(mlpFromTensors(dequantizeModel(q, block)), x, batch);
        for (let k = 0; k < got.length; k++) expect(Math.abs(got[k] - want[k])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[k])));
      }
    }
  });

  it('keeps the graph weight-free and deterministic, and gives the quantized model a species of its own', () => {
    const p: MlpParams = { shape: { inputs: 6, hidden: 4, classes: 3 }, w1: rand(5, 'w1', 24), b1: rand(5, 'b1', 4), w2: rand(5, 'w2', 12), b2: rand(5, 'b2', 3) };
    const graph = mlpGraph(p.shape, 't');
    const labels = ['a', 'b', 'c'];
    const c8 = quantizeCandidate(graph, mlpToTensors(p), labels, 'int8', 4);
    const c4 = quantizeCandidate(graph, mlpToTensors(p), labels, 'int4', 4);
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
    expect(c4.graphHash).toBe(sha256Hex(c4.graph));
    const parent = speciesId(speciesSignature(mlpToTensors(p), sha256Hex(graph), labels));
    expect(new Set([parent, c8.species, c4.species, quantizedSpecies(graph, c8.tensors, labels, 2 * 4).species]).size).toBe(4);
    expect(c8.metadata).toEqual({ [QUANT_KEYS.scheme]: 'int8', [QUANT_KEYS.blockSize]: '4' });
    // A .slm that records the quantized graph hash and labels passes the species check on read.
    const slm = readSlm(writeSlm(c8.tensors, { species: c8.species, graph: c8.graphHash, vocabulary: labels, extra: c8.metadata }));
    expect(slm.species).toBe(c8.species);
    expect(quantBlockSize(slm.metadata)).toBe(4);
  });

  it('refuses what it cannot rewrite, with one line naming the problem', async () => {
    const p: MlpParams = { shape: { inputs: 6, hidden: 5, classes: 3 }, w1: rand(6, 'w1', 30), b1: rand(6, 'b1', 5), w2: rand(6, 'w2', 15), b2: rand(6, 'b2', 3) };
    const graph = mlpGraph(p.shape, 't');
    const q = quantizeModel(mlpToTensors(p), 'int4', 2);
    expect(() => quantizedGraph(graph, q, 4)).toThrow(/"fc1.weight.scales" is F32 \[6,3\] but "fc1.weight.q" \[6,5\] with block size 4 needs F32 \[6,2\]/);
    expect(() => quantizedGraph(graph, mlpToTensors(p), 2)).toThrow(/stores no tensor quantized/);
    expect(() => quantizedGraph(mlpGraph({ inputs: 6, hidden: 5, classes: 4 }, 't'), q, 2)).toThrow(/"fc2.weight.q" has shape \[5,3\] but the graph's "fc2.weight" is \[5,4\]/);
    expect(() => quantizedGraph(echoGraph([6, 5]), q, 2)).toThrow(/stores "fc1.weight" quantized but the graph has no external weight "fc1.weight"/);
    expect(() => quantBlockSize({})).toThrow(/garden.quant.blockSize is null, expected a positive integer/);
    const short = q.map((t) => (t.name === 'fc1.weight.q' ? { ...t, data: t.data.subarray(1) } : t));
    await expect(createOrtSession(quantizedGraph(graph, q, 2), short)).rejects.toThrow(/"fc1.weight.q" is 14 bytes but the graph expects 15/);
  });
});

/* ---------------------------------------------------------------- the starter digits base */

const STARTER = fileURLToPath(new URL('../../../public/starter/digits/', import.meta.url));
const ROWS = 2000;

function starter(rel: string): Uint8Array {
  const path = STARTER + rel;
  if (!existsSync(path)) throw new Error(`${path} is missing; run "npm run starter" first`);
  return new Uint8Array(readFileSync(path));
}

function argmaxAccuracy(logits: Float32Array, suite: Suite, rows: number): number {
  return accuracy(logits, suite.labels.subarray(0, rows), suite.classes);
}

describe('the starter digits base, quantized', () => {
  it('int8 and int4 candidates run from their quantized graphs, match the CPU reference, and are smaller', async () => {
    const base = readSlm(starter('base.slm'));
    const graph = starter('graph.onnx');
    const labels = Array.from({ length: 10 }, (_, i) => String(i));
    expect(speciesId(speciesSignature(base.tensors, sha256Hex(graph), labels))).toBe(base.species);
    const suites = { test: readSuite(starter('suites/test.suite')), mixed: readSuite(starter('suites/mixed.suite')) };
    const rows = (s: Suite) => Math.min(ROWS, s.count);

    // The parent, written the same way (graph hash and labels recorded), for a like-for-like size.
    const parentBytes = writeSlm(base.tensors, { species: base.species, graph: sha256Hex(graph), vocabulary: labels }).length;
    const parentSession = await createOrtSession(graph, base.tensors, { numThreads: 1 });
    const rowsOut: Record<string, unknown>[] = [];
    const f32: Record<string, number> = {};
    for (const [id, s] of Object.entries(suites)) f32[id] = argmaxAccuracy(await runClassifier(parentSession, suiteRows(s, 0, rows(s)), rows(s), 784), s, rows(s));
    await releaseSession(parentSession);
    rowsOut.push({ model: 'f32 parent', bytes: parentBytes, ratio: 1, ...f32 });

    for (const block of [32, 128]) {
      for (const scheme of ['int8', 'int4'] as QuantScheme[]) {
        const c = quantizeCandidate(graph, base.tensors, labels, scheme, block);
        const bytes = writeSlm(c.tensors, { species: c.species, graph: c.graphHash, vocabulary: labels, extra: c.metadata });
        const ratio = parentBytes / bytes.length;
        // q bytes + scales (one float32 per block; fc2's rows of 10 pay a whole scale each).
        expect(ratio).toBeGreaterThan(scheme === 'int8' ? (block === 32 ? 3.45 : 3.65) : block === 32 ? 6.1 : 6.5);
        // From the file: a reader sees only the quantized tensors.
        const file = readSlm(bytes);
        const qd = scheme === 'int8' ? 'I8' : 'I4';
        expect(file.tensors.map((t) => `${t.name}:${t.dtype}`).sort()).toEqual(['fc1.bias:F32', `fc1.weight.q:${qd}`, 'fc1.weight.scales:F32', 'fc2.bias:F32', `fc2.weight.q:${qd}`, 'fc2.weight.scales:F32']);
        const session = await createOrtSession(quantizedGraph(graph, file.tensors, quantBlockSize(file.metadata)), file.tensors, { numThreads: 1 });
        const ref = mlpFromTensors(dequantizeModel(file.tensors, block));
        const acc: Record<string, number> = {};
        let maxDiff = 0;
        for (const [id, s] of Object.entries(suites)) {
          const x = suiteRows(s, 0, rows(s));
          const got = await runClassifier(session, x, rows(s), 784);
          const want = mlpForward(ref, x, rows(s));
          for (let k = 0; k < got.length; k++) maxDiff = Math.max(maxDiff, Math.abs(got[k] - want[k]) / (1 + Math.abs(want[k])));
          acc[id] = argmaxAccuracy(got, s, rows(s));
          expect(acc[id]).toBe(argmaxAccuracy(want, s, rows(s)));
        }
        await releaseSession(session);
        expect(maxDiff).toBeLessThan(1e-5);
        rowsOut.push({ model: `${scheme} block ${block}`, bytes: bytes.length, ratio: Number(ratio.toFixed(3)), ...acc, maxRelLogitDiff: Number(maxDiff.toExponential(2)), species: c.species.slice(0, 12) });
        // int8 keeps the parent's quality to within a point on both suites.
        if (scheme === 'int8') for (const id of Object.keys(suites)) expect(Math.abs(acc[id] - f32[id])).toBeLessThanOrEqual(0.01);
      }
    }
    console.log(`quantized digits base (suites test ${rows(suites.test)} rows, mixed ${rows(suites.mixed)} rows):`);
    console.table(rowsOut);
  });
});
