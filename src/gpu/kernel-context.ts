/**
 * What every operator kernel shares on one device: the bind-group layout, the WGSL helpers,
 * chunking of tensors larger than a storage binding or streamed from a source, the
 * double-buffered chunk pipeline (upload of chunk i+1 and readback of chunk i−1 overlap the
 * compute of chunk i), exact top-k selection (streamed radix select), and turning a lost device
 * into a DeviceLostError.
 *
 * A tensor's parents are packed per chunk into one input buffer (one slab per parent). The chunk
 * length never changes a result: kernels get the chunk's global element offset, so random draws
 * and tie-breaks use global indices, selection histograms add up over all chunks, and chunks
 * hold whole reduction workgroups.
 */
import prngWgsl from './wgsl/prng.wgsl?raw';
import headerWgsl from './wgsl/elementwise.wgsl?raw';
import selectWgsl from './wgsl/select.wgsl?raw';
import reduceWgsl from './wgsl/reduce.wgsl?raw';
import { DeviceLostError, type Gpu } from './device.ts';
import { arraySource, isTensorSource, type ChunkSink, type TensorSource } from './source.ts';
import type { Cutoff } from '../core/operators/select.ts';

/**
 * The core's cutoff (select.ts): top-k keeps mag > bits || (mag == bits && i < index); bottom-m
 * prunes mag < bits || (mag == bits && i < index). i is the global element index.
 */
export type { Cutoff };

export const WORKGROUP_SIZE = 256;
/** WebGPU's guaranteed maximum of workgroups per dispatch dimension. */
export const MAX_WORKGROUPS_PER_DIM = 65535;
const CHUNK_UNIFORM_BYTES = 32;
const NONE = 0xffffffff;

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

/** One event of a chunk in a pass: its source read started, its upload was queued, its work completed (and was read back). */
export interface ChunkEvent {
  pass: number;
  chunk: number;
  event: 'read' | 'upload' | 'complete';
  /** Milliseconds since the job started. */
  t: number;
}

/** What a run moved and held on the device: the counters each job keeps and a backend run adds up (GpuRunStats). */
export interface DeviceCounters {
  chunks: number;
  /** Elements per chunk (per parent). */
  chunkElements: number;
  /** Passes over the tensor (reductions, radix-select histograms, the final per-element pass). */
  passes: number;
  /** Chunks read from the source (a chunk still resident from the previous pass is not read again). */
  chunkReads: number;
  uploadedBytes: number;
  readbackBytes: number;
  /** The most bytes of GPU buffers held at once. */
  peakGpuBytes: number;
  /** The most chunks submitted and not yet complete at once (2 when uploads overlapped compute). */
  maxInFlight: number;
  /** Chunks submitted while the previous chunk was still in flight. */
  overlapped: number;
  trace?: ChunkEvent[];
}

/** What one tensor job did on the device. */
export interface JobStats extends DeviceCounters {
  label: string;
  elements: number;
  parents: number;
  /** Input/output sets allocated: 2 when the tensor has several chunks (1 with pipelineDepth 1). */
  depth: number;
}

/**
 * One slab's exact selection (src/core/operators/select.ts): the magnitude of
 * fround(fround(xs[parent] − xs[base]) · scale) (base and scale optional), the k largest ('top',
 * ties to the lower index) or the k smallest ('bottom', ties to the lower index).
 */
export interface SelectRequest {
  parent: number;
  base?: number;
  /** A clip factor applied to the delta before its magnitude is taken (default 1). */
  scale?: number;
  k: number;
  order: 'top' | 'bottom';
}

export interface ChunkPlan {
  total: number;
  slabs: number;
  chunkLen: number;
  chunks: { offset: number; count: number }[];
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
    this.pipeline = k.pipeline(label, OUT_BINDING + (reduce ? reduceWgsl : '') + code, k.layout, entry);
  }

  /** Record one dispatch of `count` invocations (× `slabs` along z) over the chunk bound in `bindGroup`. */
  run(encoder: GPUCommandEncoder, buffers: { bindGroup: GPUBindGroup; count: number; slabs?: number }): void {
    const pass = encoder.beginComputePass({ label: `${this.label} pass` });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, buffers.bindGroup);
    const [x, y] = grid2d(Math.ceil(buffers.count / this.k.workgroupSize));
    pass.dispatchWorkgroups(x, y, buffers.slabs ?? 1);
    pass.end();
  }
}

