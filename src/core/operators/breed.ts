/**
 * Breed a candidate: run one operator over every tensor of the parents, on a given backend.
 *
 * Order of work: check the parents match tensor by tensor (name, dtype, shape); resolve the
 * parameters against the operator's declarations; run the operator's model-level pre-pass (if
 * any) on the host; then, tensor by tensor in the first parent's order, resolve layer gradients,
 * run the kernel on the backend, store the output (in the first parent's dtype, or the
 * operator's own storage such as quantize's "<name>.q" + "<name>.scales") and record statistics.
 * Tensors that are not float (I8, U8, I4), or that the operator declines (its `skip`), are copied
 * from the first input unchanged and their statistic says why.
 *
 * A tensor above `options.streamAbove` elements (BREED_STREAM_ELEMENTS) goes through the
 * backend's runStream when it has one (and the operator has no own `store`): inputs decoded from
 * the stored bytes chunk by chunk, output and statistics assembled from the chunks; the bytes
 * equal the whole-tensor run. Smaller tensors, and backends without runStream, use run().
 */
import { getOperator } from './registry.ts';
import type { KernelBackend } from './backend.ts';
import type { ModelView, OperatorDef, ParamValues, RecipeParams, TensorContext, TensorInfo } from './types.ts';
import { layerPositions, paramsAt, resolveParams } from './params.ts';
import type { LayerSource } from './passthrough.ts';
import { fromFloat32, toFloat32, numel, type Tensor } from '../tensor.ts';
import { sha256Stream } from '../hash.ts';
import {
  StatsAccumulator,
  elementBytes,
  modelTensorSource,
  readElements,
  readElementsLent,
  tensorsSource,
  type ModelSource,
  type SourceTensor,
} from './stream.ts';
import { keepCount, keptKey, modelTrimDensities, parentDelta, sparsifyDelta } from './task-arithmetic.cpu.ts';
import { numAt } from './params.ts';
import { KEEP_NONE, StreamingTopK, localCutoff, type Cutoff } from './select.ts';

export interface BreedRequest {
  operator: string;
  params: RecipeParams;
  /** An integer in [0, 2^32). */
  seed: number;
  /** Parent models (base first when the operator needs one), each a list of tensors of one species. */
  parents: readonly (readonly Tensor[])[];
}

export interface TensorStat {
  name: string;
  /** Fraction of elements that differ from the first input (the base, for task-arithmetic operators). */
  changedFraction: number;
  /** Fraction of exact zeros in the output. */
  sparsity: number;
  /** L2 norm of (output − first input). */
  deltaNorm: number;
  /** TIES and DARE-TIES: elements whose non-zero (trimmed, weighted) deltas disagree in sign. */
  signConflicts?: number;
  /** karcher: the iterations the Riemannian mean took on this tensor. */
  iterations?: number;
  /**
   * The trimming and dropping members of the task-arithmetic family: per parent (base not
   * counted), the fraction of the tensor's elements its sparsification kept (1 where it keeps all).
   */
  keptFraction?: number[];
  /** Why the tensor was copied unchanged, when it was. */
  skipped?: string;
  /** Bytes stored for this tensor's output (all its stored tensors). */
  bytes: number;
  ms: number;
  /** SHA-256 of the stored bytes of this tensor's output (concatenated when it is stored as several tensors). */
  outputHash: string;
}

export interface BreedProgress {
  tensor: number;
  tensors: number;
  name: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface BreedResult {
  tensors: Tensor[];
  stats: TensorStat[];
  backend: { kind: KernelBackend['kind']; adapter: string; software: boolean };
  operator: { id: string; version: string };
  /** The parameters after defaults and checks (gradients, filters and per-parent settings as given): what a receipt records. */
  params: RecipeParams;
  seed: number;
  /** Extra `.slm` metadata the operator asks for (e.g. quantization scheme and block size). */
  metadata: Record<string, string>;
  /** A layer stack (passthrough with layerRange): where each output layer came from, so the candidate's config says the new count. */
  layers?: LayerSource[];
  ms: number;
}

/** Tensors with more elements than this stream through the backend's runStream, when it has one: 4 Mi elements (16 MiB as float32). */
export const BREED_STREAM_ELEMENTS = 1 << 22;

export interface BreedOptions {
  /** Stream tensors with more elements than this (default BREED_STREAM_ELEMENTS; Infinity never streams). */
  streamAbove?: number;
}

export class BreedCancelled extends Error {
  override name = 'BreedCancelled';
  constructor() {
    super('breed cancelled');
  }
}

const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];

/** Refuse parents that do not match the first one tensor by tensor. */
export function checkParents(parents: readonly (readonly TensorInfo[])[]): void {
  const first = parents[0];
  const names = new Set(first.map((t) => t.name));
  parents.forEach((p, i) => {
    if (i === 0) return;
    const byName = new Map(p.map((t) => [t.name, t]));
    for (const ref of first) {
      const t = byName.get(ref.name);
      if (!t) throw new Error(`parent ${i} has no tensor "${ref.name}"`);
      if (t.dtype !== ref.dtype) throw new Error(`tensor "${ref.name}": parent ${i} is ${t.dtype}, parent 0 is ${ref.dtype}`);
      if (t.shape.length !== ref.shape.length || t.shape.some((d, k) => d !== ref.shape[k])) {
        throw new Error(`tensor "${ref.name}": parent ${i} has shape [${t.shape}], parent 0 has [${ref.shape}]`);
      }
    }
    for (const t of p) if (!names.has(t.name)) throw new Error(`parent ${i} has tensor "${t.name}" that parent 0 lacks`);
  });
}

