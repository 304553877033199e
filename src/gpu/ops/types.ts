/**
 * A GPU operator: the WebGPU twin of one CPU reference in src/core/operators (same id, same
 * inputs, params and context). Its stages are small classes over KernelContext.
 */
import type { OperatorDef, ParamValues, TensorContext } from '../../core/operators/types.ts';
import type { KernelContext } from '../kernel-context.ts';
import type { ChunkSink, TensorSource } from '../source.ts';

export interface GpuOperator {
  readonly id: string;
  /**
   * `op` is the registry's declaration (the task-arithmetic family reads its configuration there).
   * The output goes to `sink` chunk by chunk (and null is returned), or comes back whole.
   */
  run(k: KernelContext, src: TensorSource, params: ParamValues, ctx: TensorContext, op?: OperatorDef, sink?: ChunkSink): Promise<Float32Array | null>;
}
