/**
 * LoRA's low-rank path on the training kernels: y += s·(x·Aᵀ)·Bᵀ for A [r, in] and B [out, r]
 * (PEFT's layout, src/core/train/mlp.ts loraLinear; s = alpha / r), and its backward, all as
 * matmuls (kernels.ts). Dropout on the LoRA input is left to the CPU engine: this path is the
 * p = 0 case (the identity).
 */
import type { Dispatch, TrainKernels } from './kernels.ts';

export interface LoraBuffers {
  x: GPUBuffer;
  a: GPUBuffer;
  b: GPUBuffer;
  /** [rows, r]: x·Aᵀ, kept from the forward for dB. */
  t: GPUBuffer;
}

export interface LoraShape {
  rows: number;
  inFeatures: number;
  outFeatures: number;
  r: number;
  scaling: number;
}

/** y [rows, out] += s·(x·Aᵀ)·Bᵀ; t = x·Aᵀ stays for the backward. */
export function loraForward(k: TrainKernels, l: LoraBuffers, y: GPUBuffer, s: LoraShape): Dispatch[] {
  return [
    k.matmul(l.x, l.a, l.t, { m: s.rows, k: s.inFeatures, n: s.r, transB: true }),
    k.matmul(l.t, l.b, y, { m: s.rows, k: s.r, n: s.outFeatures, transB: true, alpha: s.scaling, accumulate: true }),
  ];
}

/**
 * From dy [rows, out]: dB (+)= s·dyᵀ·t, dt = s·dy·B, dA (+)= dtᵀ·x and dx += dt·A (dx omitted
 * when the input needs no gradient). dt [rows, r] is scratch.
 */
export function loraBackward(
  k: TrainKernels,
  l: LoraBuffers,
  g: { dy: GPUBuffer; dt: GPUBuffer; da: GPUBuffer; db: GPUBuffer; dx?: GPUBuffer; accumulate?: boolean },
  s: LoraShape,
): Dispatch[] {
  const acc = g.accumulate ?? false;
  const ds = [
    k.matmul(g.dy, l.t, g.db, { m: s.outFeatures, k: s.rows, n: s.r, transA: true, alpha: s.scaling, accumulate: acc }),
    k.matmul(g.dy, l.b, g.dt, { m: s.rows, k: s.outFeatures, n: s.r, alpha: s.scaling }),
    k.matmul(g.dt, l.x, g.da, { m: s.r, k: s.rows, n: s.inFeatures, transA: true, accumulate: acc }),
  ];
  if (g.dx) ds.push(k.matmul(g.dt, l.a, g.dx, { m: s.rows, k: s.r, n: s.inFeatures, accumulate: true }));
  return ds;
}
