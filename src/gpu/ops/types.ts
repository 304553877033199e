/**
 * A GPU operator: the WebGPU twin of one CPU reference in src/core/operators (same id, same
 * inputs, params and context). Its stages are small classes over KernelContext.
 */
import type { OperatorDef, ParamValues, TensorContext } from '../../core/operators/types.ts';
import type { KernelContext } from '../kernel-context.ts';

export interface GpuOperator {
  readonly id: string;
  /** `op` is the registry's declaration (the task-arithmetic family reads its configuration there). */
  run(k: KernelContext, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext, op?: OperatorDef): Promise<Float32Array>;
}
