/**
 * The engine choice's figures (docs/TRAINING.md): one training step (forward, backward, SGD
 * update) of a matmul-heavy MLP, 1024 → 256 (ReLU) → 10, batch 64, dense inputs, in
 *   - the garden's tape (src/core/train, f32, CPU),
 *   - and, with --tfjs DIR (a folder where `npm install @tensorflow/tfjs@4.22.0
 *     @tensorflow/tfjs-backend-wasm@4.22.0` was run), TensorFlow.js's cpu and wasm backends;
 * beside each, the same backend's plain matmul of the step's largest product, measured in the
 * same run.   npx tsx examples/train/bench-engine.ts [--tfjs DIR] [--steps N]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../../src/core/seeded.ts';
import { matmul, mmNN, relu } from '../../src/core/train/ops.ts';
import { crossEntropy } from '../../src/core/train/loss.ts';
import { Tape } from '../../src/core/train/tape.ts';

const [B, I, H, C] = [64, 1024, 256, 10];
const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const STEPS = Number(arg('--steps') ?? 20);
const rnd = mulberry32(1);
const rand = (n: number) => Float32Array.from({ length: n }, () => (rnd() - 0.5) * 0.1);
const X = rand(B * I);
const W1 = rand(I * H);
const W2 = rand(H * C);
const labels = Int32Array.from({ length: B }, (_, i) => i % C);
// forward 2·B·I·H + 2·B·H·C, backward twice that (dX of the first layer is not needed: 2·B·I·H less).
const stepFlops = 3 * (2 * B * I * H + 2 * B * H * C) - 2 * B * I * H;
const mmFlops = 2 * B * I * H;

function time(f: () => void, n = STEPS): number {
  f();
  const t = performance.now();
  for (let s = 0; s < n; s++) f();
  return (performance.now() - t) / n;
}

const rows: { engine: string; stepMs: number; stepGflops: number; matmulGflops: number }[] = [];
function report(engine: string, stepMs: number, mmMs: number): void {
  rows.push({ engine, stepMs, stepGflops: stepFlops / stepMs / 1e6, matmulGflops: mmFlops / mmMs / 1e6 });
}

{
  const w1 = W1.slice();
  const w2 = W2.slice();
  const step = () => {
    const t = new Tape('f32');
    const x = t.constant(X, B, I, 'x');
    const v1 = t.param(w1, I, H, 'w1');
    const v2 = t.param(w2, H, C, 'w2');
    const loss = crossEntropy(matmul(relu(matmul(x, v1)), v2), labels);
    t.backward(loss);
    for (let i = 0; i < w1.length; i++) w1[i] -= 0.01 * v1.grad![i];
    for (let i = 0; i < w2.length; i++) w2[i] -= 0.01 * v2.grad![i];
  };
  const out = new Float32Array(B * H);
  report(
    'garden tape (f32, CPU)',
    time(step),
    time(() => mmNN(X, W1, B, I, H, out)),
  );
}

const tfjsDir = arg('--tfjs');
if (tfjsDir) {
  const load = (p: string) => import(pathToFileURL(join(tfjsDir, 'node_modules', p)).href);
  const tf = await load('@tensorflow/tfjs/dist/tf.node.js');
  const wasm = await load('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js');
  wasm.setWasmPaths(join(tfjsDir, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/'));
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    await tf.ready();
    const x = tf.tensor2d(X, [B, I]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), C);
    const v1 = tf.variable(tf.tensor2d(W1, [I, H]));
    const v2 = tf.variable(tf.tensor2d(W2, [H, C]));
    const opt = tf.train.sgd(0.01);
    const loss = () => tf.losses.softmaxCrossEntropy(y, tf.matMul(tf.relu(tf.matMul(x, v1)), v2));
    const stepMs = time(() => {
      tf.tidy(() => void opt.minimize(loss, false, [v1, v2]));
      v1.dataSync();
    });
    const mmMs = time(() => tf.tidy(() => void tf.matMul(x, v1).dataSync()));
    report(`tfjs ${tf.version.tfjs} ${backend}`, stepMs, mmMs);
  }
}

for (const r of rows)
  console.log(
    `${r.engine.padEnd(26)} step ${r.stepMs.toFixed(1).padStart(7)} ms  ${r.stepGflops.toFixed(2)} GFLOP/s  plain matmul ${r.matmulGflops.toFixed(2)} GFLOP/s  (step/matmul ${(r.stepGflops / r.matmulGflops).toFixed(2)})`,
  );
