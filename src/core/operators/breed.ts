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
import type { ModelView, OperatorDef, ParamValues, RecipeParams, TensorInfo } from './types.ts';
import { layerPositions, paramsAt, resolveParams } from './params.ts';
import type { LayerSource } from './passthrough.ts';
import { fromFloat32, toFloat32, numel, type Tensor } from '../tensor.ts';
import { sha256Stream } from '../hash.ts';
import { StatsAccumulator, tensorsSource } from './stream.ts';
import { keptKey } from './task-arithmetic.cpu.ts';

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
export function checkParents(parents: readonly (readonly Tensor[])[]): void {
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

export async function breed(
  req: BreedRequest,
  backend: KernelBackend,
  onProgress?: (p: BreedProgress) => void,
  signal?: { readonly aborted: boolean },
  options: BreedOptions = {},
): Promise<BreedResult> {
  const streamAbove = options.streamAbove ?? BREED_STREAM_ELEMENTS;
  const op = getOperator(req.operator);
  if (!Number.isInteger(req.seed) || req.seed < 0 || req.seed > 0xffffffff)
    throw new Error(`seed ${req.seed} must be an integer in [0, 2^32)`);
  if (req.parents.length === 0) throw new Error(`${op.id}: no parents`);
  const n = req.parents.length - (op.needsBase ? 1 : 0);
  if (n < op.parents.min || n > op.parents.max) {
    throw new Error(`${op.id} takes ${op.parents.min}..${op.parents.max} parents${op.needsBase ? ' plus a base' : ''}, got ${n}`);
  }
  const params = resolveParams(op, req.params, n);
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
    backend: { kind: backend.kind, adapter: backend.adapter, software: backend.software },
    operator: { id: op.id, version: op.version },
    params,
    seed: req.seed,
    metadata: op.metadata?.(params) ?? {},
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

/** Changed fraction, sparsity and delta norm of an output against the first input (one chunk of StatsAccumulator). */
function tensorStats(before: Float32Array, after: Float32Array): { changedFraction: number; sparsity: number; deltaNorm: number } {
  const acc = new StatsAccumulator();
  acc.add(before, after);
  return acc.result();
}