/** Why `op` leaves a tensor unchanged, or null when it runs on it. */
export function skipReason(op: OperatorDef, t: TensorInfo, params: RecipeParams): string | null {
  if (!FLOAT_DTYPES.includes(t.dtype)) return `not a float tensor (${t.dtype})`;
  return op.skip?.(t, params) ?? null;
}

/** What every breed result says about its run. */
function resultHeader(op: OperatorDef, backend: KernelBackend, params: RecipeParams, seed: number) {
  return { backend: { kind: backend.kind, adapter: backend.adapter, software: backend.software }, ...headerOf(op, params, seed) };
}

function headerOf(op: OperatorDef, params: RecipeParams, seed: number) {
  return { operator: { id: op.id, version: op.version }, params, seed, metadata: op.metadata?.(params) ?? {} };
}

/** The operator and its checked parameters for a request with `inputs` parent models (the base included). */
function resolveRequest(operator: string, given: RecipeParams, seed: number, inputs: number): { op: OperatorDef; params: RecipeParams } {
  const op = getOperator(operator);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`seed ${seed} must be an integer in [0, 2^32)`);
  if (inputs === 0) throw new Error(`${op.id}: no parents`);
  const n = inputs - (op.needsBase ? 1 : 0);
  if (n < op.parents.min || n > op.parents.max) {
    throw new Error(`${op.id} takes ${op.parents.min}..${op.parents.max} parents${op.needsBase ? ' plus a base' : ''}, got ${n}`);
  }
  return { op, params: resolveParams(op, given, n) };
}

/**
 * What a breed's result says of the breed before it runs (the operator, the resolved parameters,
 * the seed and the operator's metadata), as breed() and breedStream() give it: a streamed
 * candidate's header can be laid out from it before the first tensor is computed.
 */
export function breedHeader(
  operator: string,
  params: RecipeParams,
  seed: number,
  inputs: number,
): Pick<BreedResult, 'operator' | 'params' | 'seed' | 'metadata'> {
  const { op, params: resolved } = resolveRequest(operator, params, seed, inputs);
  return headerOf(op, resolved, seed);
}

