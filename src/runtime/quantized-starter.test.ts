/**
 * The starter digits base (public/starter/digits, built by "npm run starter"), quantized int8 and
 * int4: run from the quantized graph in onnxruntime-web (wasm, one thread), compared with the CPU
 * dequantized reference, sizes and accuracy beside the f32 parent (docs/OPERATORS.md).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createOrtSession, releaseSession, runClassifier } from './ort-session.ts';
import { mlpForward, mlpFromTensors } from '../core/models/mlp.ts';
import { quantBlockSize, quantizedGraph } from '../core/models/quantized-graph.ts';
import { quantizedCandidate } from '../core/models/test-helpers.ts';
import { dequantizeModel, type QuantScheme } from '../core/operators/quantize.cpu.ts';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../core/format/slm.ts';
import { readSuite, suiteRows, type Suite } from '../core/eval/suite.ts';
import { accuracy } from '../core/eval/metrics.ts';
import { sha256Hex } from '../core/hash.ts';

const STARTER = fileURLToPath(new URL('../../public/starter/digits/', import.meta.url));
const ROWS = 500;

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
    for (const [id, s] of Object.entries(suites))
      f32[id] = argmaxAccuracy(await runClassifier(parentSession, suiteRows(s, 0, rows(s)), rows(s), 784), s, rows(s));
    await releaseSession(parentSession);
    rowsOut.push({ model: 'f32 parent', bytes: parentBytes, ratio: 1, ...f32 });

    for (const block of [32, 128]) {
      for (const scheme of ['int8', 'int4'] as QuantScheme[]) {
        const c = await quantizedCandidate(graph, base.tensors, labels, scheme, block);
        const bytes = c.bytes;
        const ratio = parentBytes / bytes.length;
        // q bytes + scales (one float32 per block; fc2's rows of 10 pay a whole scale each), and
        // the header: a candidate records its recipe, its lineage and a content hash per tensor (about 1.5 KB).
        expect(ratio).toBeGreaterThan(scheme === 'int8' ? (block === 32 ? 3.4 : 3.6) : block === 32 ? 5.9 : 6.3);
        // From the file: a reader sees only the quantized tensors.
        const file = readSlm(bytes);
        const qd = scheme === 'int8' ? 'I8' : 'I4';
        expect(file.tensors.map((t) => `${t.name}:${t.dtype}`).sort()).toEqual([
          'fc1.bias:F32',
          `fc1.weight.q:${qd}`,
          'fc1.weight.scales:F32',
          'fc2.bias:F32',
          `fc2.weight.q:${qd}`,
          'fc2.weight.scales:F32',
        ]);
        if (block !== 32) {
          rowsOut.push({
            model: `${scheme} block ${block}`,
            bytes: bytes.length,
            ratio: Number(ratio.toFixed(3)),
            species: c.species.slice(0, 12),
          });
          continue; // sizes only: the runs below are the same code at another block size
        }
        const session = await createOrtSession(quantizedGraph(graph, file.tensors, quantBlockSize(file.metadata)), file.tensors, {
          numThreads: 1,
        });
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
        {
          // The "cast" lowering (opset 13) computes the same weights, so the same logits.
          const cast = await createOrtSession(quantizedGraph(graph, file.tensors, block, { op: 'cast' }), file.tensors, { numThreads: 1 });
          const x = suiteRows(suites.test, 0, rows(suites.test));
          const viaCast = await runClassifier(cast, x, rows(suites.test), 784);
          await releaseSession(cast);
          const again = await createOrtSession(c.graph, file.tensors, { numThreads: 1 });
          expect(viaCast).toEqual(await runClassifier(again, x, rows(suites.test), 784));
          await releaseSession(again);
        }
        rowsOut.push({
          model: `${scheme} block ${block}`,
          bytes: bytes.length,
          ratio: Number(ratio.toFixed(3)),
          ...acc,
          maxRelLogitDiff: Number(maxDiff.toExponential(2)),
          species: c.species.slice(0, 12),
        });
        // int8 keeps the parent's quality to within a point on both suites.
        if (scheme === 'int8') for (const id of Object.keys(suites)) expect(Math.abs(acc[id] - f32[id])).toBeLessThanOrEqual(0.01);
      }
    }
    console.log(`quantized digits base (suites test ${rows(suites.test)} rows, mixed ${rows(suites.mixed)} rows):`);
    console.table(rowsOut);
  });
});
