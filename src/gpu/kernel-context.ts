/**
 * What every operator kernel shares on one device: the two bind-group layouts, the WGSL helpers,
 * chunking of tensors larger than a storage binding, upload and readback, exact top-k selection
 * (radix select), and turning a lost device into a DeviceLostError.
 *
 * A tensor's parents are packed per chunk into one input buffer (one slab per parent). The chunk
 * length never changes a result: kernels get the chunk's global element offset, so random draws
 * and tie-breaks use global indices, and selection histograms add up over all chunks.
 */
import prngWgsl from './wgsl/prng.wgsl?raw';
import headerWgsl from './wgsl/elementwise.wgsl?raw';
import selectWgsl from './wgsl/select.wgsl?raw';
import reduceWgsl from './wgsl/reduce.wgsl?raw';
import { DeviceLostError, type Gpu } from './device.ts';

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

/**
 * The core's cutoff (select.ts): top-k keeps mag > bits || (mag == bits && i < index); bottom-m
 * prunes mag < bits || (mag == bits && i < index). i is the global element index.
 */
export interface Cutoff {
  bits: number;
  index: number;
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
    if (chunkLen < 1) throw new Error(`a chunk of ${multiple} elements × ${slabs} parents exceeds the storage binding limit of ${maxBytes} bytes`);
    chunkLen = Math.min(chunkLen, Math.max(1, total));
    const chunks: ChunkPlan['chunks'] = [];
    for (let offset = 0; offset < total; offset += chunkLen) chunks.push({ offset, count: Math.min(chunkLen, total - offset) });
    return { total, slabs, chunkLen, chunks };
  }

  /** Start a job over one tensor's inputs; dispose it when done. */
  job(label: string, inputs: readonly Float32Array[], key: number, multiple = 1, indexBase = 0): TensorJob {
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

/**
 * One tensor on the device: its chunk plan, the packed input buffer (re-uploaded per chunk when
 * there are several), and the uniform and output buffers. Every GPU object carries a label.
 */
export class TensorJob {
  readonly plan: ChunkPlan;
  readonly input: GPUBuffer;
  readonly uniform: GPUBuffer;
  private loaded = -1;
  private readonly owned: GPUBuffer[] = [];
  private readonly device: GPUDevice;

  constructor(
    readonly k: KernelContext,
    readonly label: string,
    readonly inputs: readonly Float32Array[],
    readonly key: number,
    multiple: number,
    /** Global index of inputs[*][0] (TensorContext.offset): added to every chunk's offset. */
    readonly indexBase = 0,
  ) {
    this.device = k.device;
    const total = inputs[0]?.length ?? 0;
    for (const [p, x] of inputs.entries()) {
      if (x.length !== total) throw new Error(`${label}: parent ${p} has ${x.length} elements, parent 0 has ${total}`);
    }
    this.plan = k.plan(total, inputs.length, multiple);
    this.input = this.buffer(`${label} inputs`, 4 * this.plan.chunkLen * Math.max(1, inputs.length), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    this.uniform = this.buffer(`${label} chunk uniform`, CHUNK_UNIFORM_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  }

  buffer(label: string, size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const b = this.device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    this.owned.push(b);
    return b;
  }

  /** A read-only storage buffer holding `words`. */
  params(label: string, words: Uint32Array): GPUBuffer {
    const b = this.buffer(label, Math.max(16, words.byteLength), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    if (words.byteLength) this.device.queue.writeBuffer(b, 0, words.buffer, words.byteOffset, words.byteLength);
    return b;
  }

  /** Queue the upload of chunk `c`'s slabs and its uniform (skipped when chunk c is already there). */
  load(c: number, aux0 = 0, aux1 = 0): { offset: number; count: number } {
    const ch = this.plan.chunks[c];
    const q = this.device.queue;
    if (this.loaded !== c) {
      for (const [p, x] of this.inputs.entries()) {
        q.writeBuffer(this.input, 4 * p * this.plan.chunkLen, x.buffer, x.byteOffset + 4 * ch.offset, 4 * ch.count);
      }
      this.loaded = c;
    }
    const u = new Uint32Array([ch.count, this.plan.chunkLen, this.indexBase + ch.offset, this.key >>> 0, this.inputs.length, this.plan.total, aux0 >>> 0, aux1 >>> 0]);
    q.writeBuffer(this.uniform, 0, u);
    return ch;
  }

  /**
   * Run `stage` over every chunk and read the result back. Readback of chunk c overlaps the
   * upload and compute of chunk c+1 (two staging buffers).
   */
  async elementwise(stage: ElementwiseStage, params: GPUBuffer, aux0 = 0, aux1 = 0, invocations: (count: number) => number = (n) => n): Promise<Float32Array> {
    const { plan, device } = this;
    const result = new Float32Array(plan.total);
    if (plan.total === 0) return result;
    const out = this.buffer(`${stage.label} output`, 4 * plan.chunkLen, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const staging = [0, 1].map((s) => this.buffer(`${stage.label} readback ${s}`, 4 * plan.chunkLen, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST));
    const pending: (Promise<void> | null)[] = [null, null];
    const bindGroup = device.createBindGroup({
      label: `${stage.label} bind group`,
      layout: this.k.layout,
      entries: [
        { binding: 0, resource: { buffer: this.uniform } },
        { binding: 1, resource: { buffer: this.input } },
        { binding: 2, resource: { buffer: out } },
        { binding: 3, resource: { buffer: params } },
      ],
    });
    for (let c = 0; c < plan.chunks.length; c++) {
      const s = c % 2;
      if (pending[s]) await pending[s];
      const ch = this.load(c, aux0, aux1);
      const encoder = device.createCommandEncoder({ label: `${stage.label} chunk ${c}` });
      stage.run(encoder, { bindGroup, count: invocations(ch.count) });
      encoder.copyBufferToBuffer(out, 0, staging[s], 0, 4 * ch.count);
      device.queue.submit([encoder.finish()]);
      const buf = staging[s];
      pending[s] = buf.mapAsync(GPUMapMode.READ, 0, 4 * ch.count).then(() => {
        result.set(new Float32Array(buf.getMappedRange(0, 4 * ch.count)), ch.offset);
        buf.unmap();
      });
    }
    await Promise.all(pending);
    return result;
  }

  /**
   * Run a reduction stage (entry `reduce`, reduce.wgsl) over every chunk with `slabs` along z, and
   * return the float64 sums of its two terms per slab: [slab0.t0, slab0.t1, slab1.t0, …].
   */
  async reduce(stage: ElementwiseStage, params: GPUBuffer, slabs: number, aux0 = 0, aux1 = 0): Promise<Float64Array> {
    const { plan, device } = this;
    const sums = new Float64Array(2 * slabs);
    if (plan.total === 0 || slabs === 0) return sums;
    const per = this.k.workgroupSize * REDUCE_PER_INVOCATION;
    const [gx, gy] = grid2d(Math.ceil(plan.chunkLen / per));
    const size = 4 * 2 * slabs * gx * gy;
    const out = this.buffer(`${stage.label} partial sums`, size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const read = this.buffer(`${stage.label} partial readback`, size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const bindGroup = device.createBindGroup({
      label: `${stage.label} bind group`,
      layout: this.k.layout,
      entries: [
        { binding: 0, resource: { buffer: this.uniform } },
        { binding: 1, resource: { buffer: this.input } },
        { binding: 2, resource: { buffer: out } },
        { binding: 3, resource: { buffer: params } },
      ],
    });
    for (let c = 0; c < plan.chunks.length; c++) {
      const ch = this.load(c, aux0, aux1);
      const [cx, cy] = grid2d(Math.ceil(ch.count / per));
      const used = 4 * 2 * slabs * cx * cy;
      const encoder = device.createCommandEncoder({ label: `${stage.label} chunk ${c}` });
      stage.run(encoder, { bindGroup, count: Math.ceil(ch.count / REDUCE_PER_INVOCATION), slabs });
      encoder.copyBufferToBuffer(out, 0, read, 0, used);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ, 0, used);
      const part = new Float32Array(read.getMappedRange(0, used));
      const groups = cx * cy;
      for (let s = 0; s < slabs; s++) {
        for (let w = 0; w < groups; w++) {
          sums[2 * s] += part[2 * (s * groups + w)];
          sums[2 * s + 1] += part[2 * (s * groups + w) + 1];
        }
      }
      read.unmap();
    }
    return sums;
  }

  /**
   * Exact selections for several slabs at once, in the core's cutoff form: a radix select over the
   * magnitude bits (four passes of 8 bits), then, when only some of the elements equal to the
   * cutoff magnitude are selected, up to four passes over their global indices (ties go to the
   * lower index). Each pass adds up histograms over every chunk, so chunking cannot change it.
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
    const hist = this.buffer(`${this.label} select histogram`, 4 * 256 * S, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    const read = this.buffer(`${this.label} select readback`, 4 * 256 * S, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const paramBuf = this.buffer(`${this.label} select params`, words.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    const stage = this.k.stage(SelectStage);
    const bindGroup = device.createBindGroup({
      label: `${this.label} select bind group`,
      layout: this.k.layout,
      entries: [
        { binding: 0, resource: { buffer: this.uniform } },
        { binding: 1, resource: { buffer: this.input } },
        { binding: 2, resource: { buffer: hist } },
        { binding: 3, resource: { buffer: paramBuf } },
      ],
    });
    const pass = async (phase: number, shift: number): Promise<Uint32Array> => {
      device.queue.writeBuffer(paramBuf, 0, words);
      const clear = device.createCommandEncoder({ label: `${this.label} select clear` });
      clear.clearBuffer(hist);
      device.queue.submit([clear.finish()]);
      for (let c = 0; c < plan.chunks.length; c++) {
        const ch = this.load(c, phase, shift);
        const encoder = device.createCommandEncoder({ label: `${this.label} select phase ${phase} shift ${shift} chunk ${c}` });
        stage.run(encoder, { bindGroup, count: ch.count, slabs: S });
        device.queue.submit([encoder.finish()]);
      }
      const encoder = device.createCommandEncoder({ label: `${this.label} select readback` });
      encoder.copyBufferToBuffer(hist, 0, read, 0, 4 * 256 * S);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const h = new Uint32Array(read.getMappedRange().slice(0));
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

  dispose(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}

