/**
 * WebGPU figures on one device (Chromium or Dawn in Node), each against a copy measured on the
 * same device in the same run:
 *
 * - resident: kernels on buffers already on the device, timed over a batch of dispatches
 *   (copy.wgsl for the yardstick; operator stages from src/gpu for the operators this file knows
 *   how to drive on resident buffers: blend);
 * - end to end: upload + kernel + readback, as breed sees it, for every operator with a GPU kernel
 *   (src/gpu/ops), against an end-to-end copy (upload + copy + readback) of the same bytes.
 *
 * Every operator result is checked against its CPU reference (≤ 4 ULP per input) before timing.
 */
import copyWgsl from './copy.wgsl?raw';
import type { Gpu } from '../src/gpu/device.ts';
import { webGpuBackendOn } from '../src/gpu/backend.ts';
import { GPU_OPERATOR_IDS } from '../src/gpu/ops/index.ts';
import { BlendParams, BlendStage } from '../src/gpu/ops/blend.gpu.ts';
import { KernelContext, grid2d } from '../src/gpu/context.ts';
import { TensorJob } from '../src/gpu/tensor-job.ts';
import { blendWeights } from '../src/core/operators/blend.cpu.ts';
import { getOperator } from '../src/core/operators/registry.ts';
import { tensorKey } from '../src/core/operators/prng.ts';
import { benchParams, fillSeeded, gbps, inputCount, timeIt, type BenchPath, type CopyRow, type KernelRow } from './common.ts';

export interface GpuBenchOptions {
  path: BenchPath;
  gpu: Gpu;
  sizes: readonly number[];
  budgetMs: number;
  log?: (s: string) => void;
  /** Operators to time (default: every one with a GPU kernel). */
  only?: readonly string[];
}

const WG = 256;

/** Batch of dispatches per timing sample, so submit and wake-up latency does not dominate. */
const batchFor = (n: number) => Math.max(2, Math.min(32, Math.round((1 << 24) / n)));

async function finish(device: GPUDevice): Promise<void> {
  await device.queue.onSubmittedWorkDone();
}

function ulpDiff(a: number, b: number): number {
  if (a === b) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const ka = i[0] < 0 ? 0x80000000 - i[0] : i[0];
  const kb = i[1] < 0 ? 0x80000000 - i[1] : i[1];
  return Math.abs(ka - kb);
}