export async function breed(
  req: BreedRequest,
  backend: KernelBackend,
  onProgress?: (p: BreedProgress) => void,
  signal?: { readonly aborted: boolean },
  options: BreedOptions = {},
): Promise<BreedResult> {
  const streamAbove = options.streamAbove ?? BREED_STREAM_ELEMENTS;
  const { op, params } = resolveRequest(req.operator, req.params, req.seed, req.parents.length);
  const layout = op.layout?.(req.parents, params);
  if (!layout) checkParents(req.parents);
  const first = req.parents[0];
  const byName = req.parents.map((p) => new Map(p.map((t) => [t.name, t])));
  const inputsOf = (name: string) => byName.map((m) => toFloat32(m.get(name)!));
  // One job per output tensor: its inputs, the name its parameters are resolved for, its layer position.
  const positions = layerPositions(first.map((t) => t.name));
  const jobs = layout
    ? layout.tensors.map((r) => ({
        ref: { ...byName[r.parent].get(r.source)!, name: r.name },
        from: [byName[r.parent].get(r.source)!],
        source: r.source,
        t: r.t,
        parent: r.parent,
      }))
    : first.map((ref, i) => ({ ref, from: byName.map((m) => m.get(ref.name)!), source: ref.name, t: positions[i], parent: -1 }));
  const skips = jobs.map((j) => skipReason(op, j.ref, params));
  const bytesTotal = jobs.reduce((s, j) => s + j.ref.data.length, 0);
  const t0 = performance.now();

  let derived: Record<string, ParamValues> = {};
  if (op.prepare && !layout) {
    const run = first.filter((_, i) => skips[i] === null);
    const model: ModelView = { names: run.map((t) => t.name), shapes: run.map((t) => t.shape), inputs: inputsOf };
    derived = op.prepare(model, params, req.seed);
  }
  /** A job's parameters: gradients and filters resolved; for a routed tensor, per-parent values taken for its parent. */
  const paramsFor = (j: (typeof jobs)[number]): ParamValues => {
    const p = { ...paramsAt(op, params, j.t, j.source), ...derived[j.ref.name] };
    if (j.parent >= 0)
      for (const d of op.params) if (d.perParent && Array.isArray(p[d.name])) p[d.name] = (p[d.name] as number[])[j.parent];
    return p;
  };

  let bytesDone = 0;
  const tensors: Tensor[] = [];
  const stats: TensorStat[] = [];
  for (let i = 0; i < jobs.length; i++) {
    if (signal?.aborted) throw new BreedCancelled();
    const ref = jobs[i].ref;
    const s0 = performance.now();
    let stored: Tensor[];
    let stat: Omit<TensorStat, 'name' | 'ms' | 'outputHash' | 'bytes'>;
    if (skips[i] !== null) {
      stored = [ref];
      stat = { changedFraction: 0, sparsity: zeroFraction(ref), deltaNorm: 0, skipped: skips[i]! };
    } else if (backend.runStream && !op.store && numel(ref.shape) > streamAbove) {
      // Streamed: the parents' stored bytes are decoded chunk by chunk; the output and the
      // statistics are assembled from the sink's chunks, in order (the same bytes as run()).
      const p = paramsFor(jobs[i]);
      const extra: Record<string, number> = {};
      const source = tensorsSource(jobs[i].from);
      const out = new Float32Array(source.length);
      const acc = new StatsAccumulator();
      let next = 0;
      const ret = await backend.runStream(
        op,
        source,
        p,
        { name: ref.name, shape: ref.shape, seed: req.seed, stats: extra },
        async (offset, values) => {
          if (offset !== next || offset + values.length > out.length)
            throw new Error(`${op.id} on "${ref.name}": chunk of ${values.length} at ${offset}, expected the next at ${next}`);
          out.set(values, offset);
          acc.add(await source.read(0, offset, values.length), values);
          next = offset + values.length;
        },
      );
      if (signal?.aborted) throw new BreedCancelled();
      if (ret !== null || next !== out.length)
        throw new Error(`${op.id} on "${ref.name}": the stream gave ${next} of ${out.length} values`);
      stored = [fromFloat32(ref.name, ref.shape, out, ref.dtype)];
      stat = { ...acc.result(), ...methodStats(extra, out.length) };
    } else {
      const inputs = jobs[i].from.map(toFloat32);
      const p = paramsFor(jobs[i]);
      const extra: Record<string, number> = {};
      const out = await backend.run(op, inputs, p, { name: ref.name, shape: ref.shape, seed: req.seed, stats: extra });
      if (signal?.aborted) throw new BreedCancelled();
      if (out.length !== inputs[0].length)
        throw new Error(`${op.id} on "${ref.name}" returned ${out.length} values for ${inputs[0].length} elements`);
      stored = op.store ? op.store(ref, inputs, out, p) : [fromFloat32(ref.name, ref.shape, out, ref.dtype)];
      stat = { ...tensorStats(inputs[0], out), ...methodStats(extra, out.length) };
    }
    const h = sha256Stream();
    let bytes = 0;
    for (const t of stored) {
      h.update(t.data);
      bytes += t.data.length;
    }
    tensors.push(...stored);
    stats.push({ name: ref.name, ...stat, bytes, ms: performance.now() - s0, outputHash: h.digestHex() });
    bytesDone += ref.data.length;
    onProgress?.({ tensor: i + 1, tensors: jobs.length, name: ref.name, bytesDone, bytesTotal });
  }
  return {
    tensors,
    stats,
    ...resultHeader(op, backend, params, req.seed),
    ...(layout?.layers ? { layers: layout.layers } : {}),
    ms: performance.now() - t0,
  };
}

/**
 * What the method itself reports for one tensor (ctx.stats, from the CPU reference, the fast path
 * or the GPU alike): sign conflicts, Karcher iterations, kept counts per parent ("kept:i") as
 * fractions of the n elements.
 */
export function methodStats(extra: Record<string, number>, n: number): Pick<TensorStat, 'signConflicts' | 'iterations' | 'keptFraction'> {
  const out: Pick<TensorStat, 'signConflicts' | 'iterations' | 'keptFraction'> = {};
  if (typeof extra.signConflicts === 'number') out.signConflicts = extra.signConflicts;
  if (typeof extra.iterations === 'number') out.iterations = extra.iterations;
  const kept: number[] = [];
  for (let i = 0; typeof extra[keptKey(i)] === 'number'; i++) kept.push(n > 0 ? extra[keptKey(i)] / n : 1);
  if (kept.length) out.keptFraction = kept;
  return out;
}

function zeroFraction(t: Tensor): number {
  const n = numel(t.shape);
  if (n === 0) return 0;
  const v = toFloat32(t);
  let z = 0;
  for (let i = 0; i < n; i++) if (v[i] === 0) z++;
  return z / n;
}

/**
 * Whether a float array is the whole of an unshared ArrayBuffer, so a byte view of it is as good as
 * fromFloat32's copy (which would be one more pass over the tensor's memory).
 */
function ownsBuffer(y: Float32Array): y is Float32Array<ArrayBuffer> {
  return y.buffer instanceof ArrayBuffer && y.byteOffset === 0 && y.byteLength === y.buffer.byteLength;
}

/** Changed fraction, sparsity and delta norm of an output against the first input (one chunk of StatsAccumulator). */
function tensorStats(before: Float32Array, after: Float32Array): { changedFraction: number; sparsity: number; deltaNorm: number } {
  const acc = new StatsAccumulator();
  acc.add(before, after);
  return acc.result();
}

