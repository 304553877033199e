/**
 * A GPU kernel: the WebGPU twin of the CPU references of every operator that declares its id as
 * `kernel` in the registry (src/core/operators/registry.ts); same inputs, params and context.
 * Its stages are small classes over KernelContext; its passes run in a TensorJob (tensor-job.ts).
 */
import type { KernelId, OperatorDef, ParamValues, TensorContext } from '../../core/operators/types.ts';
import type { KernelContext } from '../context.ts';
import type { ChunkSink, TensorSource } from '../source.ts';

export interface GpuKernel {
  readonly id: KernelId;
  /**
   * `op` is the registry's declaration of the operator being run: a kernel shared by several
   * operators reads what differs between them there (the task-arithmetic configuration, the
   * blend weights). The output goes to `sink` chunk by chunk (and null is returned), or comes
   * back whole.
   */
  run(
    k: KernelContext,
    src: TensorSource,
    params: ParamValues,
    ctx: TensorContext,
    op: OperatorDef,
    sink?: ChunkSink,
  ): Promise<Float32Array | null>;
}
