/**
 * Bundled by esbuild in e2e/kernels.spec.ts and injected into a page: runs an operator's CPU
 * reference and its WebGPU kernel on the same seeded inputs and reports how they compare.
 * Only summaries cross back to the test (counts, ULPs, hashes), never the tensors.
 */
import { getOperator, OPERATOR_IDS } from '../../src/core/operators/registry.ts';
import { numAt, paramsAt, resolveParams } from '../../src/core/operators/params.ts';
import { mix32, randomUnit } from '../../src/core/operators/prng.ts';
import type { ParamValues, RecipeParams } from '../../src/core/operators/types.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { getGpu, openGpu, isDeviceLostError, forgetGpu } from '../../src/gpu/device.ts';
import { webGpuBackendOn, withCpuFallback } from '../../src/gpu/backend.ts';
import { breed, type TensorStat } from '../../src/core/operators/breed.ts';
import { cpuBackend } from '../../src/core/operators/backend.ts';
import { fromFloat32, toFloat32, type DType, type Tensor } from '../../src/core/tensor.ts';
import { KernelContext, grid2d } from '../../src/gpu/context.ts';
import type { GpuRunStats } from '../../src/gpu/backend.ts';
import { byteRangeSource, iterableSource, readerSource, storeSource, type TensorSource } from '../../src/gpu/source.ts';
import { openIdbTensorStore } from '../../src/store/idb-store.ts';
import { blobSource } from '../../src/store/blob-source.ts';
import { compareF32 } from '../../src/gpu/compare.ts';
import { GPU_OPERATOR_IDS } from '../../src/gpu/ops/index.ts';
import {
  magnitudeBits,
  magnitudeThreshold,
  pruneCount,
  pruneThreshold,
  selectCount,
  type Cutoff,
} from '../../src/core/operators/select.ts';

/**
 * How inputs are drawn: 'smooth' uniform in ±1; 'ties' on a coarse grid (many equal magnitudes and
 * zeros); 'subnormal' uniform in ±1e-38 (mostly subnormal floats); 'plateau' every magnitude 0.25
 * except every 7th element 0.5, random signs, and each parent's delta from the base is such a
 * plateau too (exact dyadic sums): a selection's cutoff falls inside a run of equal magnitudes, so
 * the elements at the cutoff AND right after it tie (see `cutoffs` in the result).
 */
export type InputKind = 'smooth' | 'ties' | 'subnormal' | 'plateau';

export interface ConformanceRequest {
  op: string;
  n: number;
  /** Inputs including the base when the operator has one. */
  inputs: number;
  /** As a recipe gives them (per-parent values and filter lists resolved for this tensor, at layer position 0). */
  params: RecipeParams;
  /** Derived parameters a model pre-pass would add (e.g. mutate's std, TIES's trim cutoffs). */
  derived?: ParamValues;
  /** Run the operator's own model pre-pass (`prepare`) on this one tensor for the derived parameters, as breed does. */
  prepare?: boolean;
  /** Tensor shape (default [n]). */
  shape?: number[];
  seed: number;
  name: string;
  inputSeed: number;
  kind?: InputKind;
  /** Force chunking: at most this many elements per chunk. */
  maxChunkElements?: number;
  /** Also run without the forced chunk size and report whether the two GPU results are bit-identical. */
  checkChunkInvariance?: boolean;
  /** Workgroup size override (a small one makes a modest tensor need the 2-D dispatch grid). */
  workgroupSize?: number;
  /** Run through backend.runStream (the double-buffered chunk pipeline) instead of run(). */
  stream?: StreamMode;
}

/**
 * How a streamed run gets its inputs: 'reader' a chunk-reader function that answers after a
 * timer (as an IndexedDB read would), 'iterable' async iterables of odd-sized pieces, 'store'
 * the real IndexedDB tensor store (parents stored as `dtype`), 'blob' byte ranges of a Blob
 * holding the parents' raw bytes as `dtype` (as a `.slm` file is read).
 */
