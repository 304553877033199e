/**
 * One tensor on the device, streamed through a double-buffered chunk pipeline. Each pass over
 * the tensor (a reduction, a radix-select histogram, the final per-element pass) walks the chunks
 * in order through two input sets (packed inputs + chunk uniform) and two output sets (output +
 * readback buffer): while chunk i computes, chunk i+1 is read from the source and written into
 * the other input set, and chunk i−1 is read back. Before a set is written again, the chunk that
 * last used it has completed (and been read back), so at most two chunks are in flight and the
 * GPU memory is bounded by two sets whatever the tensor's size. Results are consumed in chunk
 * order, so sums and outputs do not depend on the overlap. When every chunk fits in the sets
 * (one or two chunks), later passes find their inputs resident and read nothing again.
 *
 * The chunk length never changes a result: kernels get the chunk's global element offset, so
 * random draws and tie-breaks use global indices, selection histograms add up over all chunks,
 * and chunks hold whole reduction workgroups. Every GPU object carries a label.
 */
import { DeviceLostError } from './device.ts';
import { grid2d, REDUCE_PER_INVOCATION, type ChunkPlan, type ElementwiseStage, type KernelContext } from './context.ts';
import { arraySource, isTensorSource, type ChunkSink, type TensorSource } from './source.ts';
import { wgslStruct, type Fields, type StructValues, type WgslStruct } from './wgsl-struct.ts';

/** The chunk uniform (binding 0), the host twin of `struct Chunk` in wgsl/elementwise.wgsl. */
export const ChunkUniform = wgslStruct('Chunk', {
  count: 'u32',
  stride: 'u32',
  offset: 'u32',
  key: 'u32',
  parents: 'u32',
  total: 'u32',
  mode: 'u32',
  shift: 'u32',
});

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

export interface JobOptions {
  /** The per-tensor PRNG key, tensorKey(seed, name) (default 0: a kernel that draws nothing). */
  key?: number;
  /** Chunk lengths are multiples of this (quantize: whole rows). */
  multiple?: number;
  /** Global index of element 0 of the source (TensorContext.offset): added to every chunk's offset. */
  indexBase?: number;
}

export interface ElementwiseOptions {
  /** Deliver the output chunk by chunk (then null is returned) instead of one Float32Array. */
  sink?: ChunkSink;
  /** Invocations for a chunk of `count` elements (default one per element; quantize: one per block). */
  invocations?: (count: number) => number;
}

export interface TallyOptions extends ElementwiseOptions {
  /**
   * Counters per workgroup the stage writes after the chunk's outputs: out[chunk.stride +
   * workgroup · slots + j]. They are read back with the outputs and summed in float64 in chunk,
   * then workgroup, order.
   */
  slots: number;
}

export interface ReduceOptions {
  /** Slabs along z: the reduction's `term(i, z)` is summed for z in [0, slabs). */
  slabs: number;
  /** chunk.mode during the pass (which term a multi-purpose reduction computes). */
  mode?: number;
}

/** One input set: the packed input buffer of one chunk and its uniform. */
interface InputSet {
  input: GPUBuffer;
  uniform: GPUBuffer;
  /** The chunk whose inputs the buffer holds (-1: none). */
  chunk: number;
}

/** How one pass reads its results back: one mappable buffer per input set. */
export interface Readback {
  buffers: GPUBuffer[];
  bytes(ch: Chunk): number;
  /** Called in chunk order while the buffer is mapped; copy what is needed before returning (a returned promise is awaited after unmap). */
  consume(range: ArrayBuffer, ch: Chunk, c: number): void | Promise<void>;
}

export type Chunk = { offset: number; count: number };

/** What one pass sets in the chunk uniform besides the chunk's own fields. */
export interface PassUniform {
  mode?: number;
  shift?: number;
}

export class TensorJob {
  readonly plan: ChunkPlan;
  readonly source: TensorSource;
  readonly key: number;
  readonly indexBase: number;
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

