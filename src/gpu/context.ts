/**
 * The device side every operator kernel shares: the one bind-group layout, the compiled
 * pipelines (cached per device), the stages (one per class per context), how a tensor is split
 * into chunks under the device's binding limits, and turning a lost device into a DeviceLostError.
 * A tensor's passes run in a TensorJob (tensor-job.ts); exact selection is radix-select.ts.
 *
 * The layout (src/gpu/wgsl/elementwise.wgsl declares it): binding 0 the chunk uniform (`Chunk`),
 * 1 the packed inputs (one slab per parent), 2 the output, 3 the kernel's own parameter struct
 * (each kernel file declares `var<storage, read> params: ItsParams`; its host twin is a
 * wgslStruct beside the stage, src/gpu/wgsl-struct.ts).
 */
import prngWgsl from './wgsl/prng.wgsl?raw';
import headerWgsl from './wgsl/elementwise.wgsl?raw';
import reduceWgsl from './wgsl/reduce.wgsl?raw';
import { DeviceLostError, type Gpu } from './device.ts';
import type { JobStats } from './tensor-job.ts';

export const WORKGROUP_SIZE = 256;
/** WebGPU's guaranteed maximum of workgroups per dispatch dimension. */
export const MAX_WORKGROUPS_PER_DIM = 65535;
/** Elements each invocation of a reduction adds before the workgroup tree (PER in reduce.wgsl). */
export const REDUCE_PER_INVOCATION = 16;

const OUT_BINDING = '@group(0) @binding(2) var<storage, read_write> out: array<f32>;\n';

export interface KernelOptions {
  /** Cap on elements per chunk (tests force chunking with a small value); the binding limit caps it anyway. */
  maxChunkElements?: number;
  /** Workgroup size (default 256, capped by the device); tests use a small one to exercise the 2-D grid. */
  workgroupSize?: number;
  /**
   * Chunks in flight: 2 (default) overlaps the source read and upload of chunk i+1 and the
   * readback of chunk i−1 with the compute of chunk i; 1 runs the chunks one after another (the
   * baseline the overlap is measured against). Results are the same bytes either way.
   */
  pipelineDepth?: 1 | 2;
  /** Record every chunk's read, upload and completion times in the job statistics (tests, bench). */
  trace?: boolean;
}

export interface ChunkPlan {
  total: number;
  slabs: number;
  chunkLen: number;
  chunks: { offset: number; count: number }[];
}

/** Split a workgroup count over x and y so neither exceeds 65535. */
export function grid2d(workgroups: number): [number, number] {
  if (workgroups <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / MAX_WORKGROUPS_PER_DIM);
  const x = Math.ceil(workgroups / y);
  if (y > MAX_WORKGROUPS_PER_DIM) throw new Error(`dispatch of ${workgroups} workgroups exceeds a 65535 × 65535 grid`);
  return [x, y];
}

/** Record one compute pass of `pipeline` over `workgroups` workgroups (× `slabs` along z). */
export function dispatch(
  encoder: GPUCommandEncoder,
  label: string,
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  workgroups: number,
  slabs = 1,
): void {
  const pass = encoder.beginComputePass({ label: `${label} pass` });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  const [x, y] = grid2d(workgroups);
  pass.dispatchWorkgroups(x, y, slabs);
  pass.end();
}

/** A compute stage over the shared per-element layout: one pipeline, built once per device. */
export class ElementwiseStage {
  readonly pipeline: GPUComputePipeline;
  /**
   * `code` is the kernel (entry point `entry`); `reduce` adds reduce.wgsl, whose entry point
   * `reduce` sums the file's `term(i, z)` (dispatch with one invocation per REDUCE_PER elements).
   */
  constructor(
    readonly k: KernelContext,
    readonly label: string,
    code: string,
    entry = 'main',
    reduce = false,
  ) {
    this.pipeline = k.pipeline(label, OUT_BINDING + (reduce ? reduceWgsl : '') + code, entry);
  }

  /** Record one dispatch of `count` invocations (× `slabs` along z) over the chunk bound in `bindGroup`. */
  run(encoder: GPUCommandEncoder, buffers: { bindGroup: GPUBindGroup; count: number; slabs?: number }): void {
    dispatch(encoder, this.label, this.pipeline, buffers.bindGroup, Math.ceil(buffers.count / this.k.workgroupSize), buffers.slabs);
  }
}

type StageCtor<T> = new (k: KernelContext) => T;

/** What every KernelContext on one device shares: the layout and the compiled pipelines. */
const SHARED = new WeakMap<GPUDevice, { layout: GPUBindGroupLayout; pipelines: Map<string, GPUComputePipeline> }>();

function createLayout(device: GPUDevice): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    label: 'operator kernel layout',
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    ],
  });
}