export interface StreamMode {
  via: 'reader' | 'iterable' | 'store' | 'blob';
  chunkElements: number;
  dtype?: DType;
  /** Milliseconds each reader answer waits ('reader'), default 0 (a macrotask). */
  delayMs?: number;
  /** Deliver the output chunk by chunk to a sink (checked for order and coverage). */
  sink?: boolean;
  /** pipelineDepth 1: chunks one after another (the no-overlap baseline). */
  depth?: 1 | 2;
}

/** What a streamed run did, from its statistics and trace. */
export interface StreamReport {
  stats: Omit<GpuRunStats, 'trace'>;
  /** Uploads into an input set before the chunk that last used it completed (must be 0: the memory bound). */
  boundViolations: number;
  /** Chunks whose upload was queued while the previous chunk was still in flight on the device. */
  uploadsWhileComputing: number;
  /** The sink got every element once, in ascending chunk order. */
  sinkInOrder?: boolean;
  /** The memory bound the pipeline promises for this run: two input sets + two output sets + small buffers. */
  bound: number;
}

export interface ConformanceResult {
  op: string;
  n: number;
  chunks: number;
  /** The dispatch grid of the first chunk: [x, y] workgroups. */
  grid: [number, number];
  bitIdentical: number;
  maxUlp: number;
  /**
   * The largest |gpu − cpu| in ULPs of the element's scale, max(|cpu|, |inputs|): the bound for
   * operators whose per-tensor factor comes from a reduction summed in another order (L1 rescale),
   * where an output that cancels to near 0 makes a plain ULP count meaningless.
   */
  maxScaledUlp: number;
  worstIndex: number;
  worst?: { gpu: number; cpu: number; inputs: number[] };
  cpuHash: string;
  gpuHash: string;
  chunkInvariant?: boolean;
  cpuMs: number;
  gpuMs: number;
  /** Elements that are exactly zero on the CPU / on the GPU (selection checks). */
  /** Statistics the operator reported (e.g. TIES's signConflicts) on each side. */
  cpuStats: Record<string, number>;
  gpuStats: Record<string, number>;
  cpuZeros: number;
  gpuZeros: number;
  /** Elements where exactly one side is zero: a selection disagreement. */
  zeroMismatch: number;
  stream?: StreamReport;
  /** Magnitude selections (prune; the trim of sparse task delta and TIES): each cutoff on the CPU side. */
  cutoffs?: CutoffReport[];
}

/** Where a selection's cutoff fell, seen on the CPU side. */
export interface CutoffReport {
  bits: number;
  index: number;
  /** Elements with the cutoff magnitude on each side of the index (both > 0: a tie AT the cutoff). */
  equalBefore: number;
  equalFrom: number;
  /** The element at `index`, the first one not taken, has the cutoff magnitude: a tie right AFTER it. */
  tieAfter: boolean;
}

function cutoffReport(values: Float32Array, c: Cutoff): CutoffReport {
  const mag = magnitudeBits(values);
  let equalBefore = 0;
  let equalFrom = 0;
  for (let i = 0; i < mag.length; i++) {
    if ((mag[i] & 0x7fffffff) !== c.bits) continue;
    if (i < c.index) equalBefore++;
    else equalFrom++;
  }
  return { bits: c.bits, index: c.index, equalBefore, equalFrom, tieAfter: c.index < mag.length && (mag[c.index] & 0x7fffffff) === c.bits };
}

