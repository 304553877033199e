/**
 * Exact selection on the GPU, in the core's cutoff form (src/core/operators/select.ts): a radix
 * select over the magnitude bits (radix-select.wgsl: three histogram passes of 11-bit digits),
 * then, only when some but not all of the elements equal to the cutoff magnitude are selected,
 * up to three passes over their global indices (ties go to the lower index). Each pass streams
 * every chunk of the job and adds its histogram into one 2048-bin buffer per slab, so the cutoff
 * of a whole tensor needs only the job's two chunk sets, and chunking cannot change it. Several
 * selections (one per slab of the request list) share every pass.
 */
import selectWgsl from './radix-select.wgsl?raw';
import type { Cutoff } from '../core/operators/select.ts';
import { dispatch, type KernelContext } from './context.ts';
import type { TensorJob } from './tensor-job.ts';
import { arrayOf, wgslStruct, type StructValues } from './wgsl-struct.ts';

/**
 * The core's cutoff (select.ts): top-k keeps mag > bits || (mag == bits && i < index); bottom-m
 * prunes mag < bits || (mag == bits && i < index). i is the global element index.
 */
export type { Cutoff };

/**
 * One slab's exact selection: the magnitude of fround(fround(xs[parent] − xs[base]) · scale)
 * (base and scale optional), the k largest ('top', ties to the lower index) or the k smallest
 * ('bottom', ties to the lower index).
 */
export interface SelectRequest {
  parent: number;
  base?: number;
  /** A clip factor applied to the delta before its magnitude is taken (default 1). */
  scale?: number;
  k: number;
  order: 'top' | 'bottom';
}

const NONE = 0xffffffff;
/** Bits per digit, and bins per histogram (BINS and DIGIT in radix-select.wgsl). */
const DIGIT_BITS = 11;
const BINS = 1 << DIGIT_BITS;
/** The digits of a 31-bit magnitude key, high first. */
const KEY_SHIFTS = [22, 11, 0];
/** Elements each invocation of the histogram pass walks (PER in radix-select.wgsl). */
const SELECT_PER_INVOCATION = 16;

export const SelectSlab = wgslStruct('SelectSlab', {
  parent: 'u32',
  base: 'u32',
  keyPrefix: 'u32',
  keyMask: 'u32',
  indexPrefix: 'u32',
  indexMask: 'u32',
  live: 'u32',
  scale: 'f32',
});
export const SelectParams = wgslStruct('SelectParams', { slabs: arrayOf(SelectSlab) });
type Slab = { -readonly [K in keyof StructValues<typeof SelectSlab.fields>]: number };

/** The radix-select histogram pass: workgroup z is the slab. */
export class SelectStage {
  readonly pipeline: GPUComputePipeline;
  constructor(readonly k: KernelContext) {
    this.pipeline = k.pipeline('radix-select histogram', selectWgsl);
  }

  run(encoder: GPUCommandEncoder, buffers: { bindGroup: GPUBindGroup; count: number; slabs: number }): void {
    const workgroups = Math.ceil(buffers.count / (this.k.workgroupSize * SELECT_PER_INVOCATION));
    dispatch(encoder, 'radix-select histogram', this.pipeline, buffers.bindGroup, workgroups, buffers.slabs);
  }
}

/** The index digits a tensor of `total` elements needs, high first (an index is below total). */
function indexShifts(total: number): number[] {
  if (total > 1 << (2 * DIGIT_BITS)) return [22, 11, 0];
  if (total > 1 << DIGIT_BITS) return [11, 0];
  return [0];
}

/**
 * Pick the digit where the count reaches `need`: scanning bins from the largest ('top') or the
 * smallest, return the bin and how many elements the bins before it hold.
 */
function pickBin(h: Uint32Array, at: number, need: number, fromTop: boolean, label: string): { bin: number; before: number } {
  let before = 0;
  for (let j = 0; j < BINS; j++) {
    const b = fromTop ? BINS - 1 - j : j;
    const c = h[at + b];
    if (before + c >= need) return { bin: b, before };
    before += c;
  }
  throw new Error(`${label}: radix select found fewer elements than needed (histogram lost counts)`);
}