/** Elements each invocation of the histogram pass walks (PER in select.wgsl). */
const SELECT_PER_INVOCATION = 16;
/** Elements each invocation of a reduction adds before the workgroup tree (PER in reduce.wgsl). */
const REDUCE_PER_INVOCATION = 16;

/** The radix-select histogram pass: workgroup z is the slab. */
export class SelectStage {
  readonly pipeline: GPUComputePipeline;
  constructor(readonly k: KernelContext) {
    this.pipeline = k.pipeline('radix-select histogram', selectWgsl, k.layout);
  }

  run(encoder: GPUCommandEncoder, buffers: { bindGroup: GPUBindGroup; count: number; slabs: number }): void {
    const pass = encoder.beginComputePass({ label: 'radix-select histogram pass' });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, buffers.bindGroup);
    const [x, y] = grid2d(Math.ceil(buffers.count / (this.k.workgroupSize * SELECT_PER_INVOCATION)));
    pass.dispatchWorkgroups(x, y, buffers.slabs);
    pass.end();
  }
}

/** Split a workgroup count over x and y so neither exceeds 65535. */
export function grid2d(workgroups: number): [number, number] {
  if (workgroups <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / MAX_WORKGROUPS_PER_DIM);
  const x = Math.ceil(workgroups / y);
  if (y > MAX_WORKGROUPS_PER_DIM) throw new Error(`dispatch of ${workgroups} workgroups exceeds a 65535 × 65535 grid`);
  return [x, y];
}