/** The cutoffs the CPU reference selects with, for the operators that select by magnitude (per-tensor scope). */
function selectionCutoffs(opId: string, inputs: readonly Float32Array[], params: ParamValues): CutoffReport[] | undefined {
  const n = inputs[0].length;
  if (opId === 'prune') return [cutoffReport(inputs[0], pruneThreshold(inputs[0], pruneCount(Number(params.fraction), n)))];
  if (opId !== 'sparse-task-delta' && opId !== 'ties') return undefined;
  return inputs.slice(1).map((x, i) => {
    const d = Float32Array.from(x, (v, j) => v - inputs[0][j]);
    return cutoffReport(d, magnitudeThreshold(d, selectCount(numAt(params, 'density', i), n)));
  });
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The streamed source for `inputs` (already rounded to `mode.dtype`), and a cleanup. */
async function streamSource(
  mode: StreamMode,
  inputs: readonly Float32Array[],
  name: string,
): Promise<{ source: TensorSource; close(): void }> {
  const n = inputs[0].length;
  const P = inputs.length;
  const dtype = mode.dtype ?? 'F32';
  switch (mode.via) {
    case 'reader':
      return {
        source: readerSource(P, n, async (p, offset, length) => {
          await delay(mode.delayMs ?? 0);
          return inputs[p].slice(offset, offset + length);
        }),
        close() {},
      };
    case 'iterable':
      return {
        source: iterableSource(P, n, async function* (p) {
          // Pieces of odd sizes that never line up with the chunks.
          for (let i = 0, k = 0; i < n; k++) {
            const len = Math.min(n - i, 1000 + ((k * 7919 + p * 131) % 9000));
            await delay(0);
            yield inputs[p].slice(i, i + len);
            i += len;
          }
        }),
        close() {},
      };
    case 'store': {
      const dbName = `kernels-stream-${name}-${Date.now()}`;
      const store = await openIdbTensorStore({ name: dbName });
      const tensors = inputs.map((x, p) => fromFloat32(`${name}.parent${p}`, [n], x, dtype));
      await store.putModel({ tensors, species: '0'.repeat(64) });
      const refs = tensors.map((t) => ({ hash: sha256Hex(t.data), dtype }));
      return {
        source: storeSource(store, refs, n),
        close() {
          store.close();
          indexedDB.deleteDatabase(dbName);
        },
      };
    }
    case 'blob': {
      const parts = inputs.map((x, p) => fromFloat32(`p${p}`, [n], x, dtype).data);
      const begins = parts.map((_, p) => parts.slice(0, p).reduce((a, b) => a + b.length, 0));
      const blob = blobSource(new Blob(parts as BlobPart[]), `${name}.bin`);
      return {
        source: byteRangeSource(
          parts.map((_, p) => ({ dtype, source: blob, begin: begins[p] })),
          n,
        ),
        close() {},
      };
    }
  }
}

/** Check a streamed run's trace: sets reused only after completion, and uploads that overlapped compute. */
function traceReport(trace: NonNullable<GpuRunStats['trace']>, depth: number): { boundViolations: number; uploadsWhileComputing: number } {
  let boundViolations = 0;
  let uploadsWhileComputing = 0;
  const passes = new Set(trace.map((e) => e.pass));
  for (const pass of passes) {
    const ev = trace.filter((e) => e.pass === pass);
    const at = (chunk: number, event: string) => ev.findIndex((e) => e.chunk === chunk && e.event === event);
    for (const e of ev) {
      if (e.event !== 'upload') continue;
      const i = at(e.chunk, 'upload');
      const reuse = at(e.chunk - depth, 'complete');
      if (e.chunk >= depth && (reuse < 0 || reuse > i)) boundViolations++;
      const prev = at(e.chunk - 1, 'complete');
      if (e.chunk >= 1 && prev > i) uploadsWhileComputing++;
    }
  }
  return { boundViolations, uploadsWhileComputing };
}

function makeInputs(req: ConformanceRequest): Float32Array[] {
  const kind = req.kind ?? 'smooth';
  if (kind === 'plateau') {
    const plateau = (p: number) => {
      const key = mix32((req.inputSeed * 31 + p + 1) >>> 0);
      return Float32Array.from({ length: req.n }, (_, i) => (randomUnit(key, i) < 0.5 ? -1 : 1) * (i % 7 === 0 ? 0.5 : 0.25));
    };
    const base = plateau(0);
    return Array.from({ length: req.inputs }, (_, p) => (p === 0 ? base : plateau(p).map((d, i) => base[i] + d)));
  }
  return Array.from({ length: req.inputs }, (_, p) => {
    const key = mix32((req.inputSeed * 31 + p + 1) >>> 0);
    const x = new Float32Array(req.n);
    for (let i = 0; i < req.n; i++) {
      const u = randomUnit(key, i);
      x[i] = kind === 'ties' ? Math.round((u - 0.5) * 16) / 16 : kind === 'subnormal' ? (u - 0.5) * 2e-38 : (u - 0.5) * 2;
    }
    return x;
  });
}

const bytes = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

async function gpuOrFail() {
  const gpu = await getGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  return gpu;
}

async function conformance(req: ConformanceRequest): Promise<ConformanceResult> {
  const gpu = await gpuOrFail();
  const op = getOperator(req.op);
  const inputs = makeInputs(req);
  const ctx = { name: req.name, shape: req.shape ?? [req.n], seed: req.seed };
  const parents = req.inputs - (op.needsBase ? 1 : 0);
  if (req.stream?.dtype && req.stream.dtype !== 'F32') {
    // The parents are stored in a narrower dtype: every side computes on the stored values.
    for (const [p, x] of inputs.entries()) inputs[p] = toFloat32(fromFloat32('rounded', [req.n], x, req.stream.dtype));
  }
  const resolved = resolveParams(op, req.params, parents);
  let prepared: ParamValues = {};
  if (req.prepare) {
    if (!op.prepare) throw new Error(`${op.id} has no model pre-pass`);
    prepared = op.prepare({ names: [req.name], shapes: [ctx.shape], inputs: () => inputs }, resolved, req.seed)[req.name] ?? {};
  }
  const params = { ...paramsAt(op, resolved, 0, req.name), ...prepared, ...(req.derived ?? {}) };
  const c0 = performance.now();
  const cpuStats: Record<string, number> = {};
  const cpu = op.cpu(inputs, params, { ...ctx, stats: cpuStats });
  const cpuMs = performance.now() - c0;
  const options = { maxChunkElements: req.maxChunkElements, workgroupSize: req.workgroupSize };
  const gpuStats: Record<string, number> = {};
  let out: Float32Array;
  let gpuMs: number;
  let stream: StreamReport | undefined;
  if (req.stream) {
    const mode = req.stream;
    const backend = webGpuBackendOn(gpu, { ...options, streamChunkElements: mode.chunkElements, pipelineDepth: mode.depth, trace: true });
    const { source, close } = await streamSource(mode, inputs, req.name.replace(/\W/g, '_'));
    try {
      let next = 0;
      let sinkInOrder = true;
      const sunk = new Float32Array(req.n);
      const g0 = performance.now();
      const r = await backend.runStream(
        op,
        source,
        params,
        { ...ctx, stats: gpuStats },
        mode.sink
          ? async (offset, values) => {
              if (offset !== next) sinkInOrder = false;
              next = offset + values.length;
              sunk.set(values, offset);
              await delay(0);
            }
          : undefined,
      );
      gpuMs = performance.now() - g0;
      out = mode.sink ? sunk : r!;
      const run = backend.lastRun!;
      const { trace, ...stats } = run;
      const L = run.chunkElements;
      stream = {
        stats,
        ...traceReport(trace ?? [], mode.depth ?? 2),
        sinkInOrder: mode.sink ? sinkInOrder && next === req.n && r === null : undefined,
        bound: 2 * (4 * L * req.inputs + 32) + 2 * 2 * 4 * L + 65536,
      };
    } finally {
      close();
    }
  } else {
    const backend = webGpuBackendOn(gpu, options);
    const g0 = performance.now();
    out = await backend.run(op, inputs, params, { ...ctx, stats: gpuStats });
    gpuMs = performance.now() - g0;
  }
  const cmp = compareF32(out, cpu);
  let chunkInvariant: boolean | undefined;
  if (req.checkChunkInvariance || req.stream) {
    const whole = await webGpuBackendOn(gpu).run(op, inputs, params, ctx);
    chunkInvariant = sha256Hex(bytes(whole)) === sha256Hex(bytes(out));
  }
  let cpuZeros = 0;
  let gpuZeros = 0;
  let zeroMismatch = 0;
  for (let i = 0; i < cpu.length; i++) {
    const a = cpu[i] === 0;
    const b = out[i] === 0;
    if (a) cpuZeros++;
    if (b) gpuZeros++;
    if (a !== b) zeroMismatch++;
  }
  let maxScaledUlp = 0;
  for (let i = 0; i < cpu.length; i++) {
    if (cpu[i] === out[i]) continue;
    let scale = Math.abs(cpu[i]);
    for (const x of inputs) scale = Math.max(scale, Math.abs(x[i]));
    const ulp = scale > 0 ? 2 ** (Math.floor(Math.log2(scale)) - 23) : 2 ** -149;
    maxScaledUlp = Math.max(maxScaledUlp, Math.abs(out[i] - cpu[i]) / ulp);
  }
  const w = cmp.worstIndex;
  const kc = new KernelContext(gpu, options);
  const shape = req.shape ?? [req.n];
  const plan = kc.plan(req.n, req.inputs, req.op === 'quantize' ? shape[shape.length - 1] : 1);
  return {
    op: req.op,
    n: req.n,
    chunks: stream ? stream.stats.chunks : plan.chunks.length,
    grid: grid2d(Math.ceil(plan.chunks[0].count / kc.workgroupSize)),
    bitIdentical: cmp.bitIdentical,
    maxUlp: cmp.maxUlp,
    maxScaledUlp,
    worstIndex: w,
    worst: w >= 0 ? { gpu: out[w], cpu: cpu[w], inputs: inputs.map((x) => x[w]) } : undefined,
    cpuHash: sha256Hex(bytes(cpu)),
    gpuHash: sha256Hex(bytes(out)),
    chunkInvariant,
    cpuMs,
    gpuMs,
    cpuStats,
    gpuStats,
    cpuZeros,
    gpuZeros,
    zeroMismatch,
    stream,
    cutoffs: selectionCutoffs(req.op, inputs, params),
  };
}

async function info() {
  const gpu = await getGpu();
  if (!gpu) return { adapter: null, software: false, kernels: GPU_OPERATOR_IDS };
  const l = gpu.device.limits;
  return {
    adapter: gpu.adapterInfo,
    software: gpu.software,
    kernels: GPU_OPERATOR_IDS,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
  };
}

/**
 * Loses a fresh device in the middle of a run: the run must reject with DeviceLostError, and the
 * cached device (getGpu) must be replaced after the cached one is lost.
 */
async function deviceLoss(n: number) {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const backend = webGpuBackendOn(gpu, { maxChunkElements: Math.ceil(n / 8) });
  const op = getOperator('blend');
  const inputs = makeInputs({ op: 'blend', n, inputs: 2, params: {}, seed: 1, name: 'lost', inputSeed: 9 });
  const run = backend.run(op, inputs, {}, { name: 'lost', shape: [n], seed: 1 });
  gpu.device.destroy();
  let error = '';
  let recognised = false;
  try {
    await run;
  } catch (e) {
    error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    recognised = isDeviceLostError(e);
  }
  let afterLoss = '';
  try {
    await backend.run(op, inputs, {}, { name: 'lost', shape: [n], seed: 1 });
  } catch (e) {
    afterLoss = e instanceof Error ? e.name : String(e);
  }
  // The cached device: lose it and check getGpu() hands out a new one.
  const first = await gpuOrFail();
  first.device.destroy();
  await first.device.lost;
  const second = await getGpu();
  const replaced = !!second && second.device !== first.device && !second.lost.value;
  return { error, recognised, lostFlag: backend.lost, afterLoss, replaced };
}

/**
 * Loses a fresh device while a streamed run of `op` is between passes or chunks (after `after`
 * source reads): the run must reject with DeviceLostError, never hang.
 */
async function streamLoss(op: string, n: number, after: number) {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const backend = webGpuBackendOn(gpu, { streamChunkElements: 4096 });
  const def = getOperator(op);
  const inputs = makeInputs({
    op,
    n,
    inputs: def.parents.min + (def.needsBase ? 1 : 0),
    params: {},
    seed: 1,
    name: 'lost',
    inputSeed: 9,
    kind: 'ties',
  });
  let reads = 0;
  const source = readerSource(inputs.length, n, async (p, offset, length) => {
    if (++reads === after) gpu.device.destroy();
    await delay(0);
    return inputs[p].slice(offset, offset + length);
  });
  const params = resolveParams(def, {}, inputs.length - (def.needsBase ? 1 : 0));
  try {
    await backend.runStream(def, source, params, { name: 'lost', shape: [n], seed: 1 });
    return { error: '', recognised: false, reads };
  } catch (e) {
    return { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e), recognised: isDeviceLostError(e), reads };
  }
}

