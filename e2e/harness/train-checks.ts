/**
 * The error measures of the training-kernel conformance harnesses (kernels-train-entry.ts,
 * kernels-train-lm-entry.ts), each a figure beside its bound that the specs assert:
 *  - 'sum': max over elements of |gpu − cpu| / (u·Σ|terms|), u = 2⁻²⁴, bound terms + 2 (f32
 *    summation of K terms is off by at most γ_K·Σ|terms| in any order, plus the CPU's rounding);
 *  - 'scale': max |gpu − cpu| / max |cpu| over the tensor, with a bound per check;
 *  - 'bits': elements whose bits differ (bound 0);
 *  - 'step': a tensor after AdamW, max |θ_gpu − θ_cpu| / lr (stepChecks).
 */
import { mulberry32 } from '../../src/core/seeded.ts';
import { mmNN } from '../../src/core/train/ops.ts';
import { openGpu } from '../../src/gpu/device.ts';

export interface Check {
  name: string;
  measure: 'sum' | 'scale' | 'bits' | 'step';
  value: number;
  bound: number;
  n: number;
}

export const U = 2 ** -24;

export function rand(n: number, seed: number, lo = -1, hi = 1, zeros = 0): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() < zeros ? 0 : lo + (hi - lo) * r()));
}

export const abs = (x: ArrayLike<number>) => Float64Array.from(x, Math.abs);

/** |gpu − cpu| / (u·scale) at worst, scale the per-element Σ|terms|. */
export function sumCheck(name: string, gpu: Float32Array, cpu: ArrayLike<number>, scale: ArrayLike<number>, terms: number): Check {
  let worst = 0;
  for (let i = 0; i < gpu.length; i++) {
    const d = Math.abs(gpu[i] - cpu[i]);
    if (d === 0) continue;
    worst = Math.max(worst, Number.isFinite(d) ? d / (U * Math.max(scale[i], 2 ** -126)) : Infinity);
  }
  return { name, measure: 'sum', value: gpu.length === cpu.length ? worst : Infinity, bound: terms + 2, n: gpu.length };
}

export function scaleCheck(name: string, gpu: Float32Array, cpu: ArrayLike<number>, bound: number): Check {
  let d = 0;
  let m = 0;
  for (let i = 0; i < cpu.length; i++) {
    d = Math.max(d, Number.isNaN(gpu[i]) ? Infinity : Math.abs(gpu[i] - cpu[i]));
    m = Math.max(m, Math.abs(cpu[i]));
  }
  return { name, measure: 'scale', value: gpu.length === cpu.length ? d / Math.max(m, 2 ** -126) : Infinity, bound, n: cpu.length };
}

export function bitsCheck(name: string, gpu: Float32Array, cpu: Float32Array): Check {
  let diff = gpu.length === cpu.length ? 0 : Infinity;
  const a = new Uint32Array(gpu.buffer, gpu.byteOffset, gpu.length);
  const b = new Uint32Array(cpu.buffer, cpu.byteOffset, cpu.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
  return { name, measure: 'bits', value: diff, bound: 0, n: cpu.length };
}

/** Σ|a|·|b| per element of a·b (shapes as mmNN: a [m,k], b [k,n]). */
export function absProduct(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  mmNN(abs(a), abs(b), m, k, n, out);
  return out;
}

export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/**
 * One step's checks, GPU beside CPU: the loss, each tensor's gradient (1e-4 of its scale) and the
 * tensor after AdamW (the 'step' measure, max |θ_gpu − θ_cpu| / lr ≤ 1e-3). `near` keeps, per
 * tensor, the elements whose CPU gradient was non-zero but within the gradient tolerance of 0 at
 * some step so far: AdamW's first step there is ±lr by the gradient's sign, which may flip.
 */
export function stepChecks(
  tag: string,
  names: readonly string[],
  gpu: { loss: number; grads: Record<string, Float32Array>; weights: Float32Array[] },
  cpu: { loss: Float32Array | Float64Array; grads: ArrayLike<number>[]; weights: Float32Array[] },
  near: Set<number>[],
  lr: number,
): Check[] {
  const out = [scaleCheck(`${tag} loss`, Float32Array.of(gpu.loss), cpu.loss, 1e-5)];
  names.forEach((name, i) => {
    const grad = cpu.grads[i];
    out.push(scaleCheck(`${tag} ${name} grad`, gpu.grads[name], grad, 1e-4));
    let m = 0;
    for (let j = 0; j < grad.length; j++) m = Math.max(m, Math.abs(grad[j]));
    const gw = gpu.weights[i];
    let worst = 0;
    for (let j = 0; j < gw.length; j++) {
      // Exact zeros (pixels 0 in every row) are 0 on both sides; a tiny non-zero gradient may flip.
      if (grad[j] !== 0 && Math.abs(grad[j]) <= 1e-4 * m) near[i].add(j);
      if (!near[i].has(j)) worst = Math.max(worst, Number.isNaN(gw[j]) ? Infinity : Math.abs(gw[j] - cpu.weights[i][j]) / lr);
    }
    out.push({
      name: `${tag} ${name} after AdamW (${near[i].size} near-zero gradients excluded)`,
      measure: 'step',
      value: worst,
      bound: 1e-3,
      n: gw.length,
    });
  });
  return out;
}

/** fn on a fresh WebGPU device, destroyed afterwards. */
export async function withGpu<T>(fn: (device: GPUDevice) => Promise<T>): Promise<T> {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  try {
    return await fn(gpu.device);
  } finally {
    gpu.device.destroy();
  }
}
