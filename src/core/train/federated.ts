/**
 * A local update for federated averaging: the delta of a training run (trained − base), optionally
 * clipped to an L2 norm over the whole update (DP-FedAvg's client clip), written as a model of
 * the base's species (base + clipped delta) with the example count it was trained on in its
 * metadata. Another garden merges such updates with the "federated" operator
 * (operators/registry.ts), whose per-model weights are these counts: base + Σ nᵢΔᵢ / Σ nᵢ.
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { writeSlm } from '../format/slm.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';

export const FEDERATED_KEYS = Object.freeze({
  /** nᵢ: how many local examples the update was trained on. */
  examples: 'garden.federated.examples',
  /** SHA-256 of the base the delta is taken from. */
  base: 'garden.federated.base',
  /** The update's L2 norm before clipping. */
  norm: 'garden.federated.norm',
  /** The clip norm applied (absent: none). */
  clip: 'garden.federated.clip',
} as const);

const FLOAT = new Set(['F32', 'F16', 'BF16', 'F64']);

export interface FederatedUpdate {
  /** base + factor · (trained − base), in the trained tensors' dtypes. */
  tensors: Tensor[];
  /** ‖trained − base‖₂ over every float tensor, before clipping. */
  norm: number;
  /** min(1, clip / norm), or 1 without a clip. */
  factor: number;
  /** The metadata that carries the update's example count (writeSlm's `extra`). */
  metadata: Record<string, string>;
}

/** The federated update of a run that turned `base` into `trained` on `examples` local examples. */
export function federatedUpdate(
  base: readonly Tensor[],
  trained: readonly Tensor[],
  opts: { examples: number; baseHash: string; clipNorm?: number },
): FederatedUpdate {
  if (!Number.isInteger(opts.examples) || opts.examples < 1) throw new Error(`examples must be a positive integer, got ${opts.examples}`);
  const clip = opts.clipNorm;
  if (clip !== undefined && !(clip > 0 && Number.isFinite(clip))) throw new Error(`the clip norm must be a positive number, got ${clip}`);
  const byName = new Map(base.map((t) => [t.name, t]));
  if (trained.length !== base.length || trained.some((t) => !byName.has(t.name)))
    throw new Error('the trained model and the base have different tensors; an update is taken between two models of one species');
  let sq = 0;
  const deltas = trained.map((t) => {
    const b = byName.get(t.name)!;
    if (b.dtype !== t.dtype || b.shape.join() !== t.shape.join())
      throw new Error(`tensor "${t.name}" is ${t.dtype} [${t.shape}] in the trained model, ${b.dtype} [${b.shape}] in the base`);
    if (!FLOAT.has(t.dtype)) return null;
    const [x, y] = [toFloat32(b), toFloat32(t)];
    const d = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      d[i] = y[i] - x[i];
      sq += d[i] * d[i];
    }
    return { b: x, d };
  });
  const norm = Math.sqrt(sq);
  const factor = clip !== undefined && norm > clip ? clip / norm : 1;
  const tensors = trained.map((t, k) => {
    const dd = deltas[k];
    if (!dd) return t;
    const out = new Float32Array(dd.b.length);
    for (let i = 0; i < out.length; i++) out[i] = dd.b[i] + factor * dd.d[i];
    return fromFloat32(t.name, [...t.shape], out, t.dtype);
  });
  const metadata: Record<string, string> = {
    [FEDERATED_KEYS.examples]: String(opts.examples),
    [FEDERATED_KEYS.base]: opts.baseHash,
    [FEDERATED_KEYS.norm]: String(norm),
    ...(clip !== undefined ? { [FEDERATED_KEYS.clip]: String(clip) } : {}),
  };
  return { tensors, norm, factor, metadata };
}

/** The base an update file is of: its SHA-256, species, and the graph and labels it records (classifiers). */
export interface UpdateBase {
  hash: Sha256Hex;
  species: Sha256Hex;
  graph?: Sha256Hex;
  vocabulary?: readonly string[];
  tensors: readonly Tensor[];
}

/**
 * The federated update of a run as its `.slm` file (the base's species, graph and labels, the
 * update's keys in the metadata): what `garden train --federated-update` writes and the app's
 * "Download federated update" saves, the same bytes for the same run.
 */
export function federatedUpdateFile(
  base: UpdateBase,
  trained: readonly Tensor[],
  opts: { examples: number; clipNorm?: number },
): FederatedUpdate & { bytes: Uint8Array; hash: Sha256Hex } {
  const u = federatedUpdate(base.tensors, trained, {
    examples: opts.examples,
    baseHash: base.hash,
    ...(opts.clipNorm !== undefined ? { clipNorm: opts.clipNorm } : {}),
  });
  const bytes = writeSlm(u.tensors, {
    species: base.species,
    ...(base.graph !== undefined ? { graph: base.graph } : {}),
    ...(base.vocabulary !== undefined ? { vocabulary: [...base.vocabulary] } : {}),
    extra: u.metadata,
  });
  return { ...u, bytes, hash: sha256Hex(bytes) };
}

/**
 * The federated operator's weights (nᵢ) for updates, read from their metadata; refuses an update
 * without a count or taken from another base.
 */
export function federatedWeights(updates: readonly { metadata: Record<string, string> }[], baseHash: string): number[] {
  return updates.map((u, k) => {
    const n = Number(u.metadata[FEDERATED_KEYS.examples]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`update ${k + 1} records no example count (${FEDERATED_KEYS.examples})`);
    const b = u.metadata[FEDERATED_KEYS.base];
    if (b !== baseHash) throw new Error(`update ${k + 1} was taken from base ${String(b).slice(0, 12)}…, not ${baseHash.slice(0, 12)}…`);
    return n;
  });
}

/** Where a federated breed's weights came from (federatedBreedParams). */
export type FederatedWeightSource = 'counts' | 'recipe' | 'default';

/**
 * The federated operator's parameters for a breed over `parents` (base excluded): when the
 * parents are federated updates (they carry FEDERATED_KEYS.examples), the weights are their
 * example counts. A recipe that gives no weights gets the counts; one whose weights equal the
 * counts is taken as it is; one whose weights disagree is refused (the counts are what the
 * clients report; weighing them otherwise is another operator's job, e.g. task_arithmetic).
 * Parents of which none is an update keep the recipe's weights (or the operator's default).
 * Throws one line naming the parent when only some carry a count or one was taken from another base.
 */
export function federatedBreedParams<P extends Readonly<Record<string, unknown>>>(
  params: P,
  parents: readonly { metadata: Readonly<Record<string, string>> }[],
  baseHash: string,
): { params: P; source: FederatedWeightSource; counts?: number[] } {
  const given = params.weights;
  if (!parents.some((p) => p.metadata[FEDERATED_KEYS.examples] !== undefined))
    return { params: { ...params }, source: given === undefined ? 'default' : 'recipe' };
  let counts: number[];
  try {
    counts = federatedWeights(parents as { metadata: Record<string, string> }[], baseHash);
  } catch (e) {
    throw new Error(`federated: ${(e as Error).message} (parents counted from 1); every parent must be an update of this base`);
  }
  if (given === undefined) return { params: { ...params, weights: counts } as P, source: 'counts', counts };
  const w = Array.isArray(given) ? given : [given];
  if (w.length !== counts.length || w.some((x, i) => x !== counts[i]))
    throw new Error(
      `federated: the recipe's weights ${JSON.stringify(given)} disagree with the updates' example counts ${JSON.stringify(counts)} (${FEDERATED_KEYS.examples}); drop "weights" to use the counts`,
    );
  return { params: { ...params }, source: 'recipe', counts };
}