/**
 * withCpuFallback's runStream: on a live device it streams on the GPU (and reports the peak GPU
 * bytes); on a lost one it reads the source whole, runs the CPU reference and says so.
 */
async function fallbackStream() {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const n = 20_000;
  const op = getOperator('prune');
  const [x] = makeInputs({ op: 'prune', n, inputs: 1, params: {}, seed: 1, name: 'fb', inputSeed: 77, kind: 'ties' });
  const params = resolveParams(op, { fraction: 0.3 }, 1);
  const ctx = { name: 'fb', shape: [n], seed: 1 };
  const cpu = sha256Hex(bytes(op.cpu([x], params, ctx)));
  const source = readerSource(1, n, async (_p, offset, length) => x.slice(offset, offset + length));
  const backend = withCpuFallback(webGpuBackendOn(gpu, { streamChunkElements: 4096 }), cpuBackend);
  const onGpu = (await backend.runStream(op, source, params, ctx))!;
  const gpuKind = backend.kind;
  const peak = backend.peakGpuBytes;
  gpu.device.destroy();
  await gpu.device.lost;
  const pieces: number[] = [];
  const sunk = new Float32Array(n);
  const onCpu = await backend.runStream(op, source, params, ctx, (offset, v) => {
    pieces.push(v.length);
    sunk.set(v, offset);
  });
  return {
    gpuKind,
    gpuEqualsCpu: sha256Hex(bytes(onGpu)) === cpu,
    peak,
    cpuKind: backend.kind,
    cpuEqualsCpu: onCpu === null && sha256Hex(bytes(sunk)) === cpu,
    pieces,
    fallbacks: backend.fallbacks,
  };
}

