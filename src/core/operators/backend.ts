/**
 * A kernel backend runs one operator on one tensor. The CPU reference backend lives here; the
 * WebGPU backend (src/gpu/backend.ts) implements the same interface, so `breed` never knows which
 * one it drives, and a lost GPU device can fall back to this one mid-run.
 */
import type { OperatorDef, ParamValues, TensorContext } from './types.ts';

export const BACKEND_KINDS = Object.freeze(['cpu', 'webgpu'] as const);
export type BackendKind = (typeof BACKEND_KINDS)[number];

export interface KernelBackend {
  readonly kind: BackendKind;
  /** Human-readable adapter: "CPU reference (JavaScript)", or the WebGPU adapter's vendor/architecture/description. */
  readonly adapter: string;
  /** True for software adapters (SwiftShader): never a performance figure. */
  readonly software: boolean;
  run(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Promise<Float32Array>;
}

export const cpuBackend: KernelBackend = Object.freeze({
  kind: 'cpu',
  adapter: 'CPU reference (JavaScript)',
  software: false,
  run: async (op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext) => op.cpu(inputs, params, ctx),
});
