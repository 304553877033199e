/**
 * The GPU kernels, keyed by the registry's `kernel` field (KernelId): one table of stages, and the
 * operator registry (src/core/operators/registry.ts) says which kernel runs each operator. An
 * operator declared with an existing kernel id gets its GPU path from here with no second list;
 * one without `kernel` has no GPU path, and the backend refuses it (hasKernel says so first).
 */
import { OPERATORS, OPERATOR_IDS, isOperatorId } from '../../core/operators/registry.ts';
import type { KernelId, OperatorDef } from '../../core/operators/types.ts';
import { blendGpu } from './blend.gpu.ts';
import { crossoverGpu } from './crossover.gpu.ts';
import { mutateGpu } from './mutate.gpu.ts';
import { pruneGpu } from './prune.gpu.ts';
import { quantizeGpu } from './quantize.gpu.ts';
import { slerpGpu } from './slerp.gpu.ts';
import { taskArithmeticKernel } from './task-arithmetic.gpu.ts';
import { nearswapGpu } from './nearswap.gpu.ts';
import { modelStockGpu } from './model-stock.gpu.ts';
import { nuslerpGpu } from './nuslerp.gpu.ts';
import { multislerpGpu } from './multislerp.gpu.ts';
import { karcherGpu } from './karcher.gpu.ts';
import { sceGpu } from './sce.gpu.ts';
import { arceeFusionGpu } from './arcee-fusion.gpu.ts';
import { ramGpu } from './ram.gpu.ts';
import type { GpuKernel } from './types.ts';

export const GPU_KERNELS: Readonly<Record<KernelId, GpuKernel>> = Object.freeze({
  blend: blendGpu,
  'task-arithmetic': taskArithmeticKernel,
  crossover: crossoverGpu,
  mutate: mutateGpu,
  prune: pruneGpu,
  slerp: slerpGpu,
  quantize: quantizeGpu,
  nearswap: nearswapGpu,
  'model-stock': modelStockGpu,
  nuslerp: nuslerpGpu,
  multislerp: multislerpGpu,
  karcher: karcherGpu,
  sce: sceGpu,
  'arcee-fusion': arceeFusionGpu,
  ram: ramGpu,
});

/** The GPU kernel an operator declaration names, or null when it declares none. */
export function kernelFor(op: Pick<OperatorDef, 'kernel'>): GpuKernel | null {
  const id = op.kernel?.id;
  return id !== undefined && Object.prototype.hasOwnProperty.call(GPU_KERNELS, id) ? GPU_KERNELS[id] : null;
}

/** Whether the registry's operator `opId` has a GPU kernel. */
export function hasGpuKernel(opId: string): boolean {
  return isOperatorId(opId) && kernelFor(OPERATORS[opId]) !== null;
}

/** The registry's operator ids that run on the GPU, in table order (derived, never listed by hand). */
export const GPU_OPERATOR_IDS: readonly string[] = Object.freeze(OPERATOR_IDS.filter(hasGpuKernel));