/** The registry's operators without a GPU kernel, and how the backend refuses the first (or a made-up one). */
async function noKernel() {
  const gpu = await gpuOrFail();
  const backend = webGpuBackendOn(gpu);
  const missing = OPERATOR_IDS.filter((id) => !backend.hasKernel(id));
  const op = missing.length ? getOperator(missing[0]) : { ...getOperator('blend'), id: 'no-such-operator' };
  try {
    await backend.run(op, [new Float32Array(4), new Float32Array(4)], {}, { name: 't', shape: [4], seed: 0 });
    return { missing, threw: false, message: '', hasKernel: backend.hasKernel(op.id) };
  } catch (e) {
    return {
      missing,
      threw: true,
      message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      hasKernel: backend.hasKernel(op.id),
    };
  }
}

/** A GPU mutation without the prepared std: the kernel must refuse it with a clear message (never estimate std itself). */
async function mutateWithoutStd() {
  const gpu = await gpuOrFail();
  const backend = webGpuBackendOn(gpu);
  const op = getOperator('mutate');
  const x = makeInputs({ op: 'mutate', n: 1000, inputs: 1, params: {}, seed: 1, name: 'no.std', inputSeed: 5 });
  try {
    await backend.run(op, x, resolveParams(op, {}, 1), { name: 'no.std', shape: [1000], seed: 1 });
    return { threw: false, message: '' };
  } catch (e) {
    return { threw: true, message: e instanceof Error ? `${e.name}: ${e.message}` : String(e), deviceLost: isDeviceLostError(e) };
  }
}