// ---------------------------------------------------------------------------------------------
// breedStream: the streaming breed. Parents are read by range from ModelSources (the tensor
// store's storedModelSource reads them chunk by chunk, each chunk verified) and every output
// tensor leaves chunk by chunk through `output` (the store's tensorWriter), so no tensor is held
// whole unless its operator needs it whole ("whole" below). The bytes equal breed()'s.
//
// Per tensor, one of:
// - runStream: a backend that has runStream (WebGPU and its fallback) gets the store-backed
//   TensorSource and the parameters (with the pre-passes' cutoffs and clip factors) and streams
//   the output to the sink;
// - element-wise (1 pass): each chunk runs the operator with ctx.offset, so seeded masks do not
//   depend on the chunking;
// - exact streamed top-k (3 passes: two histograms, then the apply walk): the magnitude trims
//   of the task-arithmetic family, per tensor (StreamingTopK and CutoffCursor, select.ts);
// - whole: a tensor of one chunk, or one whose operator needs it whole (L1 rescale, outlier and
//   DELLA trims, non-element-wise operators, operators with their own storage): read whole.
// Model-level pre-passes of the task-arithmetic family run streamed before the tensors: clip
// factors (sums of squares in element order, as parentDelta's) and the model-wide exact top-k
// (trimScope "model": 3 passes over the model). The signal is checked between chunks.
// ---------------------------------------------------------------------------------------------

/** Elements per unit of work in breedStream: 1 Mi (a 4 MiB store chunk of float32). */
export const BREED_CHUNK_ELEMENTS = 1 << 20;

/** Where one output tensor's bytes go, in order (the store's tensorWriter is one). */
export interface TensorOutput {
  write(bytes: Uint8Array): Promise<void>;
  /** Done: the SHA-256 of everything written. */
  finish(): Promise<{ hash: string }>;
  /** Given up (a failure or a cancel): drop what was written. */
  abort?(): Promise<void>;
}

export interface StreamBreedRequest {
  operator: string;
  params: RecipeParams;
  seed: number;
  /** Parent models (base first when the operator needs one), read by range. */
  parents: readonly ModelSource[];
}

export interface StreamBreedOptions {
  /** A sink for each output tensor, opened when its first bytes are ready. */
  output(t: SourceTensor): TensorOutput;
  /** On a failure or a cancel: the output tensors finished so far, which no candidate will list (the store drops them). */
  discard?(outputs: readonly StreamedTensor[]): Promise<void>;
  /** Elements per chunk (default BREED_CHUNK_ELEMENTS; a multiple of 8). */
  chunkElements?: number;
  onProgress?(p: BreedProgress): void;
  /** Checked between chunks: an aborted signal ends the breed with BreedCancelled within one chunk. */
  signal?: { readonly aborted: boolean };
  /**
   * Every output's write() is done with the bytes once it resolves (it has written or copied
   * them): the backend's memory may then be lent for the outputs (KernelBackend.runLent), with
   * no copy out of it.
   */
  writeCopies?: boolean;
}

/** One output tensor of a streamed breed. */
export interface StreamedTensor extends SourceTensor {
  hash: string;
  bytes: number;
}

export type StreamPlan = 'runStream' | 'element-wise' | 'streamed top-k' | 'whole';

export interface StreamBreedResult extends Omit<BreedResult, 'tensors' | 'layers'> {
  outputs: StreamedTensor[];
  /** How many tensors took each path. */
  plans: Partial<Record<StreamPlan | 'skipped', number>>;
  /** Bytes read from the parents (selection passes re-read). */
  bytesRead: number;
  /** Peak bytes of decoded chunks, whole tensors and outputs the driver held at once. */
  peakHeldBytes: number;
}

/** How a tensor's operator can run chunk by chunk with these (resolved) parameters. */
export function chunkPlan(op: OperatorDef, p: ParamValues): 'element-wise' | 'streamed top-k' | 'whole' {
  if (op.store) return 'whole';
  const ta = op.kernel?.id === 'task-arithmetic' ? op.kernel.cfg : undefined;
  if (ta) {
    if (typeof p.clipNorm === 'number' && p.clipNorm > 0 && !Array.isArray(p.clipFactors)) return 'whole';
    // Rescale "l1" takes whole-tensor norms: breedStream's L1 pre-pass gives them (l1Norms) for these two.
    if (ta.sparsify === 'magnitude') return 'streamed top-k';
    return ta.sparsify === 'none' || ta.sparsify === 'random' ? 'element-wise' : 'whole';
  }
  return op.elementwise && !op.prepare ? 'element-wise' : 'whole';
}

