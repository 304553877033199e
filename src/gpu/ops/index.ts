/**
 * The GPU kernels, by operator id: one lookup table, the twin of the CPU registry's table.
 * An operator missing here has no GPU kernel; the backend refuses it (hasKernel says so first).
 */
import { blendGpu } from './blend.gpu.ts';
import { crossoverGpu } from './crossover.gpu.ts';
import { mutateGpu } from './mutate.gpu.ts';
import { pruneGpu } from './prune.gpu.ts';
import { quantizeGpu } from './quantize.gpu.ts';
import { slerpGpu } from './slerp.gpu.ts';
import { soupGpu } from './soup.gpu.ts';
import { taskArithmeticOperator } from './task-arithmetic.gpu.ts';
import type { GpuOperator } from './types.ts';

export const GPU_OPERATORS: Readonly<Record<string, GpuOperator>> = Object.freeze({
  blend: blendGpu,
  'task-delta': taskArithmeticOperator('task-delta'),
  'sparse-task-delta': taskArithmeticOperator('sparse-task-delta'),
  dare: taskArithmeticOperator('dare'),
  ties: taskArithmeticOperator('ties'),
  'dare-ties': taskArithmeticOperator('dare-ties'),
  federated: taskArithmeticOperator('federated'),
  crossover: crossoverGpu,
  mutate: mutateGpu,
  prune: pruneGpu,
  slerp: slerpGpu,
  soup: soupGpu,
  quantize: quantizeGpu,
});