/** A small model: named tensors of a few shapes (a 1-D bias among them), seeded. */
function makeModel(seed: number, kind: InputKind): Tensor[] {
  const shapes: [string, number[]][] = [
    ['embed.weight', [64, 130]],
    ['layers.0.fc.weight', [96, 64]],
    ['layers.0.fc.bias', [96]],
    ['layers.1.fc.weight', [33, 96]],
    ['head.weight', [10, 33]],
  ];
  return shapes.map(([name, shape], t) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const [x] = makeInputs({ op: '', n, inputs: 1, params: {}, seed: 0, name, inputSeed: seed * 101 + t, kind });
    return fromFloat32(name, shape, x);
  });
}

/**
 * breed() a whole model on the GPU (through withCpuFallback) and on the CPU, and compare the
 * per-tensor output hashes. With `loseAfter`, the device is destroyed after that many tensors.
 */
/** What the method reported for a tensor (the receipt's sign conflicts, kept fractions, iterations). */
const methodOnly = (s: TensorStat) => [s.signConflicts ?? null, s.keptFraction ?? null, s.iterations ?? null];

async function breedCompare(operator: string, params: RecipeParams, parents: number, kind: InputKind, loseAfter?: number) {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const backend = withCpuFallback(webGpuBackendOn(gpu), cpuBackend);
  const req = { operator, params, seed: 42, parents: Array.from({ length: parents }, (_, p) => makeModel(p + 1, kind)) };
  const onGpu = await breed(req, backend, (p) => {
    if (loseAfter !== undefined && p.tensor === loseAfter) gpu.device.destroy();
  });
  const onCpu = await breed(req, cpuBackend);
  if (loseAfter === undefined) gpu.device.destroy();
  const same = onGpu.stats.map((s, i) => s.outputHash === onCpu.stats[i].outputHash);
  return {
    tensors: same.length,
    identical: same.filter(Boolean).length,
    kind: onGpu.backend.kind,
    adapter: onGpu.backend.adapter,
    fallbacks: backend.fallbacks,
    statsEqual: JSON.stringify(onGpu.stats.map(methodOnly)) === JSON.stringify(onCpu.stats.map(methodOnly)),
    keptFractions: onGpu.stats.map((s) => s.keptFraction ?? null),
  };
}