export class KernelContext {
  readonly device: GPUDevice;
  readonly workgroupSize: number;
  /** The one bind-group layout every stage shares: chunk uniform, packed inputs, output, params. */
  readonly layout: GPUBindGroupLayout;
  private readonly stages = new Map<unknown, unknown>();
  /** Pipelines by (code, entry point, workgroup size), shared by every context on the device. */
  private readonly pipelines: Map<string, GPUComputePipeline>;
  /** Statistics of the jobs disposed since the backend set this (one run). */
  jobLog: JobStats[] | null = null;

  constructor(
    readonly gpu: Gpu,
    readonly options: KernelOptions = {},
  ) {
    this.device = gpu.device;
    const lim = this.device.limits;
    const wg = Math.min(options.workgroupSize ?? WORKGROUP_SIZE, lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX);
    // A power of two, for the tree reductions.
    this.workgroupSize = 2 ** Math.floor(Math.log2(Math.max(1, wg)));
    let shared = SHARED.get(this.device);
    if (!shared) {
      shared = { layout: createLayout(this.device), pipelines: new Map() };
      SHARED.set(this.device, shared);
    }
    this.layout = shared.layout;
    this.pipelines = shared.pipelines;
  }

  /** The stage of a given class, built once per context. */
  stage<T>(ctor: StageCtor<T>): T {
    let s = this.stages.get(ctor) as T | undefined;
    if (!s) {
      s = new ctor(this);
      this.stages.set(ctor, s);
    }
    return s;
  }

  /** A compute pipeline for `code` with the shared helpers and the layout's header prepended. */
  pipeline(label: string, code: string, entryPoint = 'main'): GPUComputePipeline {
    const full = `${prngWgsl}\n${headerWgsl}\n${code}`;
    const key = `${entryPoint}|${this.workgroupSize}|${full}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ label: `${label} module`, code: full });
      p = this.device.createComputePipeline({
        label: `${label} pipeline`,
        layout: this.device.createPipelineLayout({ label: `${label} pipeline layout`, bindGroupLayouts: [this.layout] }),
        compute: { module, entryPoint, constants: { WG: this.workgroupSize } },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** How a tensor of `total` elements with `slabs` parents is split; chunk lengths are multiples of `multiple`. */
  plan(total: number, slabs: number, multiple = 1): ChunkPlan {
    const lim = this.device.limits;
    const maxBytes = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    let chunkLen = Math.floor(maxBytes / 4 / Math.max(1, slabs));
    if (this.options.maxChunkElements) chunkLen = Math.min(chunkLen, this.options.maxChunkElements);
    chunkLen = Math.floor(chunkLen / multiple) * multiple;
    // Chunked per-element tensors: chunks hold whole reduction and histogram workgroups, so the
    // float32 partial sums, and so every reduction, are the same as the unchunked tensor's.
    const group = this.workgroupSize * REDUCE_PER_INVOCATION;
    if (multiple === 1 && chunkLen < total && chunkLen >= group) chunkLen = Math.floor(chunkLen / group) * group;
    if (chunkLen < 1)
      throw new Error(`a chunk of ${multiple} elements × ${slabs} parents exceeds the storage binding limit of ${maxBytes} bytes`);
    chunkLen = Math.min(chunkLen, Math.max(1, total));
    const chunks: ChunkPlan['chunks'] = [];
    for (let offset = 0; offset < total; offset += chunkLen) chunks.push({ offset, count: Math.min(chunkLen, total - offset) });
    return { total, slabs, chunkLen, chunks };
  }

  /** Run `fn`, turning device loss into DeviceLostError and validation errors into one-line messages. */
  async guard<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const { device, gpu } = this;
    if (gpu.lost.value) throw new DeviceLostError(gpu.lost.reason);
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      await device.popErrorScope().catch(() => null);
      await device.popErrorScope().catch(() => null);
      if (gpu.lost.value || (await lostSoon(device))) throw new DeviceLostError(gpu.lost.reason);
      throw e;
    }
    const validation = await device.popErrorScope().catch(() => null);
    const oom = await device.popErrorScope().catch(() => null);
    if (gpu.lost.value) throw new DeviceLostError(gpu.lost.reason);
    if (validation) throw new Error(`${label}: WebGPU validation error: ${validation.message.split('\n')[0]}`);
    if (oom) throw new Error(`${label}: WebGPU out of memory: ${oom.message.split('\n')[0]}`);
    return result;
  }
}

/** After a failed map or submit, give device.lost a moment to resolve. */
async function lostSoon(device: GPUDevice): Promise<boolean> {
  const timeout = new Promise<false>((r) => setTimeout(() => r(false), 50));
  return Promise.race([device.lost.then(() => true), timeout]);
}