/** The cutoffs of `requests` over the job's tensor, in request order. */
export async function radixSelect(job: TensorJob, requests: readonly SelectRequest[]): Promise<Cutoff[]> {
  const { plan, k, label } = job;
  const device = k.device;
  const S = requests.length;
  const total = plan.total;
  const out: Cutoff[] = [];
  if (S === 0) return out;
  if (S > device.limits.maxComputeWorkgroupsPerDimension) throw new Error(`${label}: ${S} selections exceed one dispatch`);
  const slabs: Slab[] = [];
  const remaining: number[] = [];
  for (const r of requests) {
    if (!Number.isInteger(r.k) || r.k < 0 || r.k > total) throw new Error(`${label}: select count ${r.k} is outside [0, ${total}]`);
    const slab = {
      parent: r.parent,
      base: r.base ?? NONE,
      keyPrefix: 0,
      keyMask: 0,
      indexPrefix: 0,
      indexMask: 0,
      live: 1,
      scale: r.scale ?? 1,
    };
    slabs.push(slab);
    remaining.push(r.k);
    // Nothing / everything selected: no passes needed (the cutoffs give the same masks as the core's).
    if (r.k === 0) out.push(r.order === 'top' ? { bits: 0x80000000, index: 0 } : { bits: 0, index: 0 });
    else if (r.k === total) out.push(r.order === 'top' ? { bits: 0, index: total } : { bits: 0x80000000, index: 0 });
    else {
      out.push({ bits: 0, index: 0 });
      continue;
    }
    slab.live = 0;
  }
  const anyLive = () => slabs.some((s) => s.live !== 0);
  if (!anyLive()) return out;
  const histBytes = 4 * BINS * S;
  // The histograms are freed before the pass that uses the cutoffs allocates its outputs.
  const hist = job.buffer(
    `${label} select histogram`,
    histBytes,
    GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  );
  const read = job.buffer(`${label} select readback`, histBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const paramBuf = job.paramBytes(`${label} SelectParams`, SelectParams.pack({ slabs }));
  try {
    return await selectPasses(job, requests, slabs, remaining, out, { hist, read, paramBuf });
  } finally {
    for (const b of [hist, read, paramBuf]) job.release(b);
  }
}

async function selectPasses(
  job: TensorJob,
  requests: readonly SelectRequest[],
  slabs: Slab[],
  remaining: number[],
  out: Cutoff[],
  bufs: { hist: GPUBuffer; read: GPUBuffer; paramBuf: GPUBuffer },
): Promise<Cutoff[]> {
  const { k, label } = job;
  const { hist, read, paramBuf } = bufs;
  const device = k.device;
  const S = requests.length;
  const total = job.plan.total;
  const histBytes = 4 * BINS * S;
  const anyLive = () => slabs.some((s) => s.live !== 0);
  const stage = k.stage(SelectStage);
  const groups = job.bindGroups(`${label} select`, [hist], paramBuf);
  const pass = async (mode: number, shift: number): Promise<Uint32Array> => {
    device.queue.writeBuffer(paramBuf, 0, SelectParams.pack({ slabs }));
    const clear = device.createCommandEncoder({ label: `${label} select clear` });
    clear.clearBuffer(hist);
    device.queue.submit([clear.finish()]);
    await job.pass(`${label} select phase ${mode} shift ${shift}`, { mode, shift }, (encoder, s, ch) => {
      stage.run(encoder, { bindGroup: groups[s], count: ch.count, slabs: S });
    });
    const encoder = device.createCommandEncoder({ label: `${label} select readback` });
    encoder.copyBufferToBuffer(hist, 0, read, 0, histBytes);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ, 0, histBytes);
    const h = new Uint32Array(read.getMappedRange(0, histBytes).slice(0));
    read.unmap();
    return h;
  };
  const ties: number[] = new Array<number>(S).fill(0);
  // Phase 0: the cutoff magnitude, high digit first; top scans bins from the largest, bottom from the smallest.
  for (const shift of KEY_SHIFTS) {
    const h = await pass(0, shift);
    for (const [s, slab] of slabs.entries()) {
      if (!slab.live) continue;
      const { bin, before } = pickBin(h, BINS * s, remaining[s], requests[s].order === 'top', label);
      remaining[s] -= before;
      slab.keyPrefix = (slab.keyPrefix | (bin << shift)) >>> 0;
      slab.keyMask = (slab.keyMask | ((BINS - 1) << shift)) >>> 0;
      ties[s] = h[BINS * s + bin];
    }
  }
  for (const [s, slab] of slabs.entries()) {
    if (!slab.live) continue;
    out[s].bits = slab.keyPrefix;
    if (remaining[s] === ties[s]) {
      // Every element equal to the cutoff is selected: any index past the tensor gives the same mask.
      out[s].index = total;
      slab.live = 0;
    }
  }
  // Phase 1: among the ties, the global index of the last one selected, lowest bins first.
  const shifts = indexShifts(total);
  // Index bits above the highest digit scanned are zero for every element: fix them in the mask.
  const top = shifts[0] + DIGIT_BITS;
  const highMask = top >= 32 ? 0 : (0xffffffff << top) >>> 0;
  for (const slab of slabs) if (slab.live) slab.indexMask = highMask;
  for (const shift of shifts) {
    if (!anyLive()) break;
    const h = await pass(1, shift);
    for (const [s, slab] of slabs.entries()) {
      if (!slab.live) continue;
      const { bin, before } = pickBin(h, BINS * s, remaining[s], false, label);
      remaining[s] -= before;
      slab.indexPrefix = (slab.indexPrefix | (bin << shift)) >>> 0;
      slab.indexMask = (slab.indexMask | ((BINS - 1) << shift)) >>> 0;
    }
  }
  for (const [s, slab] of slabs.entries()) if (slab.live) out[s].index = slab.indexPrefix + 1;
  return out;
}