/**
 * breed() a whole model on the GPU twice: every tensor through run() (streamAbove Infinity), and
 * the tensors above `streamAbove` elements through runStream (4096-element chunks, inputs decoded
 * from the stored dtype chunk by chunk). Reports whether the per-tensor bytes and statistics agree
 * and how many tensors took each path.
 */
async function breedStreamCompare(
  operator: string,
  params: ParamValues,
  parents: number,
  kind: InputKind,
  dtype: DType,
  streamAbove: number,
) {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const raw = webGpuBackendOn(gpu, { streamChunkElements: 4096 });
  const paths = { run: 0, stream: 0 };
  const counted = {
    kind: raw.kind,
    adapter: raw.adapter,
    software: raw.software,
    run: (...a: Parameters<typeof raw.run>) => (paths.run++, raw.run(...a)),
    runStream: (...a: Parameters<typeof raw.runStream>) => (paths.stream++, raw.runStream(...a)),
  };
  const models = Array.from({ length: parents }, (_, p) =>
    makeModel(p + 1, kind).map((t) => fromFloat32(t.name, [...t.shape], toFloat32(t), dtype)),
  );
  const req = { operator, params, seed: 42, parents: models };
  const whole = await breed(req, counted, undefined, undefined, { streamAbove: Infinity });
  const wholePaths = { ...paths };
  paths.run = paths.stream = 0;
  const streamed = await breed(req, counted, undefined, undefined, { streamAbove });
  gpu.device.destroy();
  const strip = (r: typeof whole) => JSON.stringify(r.stats.map(({ ms: _ms, ...rest }) => rest));
  return {
    tensors: whole.stats.length,
    identical: whole.stats.filter((s, i) => s.outputHash === streamed.stats[i].outputHash).length,
    statsEqual: strip(whole) === strip(streamed),
    wholePaths,
    streamedPaths: { ...paths },
  };
}

declare global {
  interface Window {
    __kernels: typeof api;
  }
}

const api = {
  info,
  conformance,
  deviceLoss,
  streamLoss,
  fallbackStream,
  noKernel,
  mutateWithoutStd,
  breedCompare,
  breedStreamCompare,
  forgetGpu,
};
window.__kernels = api;