  /** A job over one tensor's inputs (in memory or streamed); dispose it when done. */
  constructor(
    readonly k: KernelContext,
    readonly label: string,
    inputs: readonly Float32Array[] | TensorSource,
    options: JobOptions = {},
  ) {
    this.device = k.device;
    this.key = options.key ?? 0;
    this.indexBase = options.indexBase ?? 0;
    this.source = isTensorSource(inputs) ? inputs : arraySource(inputs);
    this.plan = k.plan(this.source.length, this.source.parents, options.multiple ?? 1);
    if (k.options.trace) this.trace = [];
    const depth = Math.max(1, Math.min(k.options.pipelineDepth ?? 2, this.plan.chunks.length));
    for (let s = 0; s < depth; s++) {
      this.sets.push({
        input: this.buffer(
          `${label} inputs ${s}`,
          4 * this.plan.chunkLen * Math.max(1, this.source.parents),
          GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
        ),
        uniform: this.buffer(`${label} chunk uniform ${s}`, ChunkUniform.size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
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

  /** Input sets (1 or 2): passes bind one group per set. */
  get depth(): number {
    return this.sets.length;
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
  scratch(role: string, size: number, usage: GPUBufferUsageFlags, count: number): GPUBuffer[] {
    const key = `${role}|${usage}`;
    const have = this.scratchBuffers.get(key);
    if (have && have.length >= count && have.every((b) => (this.sizes.get(b) ?? 0) >= size)) return have;
    for (const b of have ?? []) this.release(b);
    const made = Array.from({ length: count }, (_, s) => this.buffer(`${this.label} ${role} ${s}`, size, usage));
    this.scratchBuffers.set(key, made);
    return made;
  }

  /** Destroy one of the job's buffers now (a pass's scratch it no longer needs), so it stops counting towards the peak. */
  release(b: GPUBuffer): void {
    const i = this.owned.indexOf(b);
    if (i >= 0) this.owned.splice(i, 1);
    this.liveBytes -= this.sizes.get(b) ?? 0;
    this.sizes.delete(b);
    b.destroy();
  }

  /** A read-only storage buffer holding a kernel's parameter struct (binding 3). */
  params<F extends Fields>(struct: WgslStruct<F>, values: StructValues<F>): GPUBuffer {
    return this.paramBytes(`${this.label} ${struct.name}`, struct.pack(values));
  }

  /** A read-only storage buffer holding `bytes` (a packed parameter struct), also writable for updates between passes. */
  paramBytes(label: string, bytes: ArrayBuffer): GPUBuffer {
    const b = this.buffer(label, bytes.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    if (bytes.byteLength) this.device.queue.writeBuffer(b, 0, bytes);
    return b;
  }

  /** One bind group per input set: its uniform and inputs, `outs[s]` (or the only one) and `params`. */
  bindGroups(label: string, outs: readonly GPUBuffer[], params: GPUBuffer): GPUBindGroup[] {
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

  private writeUniform(set: InputSet, ch: Chunk, u: PassUniform): void {
    const bytes = ChunkUniform.pack({
      count: ch.count,
      stride: this.plan.chunkLen,
      offset: this.indexBase + ch.offset,
      key: this.key,
      parents: this.source.parents,
      total: this.plan.total,
      mode: u.mode ?? 0,
      shift: u.shift ?? 0,
    });
    this.device.queue.writeBuffer(set.uniform, 0, bytes);
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
  load(c: number, u: PassUniform = {}): Chunk {
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
    this.writeUniform(set, ch, u);
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
  async pass(
    label: string,
    uniform: PassUniform,
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
      this.writeUniform(set, ch, uniform);
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

  /** Run `stage` (one invocation per element) over every chunk: the output comes back whole, or goes to `o.sink` chunk by chunk (then null). */
  async elementwise(stage: ElementwiseStage, params: GPUBuffer, o: ElementwiseOptions = {}): Promise<Float32Array | null> {
    return (await this.outputPass(stage, params, o, 0)).out;
  }

  /**
   * elementwise, for a stage that also counts: besides the output, `o.slots` counters per
   * workgroup (see TallyOptions), summed over the tensor. One pass gives both.
   */
  async elementwiseTally(
    stage: ElementwiseStage,
    params: GPUBuffer,
    o: TallyOptions,
  ): Promise<{ out: Float32Array | null; sums: Float64Array }> {
    return this.outputPass(stage, params, o, o.slots);
  }

  private async outputPass(
    stage: ElementwiseStage,
    params: GPUBuffer,
    o: ElementwiseOptions,
    slots: number,
  ): Promise<{ out: Float32Array | null; sums: Float64Array }> {
    const { plan } = this;
    const sink = o.sink;
    const invocations = o.invocations ?? ((n: number) => n);
    const out = sink ? null : new Float32Array(plan.total);
    const sums = new Float64Array(slots);
    if (plan.total === 0) return { out, sums };
    const D = this.sets.length;
    const workgroups = (count: number) => {
      const [x, y] = grid2d(Math.ceil(invocations(count) / this.k.workgroupSize));
      return x * y;
    };
    const tallyBytes = (count: number) => 4 * slots * workgroups(count);
    const size = 4 * plan.chunkLen + tallyBytes(plan.chunkLen);
    const outs = this.scratch('output', size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, D);
    const staging = this.scratch('readback', size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, D);
    const groups = this.bindGroups(stage.label, outs, params);
    const tallyAt = 4 * plan.chunkLen;
    await this.pass(
      stage.label,
      {},
      (encoder, s, ch) => {
        stage.run(encoder, { bindGroup: groups[s], count: invocations(ch.count) });
        encoder.copyBufferToBuffer(outs[s], 0, staging[s], 0, 4 * ch.count);
        if (slots) encoder.copyBufferToBuffer(outs[s], tallyAt, staging[s], tallyAt, tallyBytes(ch.count));
      },
      {
        buffers: staging,
        bytes: (ch) => (slots ? tallyAt + tallyBytes(ch.count) : 4 * ch.count),
        consume: (range, ch) => {
          if (slots) {
            const part = new Float32Array(range, tallyAt, slots * workgroups(ch.count));
            for (let w = 0; w < part.length; w += slots) for (let j = 0; j < slots; j++) sums[j] += part[w + j];
          }
          const values = new Float32Array(range, 0, ch.count);
          if (out) {
            out.set(values, ch.offset);
            return;
          }
          return sink?.(ch.offset, values.slice());
        },
      },
    );
    return { out, sums };
  }

  /**
   * Run a reduction stage (entry `reduce`, reduce.wgsl) over every chunk with `o.slabs` along z,
   * and return the float64 sums of its two terms per slab: [slab0.t0, slab0.t1, slab1.t0, …]. The
   * partial sums are added in chunk order, then workgroup order, whatever the overlap.
   */
  async reduce(stage: ElementwiseStage, params: GPUBuffer, o: ReduceOptions): Promise<Float64Array> {
    const { plan } = this;
    const { slabs } = o;
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
    await this.pass(
      stage.label,
      { mode: o.mode ?? 0 },
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