export async function breedStream(
  req: StreamBreedRequest,
  backend: KernelBackend,
  options: StreamBreedOptions,
): Promise<StreamBreedResult> {
  const C = options.chunkElements ?? BREED_CHUNK_ELEMENTS;
  if (!Number.isSafeInteger(C) || C < 8 || C % 8 !== 0)
    throw new Error(`breedStream: chunk of ${C} elements is not a positive multiple of 8`);
  const { op, params } = resolveRequest(req.operator, req.params, req.seed, req.parents.length);
  if (
    op.layout?.(
      req.parents.map((m) => m.tensors),
      params,
    )
  )
    throw new Error(`${op.id} rearranges tensors between models; breed it with breed()`);
  const ta = op.kernel?.id === 'task-arithmetic' ? op.kernel.cfg : undefined;
  if (op.prepare && !ta) throw new Error(`${op.id} needs a model-level pre-pass over whole tensors; breed it with breed()`);
  const infos = req.parents.map((m) => m.tensors);
  checkParents(infos);
  const signal = options.signal;
  const first = infos[0];
  const byName = infos.map((ts) => new Map(ts.map((t) => [t.name, t])));
  const positions = layerPositions(first.map((t) => t.name));
  const skips = first.map((t) => skipReason(op, t, params));
  const bytesOf = (t: SourceTensor) => elementBytes(t.dtype, 0, numel(t.shape))[1];
  const bytesTotal = first.reduce((s, t) => s + bytesOf(t), 0);
  const t0 = performance.now();

  let held = 0;
  let peakHeld = 0;
  const hold = (b: number) => {
    held += b;
    peakHeld = Math.max(peakHeld, held);
  };
  let bytesRead = 0;
  const parentsOf = (i: number) => req.parents.map((m, p) => ({ m, t: byName[p].get(first[i].name)! }));
  /** The loans of chunk values read through a source's readLent, ended when their chunk is released. */
  const loans = new Map<Float32Array, () => void>();
  /** Elements [offset, offset + n) of tensor i in every parent, decoded (held until released). */
  const readChunk = async (i: number, offset: number, n: number): Promise<Float32Array[]> => {
    const got = await Promise.allSettled(parentsOf(i).map(({ m, t }) => readElementsLent(m, t, offset, n)));
    const failed = got.find((g) => g.status === 'rejected');
    if (failed) {
      for (const g of got) if (g.status === 'fulfilled') g.value.give();
      throw failed.reason;
    }
    const values = got.map((g) => (g as PromiseFulfilledResult<Awaited<ReturnType<typeof readElementsLent>>>).value);
    for (const g of values) {
      bytesRead += g.bytes;
      loans.set(g.values, g.give);
    }
    hold(4 * n * values.length);
    return values.map((g) => g.values);
  };
  const release = (ins: readonly Float32Array[]) => {
    for (const x of ins) {
      loans.get(x)?.();
      loans.delete(x);
    }
    hold(-ins.reduce((a, x) => a + x.byteLength, 0));
  };
  const cancelled = () => {
    if (signal?.aborted) throw new BreedCancelled();
  };
  /** Every chunk of tensor i in order, the next one read while this one is worked on; the signal checked between chunks. */
  const eachChunk = async (i: number, fn: (ins: Float32Array[], offset: number) => Promise<void> | void): Promise<void> => {
    const n = numel(first[i].shape);
    let next: Promise<Float32Array[]> | null = n > 0 ? readChunk(i, 0, Math.min(C, n)) : null;
    for (let at = 0; at < n; at += C) {
      const ins = await next!;
      next = at + C < n ? readChunk(i, at + C, Math.min(C, n - at - C)) : null;
      try {
        cancelled();
        await fn(ins, at);
      } catch (e) {
        next?.then(release, () => undefined);
        release(ins);
        throw e;
      }
      release(ins);
    }
  };
  const run = first.map((_, i) => i).filter((i) => skips[i] === null);
  const parentCount = req.parents.length - (op.needsBase ? 1 : 0);

  // Model-level pre-passes of the task-arithmetic family, streamed.
  const derived: Record<string, ParamValues> = Object.fromEntries(first.map((t) => [t.name, {}]));
  const clipNorm = typeof params.clipNorm === 'number' ? params.clipNorm : 0;
  if (ta && clipNorm > 0) {
    // parentDelta's sums of squares, in element order (per tensor, and model-wide for clipScope "update").
    const model = new Float64Array(parentCount);
    for (const i of run) {
      const sq = new Float64Array(parentCount);
      await eachChunk(i, (ins) => {
        for (let p = 0; p < parentCount; p++) {
          const d = parentDelta(ins[0], ins[p + 1], {}, p);
          for (let j = 0; j < d.length; j++) {
            sq[p] += d[j] * d[j];
            model[p] += d[j] * d[j];
          }
        }
      });
      derived[first[i].name].clipFactors = clipFactorsOf(sq, clipNorm);
    }
    if (params.clipScope === 'update') for (const i of run) derived[first[i].name].clipFactors = clipFactorsOf(model, clipNorm);
  }
  if (ta?.sparsify === 'magnitude' && params.trimScope === 'model') await modelTrim();

  /** trimScope "model": one exact top-k per parent over the deltas of all the tensors in model order (StreamingTopK over the model). */
  async function modelTrim(): Promise<void> {
    const densities = modelTrimDensities(params, parentCount);
    const total = run.reduce((s, i) => s + numel(first[i].shape), 0);
    const sel = densities.map((d) => new StreamingTopK(total, d >= 1 ? total : keepCount(d, total, 'the model')));
    const deltas = (i: number, ins: Float32Array[]) =>
      sel.map((_, p) => parentDelta(ins[0], ins[p + 1], { clipNorm, ...derived[first[i].name] }, p));
    while (sel.some((x) => x.pass !== 'done')) {
      for (const i of run) await eachChunk(i, (ins) => deltas(i, ins).forEach((d, p) => sel[p].pass !== 'done' && sel[p].add(d)));
      for (const x of sel) if (x.pass !== 'done') x.endPass();
    }
    const cursors = sel.map((x) => x.cursor());
    const starts = new Map<number, number>();
    let start = 0;
    for (const i of run) {
      starts.set(i, start);
      start += numel(first[i].shape);
    }
    for (const i of run) {
      if (cursors.every((c) => c.settled())) break;
      const at = starts.get(i)!;
      await eachChunk(i, (ins, offset) => deltas(i, ins).forEach((d, p) => cursors[p].settled() || cursors[p].next(d, at + offset)));
    }
    const cuts = cursors.map((c) => c.settled() ?? c.cutoff());
    for (const i of run) {
      const n = numel(first[i].shape);
      const local = cuts.map((c) => localCutoff(c, starts.get(i)!, n));
      derived[first[i].name].trimBits = local.map((c) => c.bits);
      derived[first[i].name].trimIndex = local.map((c) => c.index);
    }
  }

  const outputs: StreamedTensor[] = [];
  const stats: TensorStat[] = [];
  const plans: StreamBreedResult['plans'] = {};
  let bytesDone = 0;
  /**
   * The next tensor's whole read, started once the current tensor's read is in (so the reads
   * stay in file order) and run while it is computed; a tensor read whole takes it from here.
   */
  let ahead: { i: number; read: Promise<Float32Array[]> } | null = null;
  const readWhole = (i: number): Promise<Float32Array[]> => {
    if (ahead?.i === i) {
      const { read } = ahead;
      ahead = null;
      return read;
    }
    return readChunk(i, 0, numel(first[i].shape));
  };
  const readAhead = (i: number) => {
    const n = i < first.length ? numel(first[i].shape) : 0;
    if (ahead !== null || n === 0 || n > C || skips[i] !== null || signal?.aborted) return;
    ahead = { i, read: readChunk(i, 0, n) };
    ahead.read.catch(() => undefined);
  };
  /**
   * The previous tensor's end: its outputs' hashes (finish()) are awaited while this tensor is
   * read and computed, and only then are its outputs listed and its progress told, in order.
   */
  let finishing: Promise<void> = Promise.resolve();
  try {
    for (let i = 0; i < first.length; i++) {
      cancelled();
      const ref = first[i];
      const n = numel(ref.shape);
      const s0 = performance.now();
      const p = { ...paramsAt(op, params, positions[i], ref.name), ...derived[ref.name] };
      const ctx = { name: ref.name, shape: ref.shape, seed: req.seed };
      const extra: Record<string, number> = {};
      const acc = new StatsAccumulator();
      const written: StreamedTensor[] = [];
      /** The finish() of each output in `written`, which sets its hash. */
      const hashed: Promise<void>[] = [];
      let open: { t: SourceTensor; out: TensorOutput } | null = null;
      /** Write the bytes of output tensor t (opened on its first bytes; a new t finishes the previous). */
      const write = async (t: SourceTensor, bytes: Uint8Array) => {
        if (open?.t.name !== t.name) {
          await close();
          open = { t, out: options.output(t) };
        }
        hold(bytes.length);
        try {
          await open.out.write(bytes);
        } finally {
          hold(-bytes.length);
        }
      };
      const close = async () => {
        if (!open) return;
        const { t, out } = open;
        open = null;
        const w: StreamedTensor = { ...t, hash: '', bytes: bytesOf(t) };
        written.push(w);
        const h = out.finish().then((r) => void (w.hash = r.hash));
        h.catch(() => undefined);
        hashed.push(h);
      };
      const chunkOut = (y: Float32Array) => fromFloat32(ref.name, [y.length], y, ref.dtype).data;
      /** An output the backend handed over (backend.run: the caller owns it, and nothing here touches it again) as stored bytes. */
      const ownedOut = (y: Float32Array) => (ref.dtype === 'F32' && ownsBuffer(y) ? new Uint8Array(y.buffer) : chunkOut(y));
      /** An output the backend lent (runLent; given back once written) as stored bytes: float32 as is, no copy. */
      const lentOut = (y: Float32Array) => (ref.dtype === 'F32' ? new Uint8Array(y.buffer, y.byteOffset, y.byteLength) : chunkOut(y));
      /**
       * The statistics of one chunk, in element order after the chunks before it: on the backend
       * (a pool worker, while the caller writes) where it can, else here. The arrays must stay
       * untouched until the promise settles.
       */
      const statsOf = (before: Float32Array, after: Float32Array): Promise<void> => {
        const n = after.length;
        const off = backend.chunkStats?.(before, after, acc.sum);
        if (!off) {
          acc.add(before, after);
          return Promise.resolve();
        }
        return off.then((part) => acc.take(part, n));
      };
      /** The backend's run, with its output lent where the backend and the outputs allow (give() when written). */
      const runOut = async (ins: readonly Float32Array[], q: ParamValues, c: TensorContext) => {
        if (options.writeCopies && backend.runLent && !op.store) {
          const lent = await backend.runLent(op, ins, q, c);
          return { y: lent.out, bytes: lentOut, give: lent.give };
        }
        return { y: await backend.run(op, ins, q, c), bytes: ownedOut, give: () => undefined };
      };
      let plan: StreamPlan | 'skipped';
      let multiHash = '';
      try {
        if (skips[i] !== null) {
          // Copied from the first input, chunk by chunk, with its zero count.
          plan = 'skipped';
          let zeros = 0;
          for (let at = 0; at < n; at += C) {
            cancelled();
            const { values, bytes } = await readElements(req.parents[0], ref, at, Math.min(C, n - at));
            bytesRead += bytes.length;
            for (let j = 0; j < values.length; j++) if (values[j] === 0) zeros++;
            await write(ref, bytes.slice());
          }
          stats.push({
            name: ref.name,
            changedFraction: 0,
            sparsity: n ? zeros / n : 0,
            deltaNorm: 0,
            skipped: skips[i]!,
            bytes: 0,
            ms: 0,
            outputHash: '',
          });
        } else {
          const chunked = chunkPlan(op, p);
          plan = n <= C ? 'whole' : backend.runStream && !op.store ? 'runStream' : chunked;
          if (plan === 'runStream') {
            const source = modelTensorSource(req.parents, ref.name);
            let next = 0;
            const ret = await backend.runStream!(op, source, p, { ...ctx, stats: extra }, async (offset, values) => {
              cancelled();
              if (offset !== next || offset + values.length > n)
                throw new Error(`${op.id} on "${ref.name}": chunk of ${values.length} at ${offset}, expected the next at ${next}`);
              acc.add(await source.read(0, offset, values.length), values);
              await write(ref, chunkOut(values));
              next = offset + values.length;
            });
            if (ret !== null || next !== n) throw new Error(`${op.id} on "${ref.name}": the stream gave ${next} of ${n} values`);
          } else if (plan === 'whole') {
            const ins = await readWhole(i);
            readAhead(i + 1);
            let give = () => {};
            let counted: Promise<void> = Promise.resolve();
            try {
              const r = await runOut(ins, p, { ...ctx, stats: extra });
              give = r.give;
              const out = r.y;
              cancelled();
              if (out.length !== n) throw new Error(`${op.id} on "${ref.name}" returned ${out.length} values for ${n} elements`);
              counted = statsOf(ins[0], out);
              const stored = op.store
                ? op.store(ref, ins, out, p)
                : [{ name: ref.name, dtype: ref.dtype, shape: [...ref.shape], data: r.bytes(out) }];
              if (stored.length > 1) {
                const h = sha256Stream();
                for (const t of stored) h.update(t.data);
                multiHash = h.digestHex();
              }
              for (const t of stored) await write({ name: t.name, dtype: t.dtype, shape: t.shape }, t.data);
              await counted;
            } finally {
              // The statistics read the arrays: they go back only once those are done.
              await counted.catch(() => undefined);
              give();
              release(ins);
            }
          } else {
            const topk = plan === 'streamed top-k' ? await tensorCursors(i, p) : null;
            // Each chunk's cutoffs in chunk coordinates (no ctx.offset), as the CPU reference and the GPU kernel read them.
            const chunkCuts = topk
              ? (ins: Float32Array[], offset: number) => topk.map((c, k) => localCutoff(c(ins, offset, k), offset, ins[0].length))
              : null;
            const l1 = ta && p.rescale === 'l1' && ta.sparsify !== 'none' ? await tensorL1(i, p, chunkCuts) : null;
            const q = l1 ? { ...p, l1Norms: l1.norms } : p;
            let c = 0;
            await eachChunk(i, async (ins, offset) => {
              const chunkStats: Record<string, number> = {};
              let r: Awaited<ReturnType<typeof runOut>>;
              if (chunkCuts) {
                // The L1 pre-pass walked the cursors already: its cutoffs, chunk by chunk.
                const cuts = l1 ? l1.cuts[c++] : chunkCuts(ins, offset);
                r = await runOut(
                  ins,
                  { ...q, trimBits: cuts.map((x) => x.bits), trimIndex: cuts.map((x) => x.index) },
                  { ...ctx, stats: chunkStats },
                );
              } else r = await runOut(ins, q, { ...ctx, offset, stats: chunkStats });
              const y = r.y;
              let counted: Promise<void> = Promise.resolve();
              try {
                if (y.length !== ins[0].length)
                  throw new Error(`${op.id} on "${ref.name}": chunk at ${offset} returned ${y.length} values for ${ins[0].length}`);
                hold(y.byteLength);
                counted = statsOf(ins[0], y);
                for (const [k, v] of Object.entries(chunkStats)) extra[k] = (extra[k] ?? 0) + v;
                await write(ref, r.bytes(y));
                await counted;
                hold(-y.byteLength);
              } finally {
                await counted.catch(() => undefined);
                r.give();
              }
            });
          }
          stats.push({ name: ref.name, ...acc.result(), ...methodStats(extra, n), bytes: 0, ms: 0, outputHash: '' });
        }
        if (!open && written.length === 0) await write(ref, new Uint8Array(0)); // an empty tensor
        await close();
      } catch (e) {
        const o = open as { out: TensorOutput } | null;
        await o?.out.abort?.().catch(() => undefined);
        // The outputs that finished (theirs and the previous tensor's) are listed for discard().
        await finishing.catch(() => undefined);
        await Promise.allSettled(hashed);
        outputs.push(...written.filter((w) => w.hash !== ''));
        throw e;
      }
      plans[plan] = (plans[plan] ?? 0) + 1;
      const st = stats[stats.length - 1];
      st.bytes = written.reduce((a, t) => a + t.bytes, 0);
      st.ms = performance.now() - s0;
      // At most one tensor's hashes outstanding: the previous one's are done before this one's end is queued.
      try {
        await finishing;
      } catch (e) {
        await Promise.allSettled(hashed);
        outputs.push(...written.filter((w) => w.hash !== ''));
        throw e;
      }
      finishing = Promise.all(hashed).then(
        () => {
          // One output tensor: its hash; several (an operator's own storage): the hash of their bytes in order, as breed() gives.
          st.outputHash = written.length === 1 ? written[0].hash : multiHash;
          outputs.push(...written);
          bytesDone += bytesOf(ref);
          options.onProgress?.({ tensor: i + 1, tensors: first.length, name: ref.name, bytesDone, bytesTotal });
        },
        async (e: unknown) => {
          await Promise.allSettled(hashed);
          outputs.push(...written.filter((w) => w.hash !== ''));
          throw e;
        },
      );
      finishing.catch(() => undefined);
    }
    await finishing;
  } catch (e) {
    // The outputs whose hashes were still coming (a cancel between tensors) are listed for discard() too.
    await finishing.catch(() => undefined);
    // A read started ahead for a tensor the breed never reached: its chunks go back.
    const left = ahead as { read: Promise<Float32Array[]> } | null;
    ahead = null;
    await left?.read.then(release, () => undefined);
    await options.discard?.(outputs).catch(() => undefined);
    throw e;
  }

  /**
   * Rescale "l1" (one pass): each parent's ‖d‖₁ before and after its sparsification over tensor
   * i, summed chunk by chunk in element order, as sparsifyDelta sums the whole tensor, so the
   * factors (taken in the kernel from l1Norms: before₀, after₀, before₁, …) are the whole
   * tensor's. The sparsification is sparsifyDelta's own, with a magnitude trim's chunk cutoffs
   * from `chunkCuts` (the cursor walk, kept for the apply pass) or DARE's seeded drop at the offset.
   */
  async function tensorL1(
    i: number,
    p: ParamValues,
    chunkCuts: ((ins: Float32Array[], offset: number) => Cutoff[]) | null,
  ): Promise<{ norms: number[]; cuts: Cutoff[][] }> {
    const sums = new Array<number>(2 * parentCount).fill(0);
    const cuts: Cutoff[][] = [];
    const ctx = { name: first[i].name, shape: first[i].shape, seed: req.seed };
    await eachChunk(i, (ins, offset) => {
      const local = chunkCuts?.(ins, offset) ?? null;
      if (local) cuts.push(local);
      const q: ParamValues = local
        ? { ...p, rescale: 'none', trimBits: local.map((x) => x.bits), trimIndex: local.map((x) => x.index) }
        : { ...p, rescale: 'none' };
      for (let k = 0; k < parentCount; k++) {
        const d = parentDelta(ins[0], ins[k + 1], p, k);
        let before = sums[2 * k];
        for (let j = 0; j < d.length; j++) before += Math.abs(d[j]);
        sparsifyDelta(d, ta!, q, local ? ctx : { ...ctx, offset }, k);
        let after = sums[2 * k + 1];
        for (let j = 0; j < d.length; j++) after += Math.abs(d[j]);
        sums[2 * k] = before;
        sums[2 * k + 1] = after;
      }
    });
    return { norms: sums, cuts };
  }

  /**
   * Per-tensor exact top-k of each parent's delta (two histogram passes), then a function that
   * gives chunk c's cutoff in tensor coordinates during the apply walk (CutoffCursor).
   */
  async function tensorCursors(i: number, p: ParamValues) {
    const n = numel(first[i].shape);
    if (Array.isArray(p.trimBits) && Array.isArray(p.trimIndex)) {
      const bits = p.trimBits as number[];
      const index = p.trimIndex as number[];
      return bits.map((b, k) => () => ({ bits: b, index: index[k] }));
    }
    const sel = Array.from({ length: parentCount }, (_, k) => {
      const density = numAt(p, 'density', k);
      return density >= 1 ? null : new StreamingTopK(n, keepCount(density, n, first[i].name));
    });
    const delta = (ins: Float32Array[], k: number) => parentDelta(ins[0], ins[k + 1], p, k);
    while (sel.some((x) => x && x.pass !== 'done')) {
      await eachChunk(i, (ins) => sel.forEach((x, k) => x && x.pass !== 'done' && x.add(delta(ins, k))));
      for (const x of sel) if (x && x.pass !== 'done') x.endPass();
    }
    const cursors = sel.map((x) => x?.cursor() ?? null);
    // A parent with density ≥ 1 keeps everything: the kernel ignores its cutoff.
    return cursors.map((c) => (ins: Float32Array[], offset: number, k: number) => (c ? c.next(delta(ins, k), offset) : KEEP_NONE));
  }

  return {
    outputs,
    stats,
    ...resultHeader(op, backend, params, req.seed),
    ms: performance.now() - t0,
    plans,
    bytesRead,
    peakHeldBytes: peakHeld,
  };
}

/** parentDelta's clip factors from sums of squares. */
function clipFactorsOf(sq: Float64Array, clipNorm: number): number[] {
  return Array.from(sq, (s) => {
    const norm = Math.sqrt(s);
    return norm > clipNorm ? clipNorm / norm : 1;
  });
}
