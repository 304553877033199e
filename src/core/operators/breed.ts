/**
 * Breed a candidate: run one operator over every tensor of the parents, on a given backend.
 */
import { getOperator } from './registry.ts';
import type { KernelBackend } from './backend.ts';
import type { ParamValues } from './types.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';
import { sha256Hex } from '../hash.ts';

export interface BreedRequest {
  operator: string;
  params: ParamValues;
  seed: number;
  /** Parent models (base first when the operator needs one), each a list of tensors of one species. */
  parents: readonly (readonly Tensor[])[];
}

export interface TensorStat {
  name: string;
  /** Fraction of elements that differ from the first parent. */
  changedFraction: number;
  /** Fraction of exact zeros in the output. */
  sparsity: number;
  /** L2 norm of (output − first parent). */
  deltaNorm: number;
  ms: number;
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
  ms: number;
}

export async function breed(
  req: BreedRequest,
  backend: KernelBackend,
  onProgress?: (p: BreedProgress) => void,
  signal?: { aborted: boolean },
): Promise<BreedResult> {
  const op = getOperator(req.operator);
  const n = req.parents.length - (op.needsBase ? 1 : 0);
  if (n < op.parents.min || n > op.parents.max) {
    throw new Error(`${op.id} takes ${op.parents.min}..${op.parents.max} parents${op.needsBase ? ' plus a base' : ''}, got ${n}`);
  }
  const first = req.parents[0];
  const byName = req.parents.map((p) => new Map(p.map((t) => [t.name, t])));
  const bytesTotal = first.reduce((s, t) => s + t.data.length, 0);
  let bytesDone = 0;
  const t0 = performance.now();
  const tensors: Tensor[] = [];
  const stats: TensorStat[] = [];
  for (let i = 0; i < first.length; i++) {
    if (signal?.aborted) throw new Error('breed cancelled');
    const ref = first[i];
    const inputs = byName.map((m, p) => {
      const t = m.get(ref.name);
      if (!t) throw new Error(`parent ${p} has no tensor "${ref.name}"`);
      return toFloat32(t);
    });
    const s0 = performance.now();
    const out = await backend.run(op, inputs, req.params, { name: ref.name, shape: ref.shape, seed: req.seed });
    const ms = performance.now() - s0;
    const tensor = fromFloat32(ref.name, ref.shape, out, ref.dtype);
    tensors.push(tensor);
    stats.push({ ...tensorStats(inputs[0], out), name: ref.name, ms, outputHash: sha256Hex(tensor.data) });
    bytesDone += ref.data.length;
    onProgress?.({ tensor: i + 1, tensors: first.length, name: ref.name, bytesDone, bytesTotal });
  }
  return { tensors, stats, backend: { kind: backend.kind, adapter: backend.adapter, software: backend.software }, ms: performance.now() - t0 };
}

function tensorStats(before: Float32Array, after: Float32Array) {
  let changed = 0;
  let zeros = 0;
  let sq = 0;
  for (let i = 0; i < after.length; i++) {
    const d = after[i] - before[i];
    if (d !== 0) changed++;
    if (after[i] === 0) zeros++;
    sq += d * d;
  }
  const n = Math.max(1, after.length);
  return { changedFraction: changed / n, sparsity: zeros / n, deltaNorm: Math.sqrt(sq) };
}
