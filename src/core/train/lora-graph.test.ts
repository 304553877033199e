import { describe, expect, it } from 'vitest';
import { mlpForward, mlpFromTensors, mlpGraphSpec, mlpToTensors } from '../models/mlp.ts';
import { buildOnnxGraph } from '../models/onnx-graph.ts';
import { mulberry32 } from '../seeded.ts';
import { createOrtSession, releaseSession, runClassifier } from '../../runtime/ort-session.ts';
import { initAdapter, mergeAdapter, type Adapter, type LoraConfig } from './lora.ts';
import { withLoraMatMuls, loraGraphTensors } from './lora-graph.ts';
import { mlpSites } from './mlp.ts';

const CFG: LoraConfig = {
  r: 3,
  alpha: 6,
  dropout: 0,
  targetModules: ['fc1', 'fc2'],
  modulesToSave: [],
  useRslora: false,
  fanInFanOut: true,
  baseModel: 'b',
  taskType: null,
};
const rnd = (seed: number) => {
  const g = mulberry32(seed);
  return (n: number, s = 1) => Float32Array.from({ length: n }, () => (g() - 0.5) * s);
};
function randomB(a: Adapter, seed: number): Adapter {
  const f = rnd(seed);
  for (const p of a.lora.values()) p.b.set(f(p.b.length));
  return a;
}

describe('LoRA as extra MatMuls in the graph (no merge), run by onnxruntime', () => {
  it('the MLP species: logits equal the CPU forward of the merged weights; a saved head replaces its tensors', async () => {
    const f = rnd(1);
    const shape = { inputs: 10, hidden: 6, classes: 3 };
    const base = mlpToTensors({ shape, w1: f(60), b1: f(6), w2: f(18), b2: f(3) });
    const adapter = randomB(
      initAdapter({ ...CFG, targetModules: ['fc1'], modulesToSave: ['fc2'] }, mlpSites(base), new Map(base.map((t) => [t.name, t])), 2),
      3,
    );
    adapter.saved.get('fc2.bias')!.data.set(new Uint8Array(new Float32Array([1, -1, 0.5]).buffer));
    const graph = buildOnnxGraph(withLoraMatMuls(mlpGraphSpec(shape, 'toy'), adapter));
    const x = f(4 * 10);
    const session = await createOrtSession(graph, loraGraphTensors(base, adapter));
    const got = await runClassifier(session, x, 4, 10);
    await releaseSession(session);
    const want = mlpForward(mlpFromTensors(mergeAdapter(base, adapter)), x, 4);
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
  });
});