export function f32Bits(x: number): number {
  F32[0] = x;
  return U32[0];
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

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

  /** The stage of a given class, built once per device. */
  stage<T>(ctor: StageCtor<T>): T {
    let s = this.stages.get(ctor) as T | undefined;
    if (!s) {
      s = new ctor(this);
      this.stages.set(ctor, s);
    }
    return s;
  }

  /** A compute pipeline for `code` with the shared helpers and layout header prepended. */
  pipeline(label: string, code: string, layout: GPUBindGroupLayout, entryPoint = 'main'): GPUComputePipeline {
    const full = `${prngWgsl}\n${headerWgsl}\n${code}`;
    const key = `${entryPoint}|${this.workgroupSize}|${full}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ label: `${label} module`, code: full });
      p = this.device.createComputePipeline({
        label: `${label} pipeline`,
        layout: this.device.createPipelineLayout({ label: `${label} pipeline layout`, bindGroupLayouts: [layout] }),
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

  /** Statistics of the jobs disposed since the backend set this (one run). */
  jobLog: JobStats[] | null = null;

  /** Start a job over one tensor's inputs (in memory or streamed); dispose it when done. */
  job(label: string, inputs: readonly Float32Array[] | TensorSource, key: number, multiple = 1, indexBase = 0): TensorJob {
    return new TensorJob(this, label, inputs, key, multiple, indexBase);
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

/** One input set: the packed input buffer of one chunk and its uniform. */
interface InputSet {
  input: GPUBuffer;
  uniform: GPUBuffer;
  /** The chunk whose inputs the buffer holds (-1: none). */
  chunk: number;
}

/** How one pass reads its results back: one mappable buffer per input set. */
interface Readback {
  buffers: GPUBuffer[];
  bytes(ch: Chunk): number;
  /** Called in chunk order while the buffer is mapped; copy what is needed before returning (a returned promise is awaited after unmap). */
  consume(range: ArrayBuffer, ch: Chunk, c: number): void | Promise<void>;
}

type Chunk = { offset: number; count: number };

/**
 * One tensor on the device, streamed through a double-buffered chunk pipeline. Each pass over
 * the tensor (a reduction, a radix-select histogram, the final per-element pass) walks the chunks
 * in order through two input sets (packed inputs + uniform) and two output sets (output +
 * readback buffer): while chunk i computes, chunk i+1 is read from the source and written into
 * the other input set, and chunk i−1 is read back. Before a set is written again, the chunk that
 * last used it has completed (and been read back), so at most two chunks are in flight and the
 * GPU memory is bounded by two sets whatever the tensor's size. Results are consumed in chunk
 * order, so sums and outputs do not depend on the overlap. When every chunk fits in the sets
 * (one or two chunks), later passes find their inputs resident and read nothing again.
 * Every GPU object carries a label.
 */
export class TensorJob {
  readonly plan: ChunkPlan;
  readonly source: TensorSource;
  private readonly sets: InputSet[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly sizes = new Map<GPUBuffer, number>();
  private readonly scratchBuffers = new Map<string, GPUBuffer[]>();
  private readonly device: GPUDevice;
  private readonly t0 = performance.now();
  private liveBytes = 0;
  private readonly stats: Omit<DeviceCounters, 'chunks' | 'chunkElements' | 'trace'> = {
    passes: 0,
    chunkReads: 0,
    uploadedBytes: 0,
    readbackBytes: 0,
    peakGpuBytes: 0,
    maxInFlight: 0,
    overlapped: 0,
  };
  private readonly trace: ChunkEvent[] | undefined;

  constructor(
    readonly k: KernelContext,
    readonly label: string,
    inputs: readonly Float32Array[] | TensorSource,
    readonly key: number,
    multiple: number,
    /** Global index of element 0 of the source (TensorContext.offset): added to every chunk's offset. */
    readonly indexBase = 0,
  ) {
    this.device = k.device;
    this.source = isTensorSource(inputs) ? inputs : arraySource(inputs);
    this.plan = k.plan(this.source.length, this.source.parents, multiple);
    if (k.options.trace) this.trace = [];
    const depth = Math.max(1, Math.min(k.options.pipelineDepth ?? 2, this.plan.chunks.length));
    for (let s = 0; s < depth; s++) {
      this.sets.push({
        input: this.buffer(
          `${label} inputs ${s}`,
          4 * this.plan.chunkLen * Math.max(1, this.source.parents),
          GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
        ),
        uniform: this.buffer(`${label} chunk uniform ${s}`, CHUNK_UNIFORM_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
        chunk: -1,
      });
    }
  }

  /** The first input set's packed input buffer (a single-chunk job's inputs after load(0)). */
  get input(): GPUBuffer {
    return this.sets[0].input;
  }

  /** The first input set's chunk uniform. */
  get uniform(): GPUBuffer {
    return this.sets[0].uniform;
  }

  buffer(label: string, size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const bytes = Math.max(16, Math.ceil(size / 4) * 4);
    const b = this.device.createBuffer({ label, size: bytes, usage });
    this.owned.push(b);
    this.sizes.set(b, bytes);
    this.liveBytes += bytes;
    this.stats.peakGpuBytes = Math.max(this.stats.peakGpuBytes, this.liveBytes);
    return b;
  }

  /** `count` buffers for one role, reused by later passes of the job (grown when a pass needs more). */
  private scratch(role: string, size: number, usage: GPUBufferUsageFlags, count: number): GPUBuffer[] {
    const key = `${role}|${usage}`;
    const have = this.scratchBuffers.get(key);
    if (have && have.length >= count && have.every((b) => (this.sizes.get(b) ?? 0) >= size)) return have;
    for (const b of have ?? []) this.release(b);
    const made = Array.from({ length: count }, (_, s) => this.buffer(`${this.label} ${role} ${s}`, size, usage));
    this.scratchBuffers.set(key, made);
    return made;
  }

  private release(b: GPUBuffer): void {
    const i = this.owned.indexOf(b);
    if (i >= 0) this.owned.splice(i, 1);
    this.liveBytes -= this.sizes.get(b) ?? 0;
    this.sizes.delete(b);
    b.destroy();
  }

  /** A read-only storage buffer holding `words`. */
  params(label: string, words: Uint32Array): GPUBuffer {
    const b = this.buffer(label, Math.max(16, words.byteLength), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    if (words.byteLength) this.device.queue.writeBuffer(b, 0, words.buffer, words.byteOffset, words.byteLength);
    return b;
  }

  private bindGroups(label: string, outs: readonly GPUBuffer[], params: GPUBuffer): GPUBindGroup[] {
    return this.sets.map((set, s) =>
      this.device.createBindGroup({
        label: `${label} bind group ${s}`,
        layout: this.k.layout,
        entries: [
          { binding: 0, resource: { buffer: set.uniform } },
          { binding: 1, resource: { buffer: set.input } },
          { binding: 2, resource: { buffer: outs[s % outs.length] } },
          { binding: 3, resource: { buffer: params } },
        ],
      }),
    );
  }

  private writeUniform(set: InputSet, ch: Chunk, aux0: number, aux1: number): void {
    const u = new Uint32Array([
      ch.count,
      this.plan.chunkLen,
      this.indexBase + ch.offset,
      this.key >>> 0,
      this.source.parents,
      this.plan.total,
      aux0 >>> 0,
      aux1 >>> 0,
    ]);
    this.device.queue.writeBuffer(set.uniform, 0, u);
  }

  private upload(set: InputSet, c: number, data: readonly Float32Array[]): void {
    const ch = this.plan.chunks[c];
    for (const [p, x] of data.entries()) {
      this.device.queue.writeBuffer(set.input, 4 * p * this.plan.chunkLen, x.buffer, x.byteOffset, 4 * ch.count);
    }
    set.chunk = c;
    this.stats.uploadedBytes += 4 * ch.count * data.length;
  }

  /**
   * Queue the upload of chunk `c`'s slabs into the first input set, and its uniform (the upload
   * is skipped when chunk c is already there). Only for inputs in memory; passes use the pipeline.
   */
  load(c: number, aux0 = 0, aux1 = 0): Chunk {
    const ch = this.plan.chunks[c];
    const arrays = this.source.arrays;
    if (!arrays) throw new Error(`${this.label}: load() needs inputs in memory; streamed sources go through the pipeline`);
    const set = this.sets[0];
    if (set.chunk !== c)
      this.upload(
        set,
        c,
        arrays.map((x) => x.subarray(ch.offset, ch.offset + ch.count)),
      );
    this.writeUniform(set, ch, aux0, aux1);
    return ch;
  }

  private note(pass: number, chunk: number, event: ChunkEvent['event']): void {
    this.trace?.push({ pass, chunk, event, t: performance.now() - this.t0 });
  }

  /** Read chunk `c` of every input from the source, or null when the set it goes to already holds it. */
  private fetch(pass: number, c: number): Promise<Float32Array[]> | null {
    if (this.sets[c % this.sets.length].chunk === c) return null;
    const ch = this.plan.chunks[c];
    this.stats.chunkReads++;
    this.note(pass, c, 'read');
    const p = Promise.all(Array.from({ length: this.source.parents }, (_, i) => this.source.read(i, ch.offset, ch.count)));
    p.catch(() => undefined);
    return p;
  }

  /**
   * One pass over every chunk through the pipeline: `record` adds the chunk's dispatch (and any
   * copy into the readback buffer of set s) to the encoder; `readback`, when given, maps that
   * buffer once the chunk is done and hands it to `consume`, in chunk order. Without readback the
   * pass only waits for each chunk's completion (onSubmittedWorkDone) before reusing its set.
   */
  private async stream(
    label: string,
    aux0: number,
    aux1: number,
    record: (encoder: GPUCommandEncoder, s: number, ch: Chunk, c: number) => void,
    readback?: Readback,
  ): Promise<void> {
    const { plan, device } = this;
    const n = plan.chunks.length;
    if (n === 0) return;
    const pass = this.stats.passes++;
    const D = this.sets.length;
    const inflight: (Promise<void> | null)[] = new Array<Promise<void> | null>(D).fill(null);
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;
    let next = D > 1 ? this.fetch(pass, 0) : null;
    for (let c = 0; c < n; c++) {
      // Stop reading the source once the device is gone (the pending chunks reject anyway).
      if (this.k.gpu.lost.value) throw new DeviceLostError(this.k.gpu.lost.reason);
      const s = c % D;
      const set = this.sets[s];
      const ch = plan.chunks[c];
      // The chunk that last used this set has completed and been read back: the set is free.
      if (inflight[s]) await inflight[s];
      // Depth 1 reads only now; depth 2 started the read while the previous chunk was uploaded.
      const data = await (D > 1 ? next : this.fetch(pass, c));
      // Start reading chunk c+1 now, so it overlaps the upload and compute of chunk c.
      next = D > 1 && c + 1 < n ? this.fetch(pass, c + 1) : null;
      if (data) {
        this.upload(set, c, data);
        this.note(pass, c, 'upload');
      }
      this.writeUniform(set, ch, aux0, aux1);
      if (pending > 0) this.stats.overlapped++;
      const encoder = device.createCommandEncoder({ label: `${label} pass ${pass} chunk ${c}` });
      record(encoder, s, ch, c);
      device.queue.submit([encoder.finish()]);
      pending++;
      this.stats.maxInFlight = Math.max(this.stats.maxInFlight, pending);
      const buf = readback?.buffers[s];
      const bytes = readback ? readback.bytes(ch) : 0;
      const ready = buf ? buf.mapAsync(GPUMapMode.READ, 0, bytes) : device.queue.onSubmittedWorkDone();
      ready.catch(() => undefined);
      chain = chain
        .then(() => ready)
        .then(async () => {
          pending--;
          this.note(pass, c, 'complete');
          if (!buf || !readback) return;
          let after: void | Promise<void>;
          try {
            after = readback.consume(buf.getMappedRange(0, bytes), ch, c);
            this.stats.readbackBytes += bytes;
          } finally {
            buf.unmap();
          }
          await after;
        });
      chain.catch(() => undefined);
      inflight[s] = chain;
    }
    await chain;
  }

  /**
   * Run `stage` over every chunk: into `sink` chunk by chunk (then null is returned), or into one
   * Float32Array of the whole tensor.
   */
  async elementwise(
    stage: ElementwiseStage,
    params: GPUBuffer,
    aux0 = 0,
    aux1 = 0,
    invocations: (count: number) => number = (n) => n,
    sink?: ChunkSink,
  ): Promise<Float32Array | null> {
    const { plan } = this;
    const result = sink ? null : new Float32Array(plan.total);
    if (plan.total === 0) return result;
    const D = this.sets.length;
    const outs = this.scratch('output', 4 * plan.chunkLen, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, D);
    const staging = this.scratch('readback', 4 * plan.chunkLen, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, D);
    const groups = this.bindGroups(stage.label, outs, params);
    await this.stream(
      stage.label,
      aux0,
      aux1,
      (encoder, s, ch) => {
        stage.run(encoder, { bindGroup: groups[s], count: invocations(ch.count) });
        encoder.copyBufferToBuffer(outs[s], 0, staging[s], 0, 4 * ch.count);
      },
      {
        buffers: staging,
        bytes: (ch) => 4 * ch.count,
        consume: (range, ch) => {
          if (result) {
            result.set(new Float32Array(range), ch.offset);
            return;
          }
          return sink?.(ch.offset, new Float32Array(range.slice(0)));
        },
      },
    );
    return result;
  }

  /**
   * Run a reduction stage (entry `reduce`, reduce.wgsl) over every chunk with `slabs` along z, and
   * return the float64 sums of its two terms per slab: [slab0.t0, slab0.t1, slab1.t0, …]. The
   * partial sums are added in chunk order, then workgroup order, whatever the overlap.
   */
  async reduce(stage: ElementwiseStage, params: GPUBuffer, slabs: number, aux0 = 0, aux1 = 0): Promise<Float64Array> {
    const { plan } = this;
    const sums = new Float64Array(2 * slabs);
    if (plan.total === 0 || slabs === 0) return sums;
    const per = this.k.workgroupSize * REDUCE_PER_INVOCATION;
    const [gx, gy] = grid2d(Math.ceil(plan.chunkLen / per));
    const size = 4 * 2 * slabs * gx * gy;
    const D = this.sets.length;
    const outs = this.scratch('partial sums', size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, D);
    const reads = this.scratch('partial readback', size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, D);
    const groups = this.bindGroups(stage.label, outs, params);
    const used = (ch: Chunk) => {
      const [cx, cy] = grid2d(Math.ceil(ch.count / per));
      return 4 * 2 * slabs * cx * cy;
    };
    await this.stream(
      stage.label,
      aux0,
      aux1,
      (encoder, s, ch) => {
        stage.run(encoder, { bindGroup: groups[s], count: Math.ceil(ch.count / REDUCE_PER_INVOCATION), slabs });
        encoder.copyBufferToBuffer(outs[s], 0, reads[s], 0, used(ch));
      },
      {
        buffers: reads,
        bytes: used,
        consume: (range, ch) => {
          const part = new Float32Array(range);
          const groupsPerSlab = used(ch) / (4 * 2 * slabs);
          for (let z = 0; z < slabs; z++) {
            for (let w = 0; w < groupsPerSlab; w++) {
              sums[2 * z] += part[2 * (z * groupsPerSlab + w)];
              sums[2 * z + 1] += part[2 * (z * groupsPerSlab + w) + 1];
            }
          }
        },
      },
    );
    return sums;
  }

  /**
   * Exact selections for several slabs at once, in the core's cutoff form: a radix select over the
   * magnitude bits (four passes of 8 bits), then, when only some of the elements equal to the
   * cutoff magnitude are selected, up to four passes over their global indices (ties go to the
   * lower index). Each pass streams every chunk through the pipeline and adds its histogram into
   * one 256-bin buffer per slab, so the cutoff of a whole tensor needs only the two chunk sets
   * and chunking cannot change it.
   */
  async select(requests: readonly SelectRequest[]): Promise<Cutoff[]> {
    const { plan, device } = this;
    const S = requests.length;
    const total = plan.total;
    const out: Cutoff[] = [];
    if (S === 0) return out;
    if (S > device.limits.maxComputeWorkgroupsPerDimension) throw new Error(`${this.label}: ${S} selections exceed one dispatch`);
    // Per slab: [parent, base, keyPrefix, keyMask, indexPrefix, indexMask, active, scale bits].
    const words = new Uint32Array(8 * S);
    const remaining: number[] = [];
    for (const [s, r] of requests.entries()) {
      if (!Number.isInteger(r.k) || r.k < 0 || r.k > total) throw new Error(`${this.label}: select count ${r.k} is outside [0, ${total}]`);
      words.set([r.parent, r.base ?? NONE, 0, 0, 0, 0, 1, f32Bits(r.scale ?? 1)], 8 * s);
      remaining.push(r.k);
      // Nothing / everything selected: no passes needed (the cutoffs give the same masks as the core's).
      if (r.k === 0) out.push(r.order === 'top' ? { bits: 0x80000000, index: 0 } : { bits: 0, index: 0 });
      else if (r.k === total) out.push(r.order === 'top' ? { bits: 0, index: total } : { bits: 0x80000000, index: 0 });
      else {
        out.push({ bits: 0, index: 0 });
        continue;
      }
      words[8 * s + 6] = 0;
    }
    const active = (s: number) => words[8 * s + 6] !== 0;
    if (!requests.some((_, s) => active(s))) return out;
    const [hist] = this.scratch(
      'select histogram',
      4 * 256 * S,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      1,
    );
    const [read] = this.scratch('select readback', 4 * 256 * S, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 1);
    const paramBuf = this.buffer(`${this.label} select params`, words.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    const stage = this.k.stage(SelectStage);
    const groups = this.bindGroups(`${this.label} select`, [hist], paramBuf);
    const pass = async (phase: number, shift: number): Promise<Uint32Array> => {
      device.queue.writeBuffer(paramBuf, 0, words);
      const clear = device.createCommandEncoder({ label: `${this.label} select clear` });
      clear.clearBuffer(hist);
      device.queue.submit([clear.finish()]);
      await this.stream(`${this.label} select phase ${phase} shift ${shift}`, phase, shift, (encoder, s, ch) => {
        stage.run(encoder, { bindGroup: groups[s], count: ch.count, slabs: S });
      });
      const encoder = device.createCommandEncoder({ label: `${this.label} select readback` });
      encoder.copyBufferToBuffer(hist, 0, read, 0, 4 * 256 * S);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ, 0, 4 * 256 * S);
      const h = new Uint32Array(read.getMappedRange(0, 4 * 256 * S).slice(0));
      read.unmap();
      return h;
    };
    const ties: number[] = new Array<number>(S).fill(0);
    // Phase 0: the cutoff magnitude, high byte first; top scans bins from the largest, bottom from the smallest.
    for (const shift of [24, 16, 8, 0]) {
      const h = await pass(0, shift);
      for (let s = 0; s < S; s++) {
        if (!active(s)) continue;
        const top = requests[s].order === 'top';
        let before = 0;
        let b = top ? 255 : 0;
        for (; b >= 0 && b <= 255; b += top ? -1 : 1) {
          const c = h[256 * s + b];
          if (before + c >= remaining[s]) break;
          before += c;
        }
        if (b < 0 || b > 255) throw new Error(`${this.label}: radix select found fewer than k elements (histogram lost counts)`);
        remaining[s] -= before;
        words[8 * s + 2] = (words[8 * s + 2] | (b << shift)) >>> 0;
        words[8 * s + 3] = (words[8 * s + 3] | (255 << shift)) >>> 0;
        ties[s] = h[256 * s + b];
      }
    }
    for (let s = 0; s < S; s++) {
      if (!active(s)) continue;
      out[s].bits = words[8 * s + 2];
      if (remaining[s] === ties[s]) {
        // Every element equal to the cutoff is selected: index = one past the last of them is not
        // needed, any index past the tensor gives the same mask.
        out[s].index = total;
        words[8 * s + 6] = 0;
      }
    }
    // Phase 1: among the ties, the global index of the last one selected, lowest bins first.
    const indexBytes = total > 1 << 24 ? [24, 16, 8, 0] : total > 1 << 16 ? [16, 8, 0] : total > 256 ? [8, 0] : [0];
    // Index bytes above the highest one scanned are zero for every element: fix them in the mask.
    const highMask = indexBytes[0] === 24 ? 0 : (0xffffffff << (indexBytes[0] + 8)) >>> 0;
    for (const s of requests.keys()) if (active(s)) words[8 * s + 5] = highMask;
    for (const shift of indexBytes) {
      if (!requests.some((_, s) => active(s))) break;
      const h = await pass(1, shift);
      for (let s = 0; s < S; s++) {
        if (!active(s)) continue;
        let below = 0;
        let b = 0;
        for (; b < 256; b++) {
          const c = h[256 * s + b];
          if (below + c >= remaining[s]) break;
          below += c;
        }
        if (b > 255) throw new Error(`${this.label}: radix select found fewer ties than needed (histogram lost counts)`);
        remaining[s] -= below;
        words[8 * s + 4] = (words[8 * s + 4] | (b << shift)) >>> 0;
        words[8 * s + 5] = (words[8 * s + 5] | (255 << shift)) >>> 0;
      }
    }
    for (let s = 0; s < S; s++) if (active(s)) out[s].index = words[8 * s + 4] + 1;
    return out;
  }

  /** What the job did, for the backend's run statistics. */
  summary(): JobStats {
    return {
      label: this.label,
      elements: this.plan.total,
      parents: this.source.parents,
      chunks: this.plan.chunks.length,
      chunkElements: this.plan.chunkLen,
      depth: this.sets.length,
      ...this.stats,
      ...(this.trace ? { trace: this.trace } : {}),
    };
  }

  dispose(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
    this.sizes.clear();
    this.liveBytes = 0;
    this.k.jobLog?.push(this.summary());
  }
}
