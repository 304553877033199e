import { describe, expect, it } from 'vitest';
import { createOrtSession, releaseSession, runSession } from './ort-session.ts';
import { mlpForward, mlpGraph, mlpToTensors, type MlpParams } from '../core/models/mlp.ts';
import { inspectOnnxGraph } from '../core/models/onnx-graph.ts';
import { randomUnit, tensorKey } from '../core/operators/prng.ts';
import { fromFloat32 } from '../core/tensor.ts';

function randomMlp(seed: number, inputs: number, hidden: number, classes: number): MlpParams {
  const r = (name: string, n: number) => Float32Array.from({ length: n }, (_, i) => randomUnit(tensorKey(seed, name), i) * 2 - 1);
  return {
    shape: { inputs, hidden, classes },
    w1: r('w1', inputs * hidden),
    b1: r('b1', hidden),
    w2: r('w2', hidden * classes),
    b2: r('b2', classes),
  };
}

describe('onnxruntime-web sessions over weight-free graphs', () => {
  it('the MLP graph declares every weight as external data and embeds none', () => {
    const g = inspectOnnxGraph(mlpGraph({ inputs: 784, hidden: 64, classes: 10 }, 'digits'));
    expect(g.inputs).toEqual(['input']);
    expect(g.outputs).toEqual(['logits']);
    expect(g.embeddedWeights).toEqual([]);
    expect(g.external.map((e) => [e.location, e.length])).toEqual([
      ['fc1.weight', 784 * 64 * 4],
      ['fc1.bias', 64 * 4],
      ['fc2.weight', 64 * 10 * 4],
      ['fc2.bias', 10 * 4],
    ]);
  });

  it('matches the CPU forward pass on seeded random models and inputs', async () => {
    for (const seed of [1, 2, 3]) {
      const [I, H, C] = [5 + seed * 3, 4 + seed, 2 + seed];
      const p = randomMlp(seed, I, H, C);
      const session = await createOrtSession(mlpGraph(p.shape, 't'), mlpToTensors(p));
      const batch = 3 + seed;
      const x = Float32Array.from({ length: batch * I }, (_, i) => randomUnit(tensorKey(seed, 'x'), i));
      const got = await runSession(session, x, batch, I);
      const want = mlpForward(p, x, batch);
      expect(got.length).toBe(batch * C);
      expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-4);
      expect(() => runSession(session, x.subarray(1), batch, I)).toThrow(`runSession: ${batch * I - 1} values for batch ${batch} × ${I}`);
      expect(() => runSession(session, new Int32Array(batch), batch, I)).toThrow(`runSession: ${batch} ids for batch ${batch} × ${I}`);
      await releaseSession(session);
    }
  });

  it('refuses a model missing a tensor, or with a tensor of the wrong shape', async () => {
    const p = randomMlp(9, 6, 4, 3);
    const g = mlpGraph(p.shape, 't');
    const tensors = mlpToTensors(p);
    await expect(
      createOrtSession(
        g,
        tensors.filter((t) => t.name !== 'fc2.bias'),
      ),
    ).rejects.toThrow(/no tensor "fc2.bias"/);
    const wrong = tensors.map((t) => (t.name === 'fc1.weight' ? fromFloat32('fc1.weight', [4, 6], new Float32Array(24)) : t));
    await expect(createOrtSession(g, wrong)).rejects.toThrow(/has shape \[4,6\] but the graph expects \[6,4\]/);
  });
});