export async function benchGpu(o: GpuBenchOptions): Promise<{ copies: CopyRow[]; kernels: KernelRow[]; notes: string[] }> {
  const { device } = o.gpu;
  const adapter = o.gpu.adapterInfo;
  const software = o.gpu.software;
  const copies: CopyRow[] = [];
  const kernels: KernelRow[] = [];
  const notes: string[] = [];
  const maxBinding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const wg = Math.min(WG, device.limits.maxComputeInvocationsPerWorkgroup);

  const copyModule = device.createShaderModule({ label: 'bench copy module', code: copyWgsl });
  const copyPipeline = device.createComputePipeline({
    label: 'bench copy pipeline',
    layout: 'auto',
    compute: { module: copyModule, entryPoint: 'main', constants: { WG: wg } },
  });
  const backend = webGpuBackendOn(o.gpu);
  const k = new KernelContext(o.gpu);

  for (const n of o.sizes) {
    if (4 * n > maxBinding) {
      notes.push(
        `${o.path}: ${n} elements (${4 * n} bytes) exceed this device's storage binding (${maxBinding} bytes): resident figures skipped at this size`,
      );
    }
    const maxInputs = 4;
    const inputs = Array.from({ length: maxInputs }, (_, i) => fillSeeded(new Float32Array(n), 2000 + i, 0.05));
    const ctx = { name: 'bench.weight', shape: [n], seed: 7 };

    // Resident copy.
    let copyResident = 0;
    if (4 * n <= maxBinding) {
      const src = device.createBuffer({ label: 'bench copy src', size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      const dst = device.createBuffer({ label: 'bench copy dst', size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      const uni = device.createBuffer({ label: 'bench copy count', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(src, 0, inputs[0] as Float32Array<ArrayBuffer>);
      device.queue.writeBuffer(uni, 0, new Uint32Array([n, 0, 0, 0]));
      const bg = device.createBindGroup({
        label: 'bench copy bind group',
        layout: copyPipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: src } },
          { binding: 1, resource: { buffer: dst } },
          { binding: 2, resource: { buffer: uni } },
        ],
      });
      const batch = software ? 2 : batchFor(n);
      const [gx, gy] = grid2d(Math.ceil(n / wg));
      const t = await timeIt(
        async () => {
          const enc = device.createCommandEncoder({ label: 'bench copy batch' });
          for (let r = 0; r < batch; r++) {
            const pass = enc.beginComputePass({ label: 'bench copy pass' });
            pass.setPipeline(copyPipeline);
            pass.setBindGroup(0, bg);
            pass.dispatchWorkgroups(gx, gy, 1);
            pass.end();
          }
          device.queue.submit([enc.finish()]);
          await finish(device);
        },
        o.budgetMs,
        2,
        20,
      );
      const ms = t.ms / batch;
      copyResident = gbps(8 * n, ms);
      copies.push({ path: o.path, adapter, software, impl: 'copy kernel, resident buffers', elements: n, ms, gbps: copyResident });
      src.destroy();
      dst.destroy();
      uni.destroy();
    }

    // End-to-end copy: upload, copy kernel, read back (what a one-input operator costs at best).
    const e2eCopy = await timeIt(() => endToEndCopy(device, copyPipeline, inputs[0], wg), o.budgetMs, 2, 10);
    const copyE2E = gbps(8 * n, e2eCopy.ms);
    copies.push({ path: o.path, adapter, software, impl: 'upload + copy kernel + readback', elements: n, ms: e2eCopy.ms, gbps: copyE2E });
    o.log?.(`${o.path} ${n}: copy ${copyResident.toFixed(2)} GB/s resident, ${copyE2E.toFixed(2)} GB/s end to end`);

    for (const id of GPU_OPERATOR_IDS) {
      if (o.only && !o.only.includes(id)) continue;
      // A software adapter is no performance figure: beyond blend, time it at the smallest size only.
      if (software && id !== 'blend' && n !== o.sizes[0]) continue;
      let op;
      try {
        op = getOperator(id);
      } catch {
        continue;
      }
      const { parents, inputs: count } = inputCount(op);
      const ins = inputs.slice(0, count);
      const params = benchParams(op, parents, ins, ctx.name);
      const bytes = 4 * (count + 1) * n;
      // Check against the CPU reference before any timing.
      const ref = op.cpu(ins, params, ctx);
      const got = await backend.run(op, ins, params, ctx);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, ulpDiff(ref[i], got[i]));
      if (worst > 4 * count)
        throw new Error(`GPU ${id} differs from the CPU reference by ${worst} ULP (allowed ${4 * count}): refusing to time it`);
      const base = { path: o.path, adapter, software, operator: id, elements: n, inputs: count };

      const res = id === 'blend' && 4 * n * count <= maxBinding ? await residentBlend(k, ins, params, ctx, o.budgetMs) : null;
      if (res !== null) {
        kernels.push({
          ...base,
          impl: 'gpu resident',
          ms: res.ms,
          medianMs: res.medianMs,
          reps: res.reps,
          gbps: gbps(bytes, res.ms),
          copyGbps: copyResident,
          ofCopy: gbps(bytes, res.ms) / copyResident,
          note: `max ${worst} ULP from the CPU reference`,
        });
      }
      const t = await timeIt(() => backend.run(op, ins, params, ctx), o.budgetMs, 2, 10);
      kernels.push({
        ...base,
        impl: 'gpu end to end',
        ms: t.ms,
        medianMs: t.medianMs,
        reps: t.reps,
        gbps: gbps(bytes, t.ms),
        copyGbps: copyE2E,
        ofCopy: gbps(bytes, t.ms) / copyE2E,
        note: `upload + kernel + readback; max ${worst} ULP from the CPU reference`,
      });
      o.log?.(
        `${o.path} ${n}: ${id} ${res ? `${(gbps(bytes, res.ms) / copyResident).toFixed(2)} of copy resident, ` : ''}${(gbps(bytes, t.ms) / copyE2E).toFixed(2)} of copy end to end`,
      );
    }
  }
  if (software && o.sizes.length > 1)
    notes.push(`${o.path}: software adapter, so operators other than blend were timed at ${o.sizes[0]} elements only`);
  return { copies, kernels, notes };
}

async function endToEndCopy(device: GPUDevice, pipeline: GPUComputePipeline, x: Float32Array, wg: number): Promise<Float32Array> {
  const n = x.length;
  const src = device.createBuffer({ label: 'e2e copy src', size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const dst = device.createBuffer({ label: 'e2e copy dst', size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const uni = device.createBuffer({ label: 'e2e copy count', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const read = device.createBuffer({ label: 'e2e copy readback', size: 4 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(src, 0, x as Float32Array<ArrayBuffer>);
    device.queue.writeBuffer(uni, 0, new Uint32Array([n, 0, 0, 0]));
    const bg = device.createBindGroup({
      label: 'e2e copy bind group',
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: src } },
        { binding: 1, resource: { buffer: dst } },
        { binding: 2, resource: { buffer: uni } },
      ],
    });
    const enc = device.createCommandEncoder({ label: 'e2e copy' });
    const pass = enc.beginComputePass({ label: 'e2e copy pass' });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    const [gx, gy] = grid2d(Math.ceil(n / wg));
    pass.dispatchWorkgroups(gx, gy, 1);
    pass.end();
    enc.copyBufferToBuffer(dst, 0, read, 0, 4 * n);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(n);
    out.set(new Float32Array(read.getMappedRange()));
    read.unmap();
    return out;
  } finally {
    for (const b of [src, dst, uni, read]) b.destroy();
  }
}

/** blend's own stage (src/gpu/ops/blend.gpu.ts) on inputs already uploaded: the kernel alone. */
async function residentBlend(
  k: KernelContext,
  inputs: readonly Float32Array[],
  params: Parameters<typeof blendWeights>[0],
  ctx: { name: string; seed: number },
  budgetMs: number,
) {
  const { device } = k;
  const job = new TensorJob(k, 'bench blend', inputs, { key: tensorKey(ctx.seed, ctx.name) });
  try {
    if (job.plan.chunks.length !== 1) return null;
    const ch = job.load(0);
    const { weights, divisor } = blendWeights(params, inputs.length);
    const paramBuf = job.params(BlendParams, { divisor, weights });
    const out = job.buffer('bench blend output', 4 * job.plan.chunkLen, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const bindGroup = device.createBindGroup({
      label: 'bench blend bind group',
      layout: k.layout,
      entries: [
        { binding: 0, resource: { buffer: job.uniform } },
        { binding: 1, resource: { buffer: job.input } },
        { binding: 2, resource: { buffer: out } },
        { binding: 3, resource: { buffer: paramBuf } },
      ],
    });
    const stage = k.stage(BlendStage);
    const batch = k.gpu.software ? 2 : batchFor(ch.count);
    const t = await timeIt(
      async () => {
        const enc = device.createCommandEncoder({ label: 'bench blend batch' });
        for (let r = 0; r < batch; r++) stage.run(enc, { bindGroup, count: ch.count });
        device.queue.submit([enc.finish()]);
        await finish(device);
      },
      budgetMs,
      2,
      20,
    );
    return { ms: t.ms / batch, medianMs: t.medianMs / batch, reps: t.reps };
  } finally {
    job.dispose();
  }
}
