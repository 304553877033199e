/**
 * The WebGPU kernel backend: the same interface as the CPU reference backend
 * (src/core/operators/backend.ts), so breed never knows which one it drives.
 *
 * It never runs the CPU behind the caller's back: an operator without a GPU kernel throws
 * NoGpuKernelError (ask hasKernel first), and a device lost mid-run throws DeviceLostError, so
 * the caller can switch to cpuBackend and carry on.
 */
import type { KernelBackend } from '../core/operators/backend.ts';
import type { OperatorDef, ParamValues, TensorContext } from '../core/operators/types.ts';
import { DeviceLostError, getGpu, isDeviceLostError, type Gpu } from './device.ts';
import { KernelContext, type KernelOptions } from './kernel-context.ts';
import { GPU_OPERATORS } from './ops/index.ts';

export { DeviceLostError, isDeviceLostError };

export class NoGpuKernelError extends Error {
  override readonly name = 'NoGpuKernelError';
  constructor(readonly operator: string) {
    super(`operator "${operator}" has no WebGPU kernel; GPU kernels exist for: ${Object.keys(GPU_OPERATORS).join(', ')}`);
  }
}

export interface WebGpuBackend extends KernelBackend {
  readonly kind: 'webgpu';
  /** Whether `opId` has a GPU kernel (otherwise run() throws NoGpuKernelError). */
  hasKernel(opId: string): boolean;
  /** The ids with GPU kernels. */
  readonly kernels: readonly string[];
  /** Whether the device behind this backend was lost (create a new backend, or use the CPU). */
  readonly lost: boolean;
  readonly gpu: Gpu;
}

/** The WebGPU backend on the cached device, or null where WebGPU is missing. */
export async function createWebGpuBackend(options: KernelOptions = {}): Promise<WebGpuBackend | null> {
  const gpu = await getGpu();
  if (!gpu) return null;
  return webGpuBackendOn(gpu, options);
}

/** The backend over a given device (tests force small chunks through `options`). */
export function webGpuBackendOn(gpu: Gpu, options: KernelOptions = {}): WebGpuBackend {
  const k = new KernelContext(gpu, options);
  // One tensor at a time: runs are queued so they never interleave on the device.
  let queue: Promise<unknown> = Promise.resolve();
  const has = (id: string) => Object.prototype.hasOwnProperty.call(GPU_OPERATORS, id);
  return Object.freeze({
    kind: 'webgpu' as const,
    adapter: gpu.adapterInfo,
    software: gpu.software,
    gpu,
    kernels: Object.freeze(Object.keys(GPU_OPERATORS)),
    get lost() {
      return gpu.lost.value;
    },
    hasKernel: has,
    run(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Promise<Float32Array> {
      if (!has(op.id)) return Promise.reject(new NoGpuKernelError(op.id));
      if (gpu.lost.value) return Promise.reject(new DeviceLostError(gpu.lost.reason));
      const gop = GPU_OPERATORS[op.id];
      const next = queue.then(() => k.guard(`${op.id} on "${ctx.name}"`, () => gop.run(k, inputs, params, ctx, op)));
      queue = next.catch(() => undefined);
      return next;
    },
  });
}

export interface FallbackBackend extends KernelBackend {
  /** Why tensors ran on the CPU instead (device lost, or no kernel for the operator); empty when none did. */
  readonly fallbacks: readonly string[];
}

/**
 * The WebGPU backend with an explicit, recorded CPU fallback: a tensor whose operator has no GPU
 * kernel runs on `cpu`, and after the device is lost every remaining tensor does. `adapter` then
 * says so (a receipt built from it names both backends), and `kind` is the backend that ran the
 * last tensor. Other GPU errors are not hidden: they reject.
 */
export function withCpuFallback(gpu: WebGpuBackend, cpu: KernelBackend, onFallback?: (reason: string) => void): FallbackBackend {
  const fallbacks: string[] = [];
  let lastKind: KernelBackend['kind'] = gpu.kind;
  const note = (reason: string) => {
    if (!fallbacks.includes(reason)) {
      fallbacks.push(reason);
      onFallback?.(reason);
    }
  };
  return {
    get kind() {
      return lastKind;
    },
    get adapter() {
      return fallbacks.length ? `${gpu.adapter}; ${cpu.adapter} for some tensors (${fallbacks.join('; ')})` : gpu.adapter;
    },
    get software() {
      return gpu.software;
    },
    get fallbacks() {
      return fallbacks;
    },
    async run(op, inputs, params, ctx) {
      if (!gpu.lost && gpu.hasKernel(op.id)) {
        try {
          const out = await gpu.run(op, inputs, params, ctx);
          lastKind = gpu.kind;
          return out;
        } catch (e) {
          if (!isDeviceLostError(e)) throw e;
          note(e.message);
        }
      } else if (gpu.lost) note(`WebGPU device lost: ${gpu.gpu.lost.reason}`);
      else note(`no WebGPU kernel for ${op.id}`);
      lastKind = cpu.kind;
      return cpu.run(op, inputs, params, ctx);
    },
  };
}
