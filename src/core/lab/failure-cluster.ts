/**
 * Failure clusters drive a round. Per slot, the inputs a user marked wrong (with the right answer)
 * and the requests where the whole fallback stack failed collect as the slot's failure cluster.
 * It is private data: manifests carry its digest (counts and a SHA-256 of its contents), never the
 * contents. A lab round can start from it (clusterRound):
 *
 *   1. split the cluster into a selection half and a held-out half, by a hash of each example's
 *      request id (so the split does not depend on the order examples arrived in);
 *   2. rank the approved parents by accuracy on the selection half and take the best ones;
 *   3. breed the round's recipes from them, and evaluate every model on the frozen suites plus the
 *      held-out half (pinned as suite `cluster` in the round's policy);
 *   4. return the round's result as a proposal: it never promotes on its own (the caller applies
 *      it with applyRound only after the user agrees).
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import type { Policy } from '../manifest/kinds.ts';
import { writeSuite } from '../eval/suite.ts';
import { runLabRound, type LabRoundDeps, type LabRoundResult } from './round.ts';
import { concatBytes } from '../bytes.ts';

export const CLUSTER_SOURCES = Object.freeze({
  'user-marked': 'the user marked the answer wrong and gave the right one',
  'stack-failed': 'every model of the fallback stack failed the request',
} as const);
export type ClusterSource = keyof typeof CLUSTER_SOURCES;

export interface ClusterExample {
  requestId: string;
  input: Float32Array;
  /** The right answer (class index). */
  label: number;
  source: ClusterSource;
}

/** What a manifest may say about a cluster: counts and a hash, never the contents. */
export interface ClusterDigest {
  slot: string;
  count: number;
  bySource: Record<ClusterSource, number>;
  /** SHA-256 over every example (request id, label, source, input bytes), in request-id order. */
  contents: Sha256Hex;
}

export class FailureClusterError extends Error {
  override name = 'FailureClusterError';
}

const enc = new TextEncoder();

export class FailureCluster {
  readonly #examples = new Map<string, ClusterExample>();

  constructor(
    readonly slot: string,
    readonly featureSize: number,
    readonly classes: number,
  ) {}

  /** Add an example (a copy of its input); a request id counts once, the latest answer wins. */
  add(e: ClusterExample): void {
    if (!(e.input instanceof Float32Array) || e.input.length !== this.featureSize)
      throw new FailureClusterError(`cluster of "${this.slot}": an input holds ${this.featureSize} values, got ${e.input?.length}`);
    if (!Number.isInteger(e.label) || e.label < 0 || e.label >= this.classes)
      throw new FailureClusterError(`cluster of "${this.slot}": label ${e.label} is outside 0..${this.classes - 1}`);
    if (!Object.prototype.hasOwnProperty.call(CLUSTER_SOURCES, e.source))
      throw new FailureClusterError(`cluster source "${e.source}" is unknown; valid: ${Object.keys(CLUSTER_SOURCES).join(', ')}`);
    for (const v of e.input)
      if (!Number.isFinite(v)) throw new FailureClusterError(`cluster of "${this.slot}": request ${e.requestId} has a non-finite input`);
    this.#examples.set(e.requestId, { requestId: e.requestId, input: Float32Array.from(e.input), label: e.label, source: e.source });
  }

  get size(): number {
    return this.#examples.size;
  }

  #sorted(): ClusterExample[] {
    return [...this.#examples.values()].sort((a, b) => (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0));
  }

  digest(): ClusterDigest {
    const bySource = { 'user-marked': 0, 'stack-failed': 0 } as Record<ClusterSource, number>;
    const parts: Uint8Array[] = [];
    for (const e of this.#sorted()) {
      bySource[e.source]++;
      parts.push(
        enc.encode(`${JSON.stringify([e.requestId, e.label, e.source])}\n`),
        new Uint8Array(e.input.buffer, e.input.byteOffset, e.input.byteLength),
      );
    }
    return { slot: this.slot, count: this.size, bySource, contents: sha256Hex(concatBytes(parts)) };
  }

  /** Selection and held-out halves: an example is held out when the first byte of SHA-256(slot, request id) is odd. */
  split(): { select: ClusterExample[]; heldOut: ClusterExample[] } {
    const select: ClusterExample[] = [];
    const heldOut: ClusterExample[] = [];
    for (const e of this.#sorted()) {
      const odd = parseInt(sha256Hex(enc.encode(`${this.slot}\n${e.requestId}`)).slice(0, 2), 16) % 2 === 1;
      (odd ? heldOut : select).push(e);
    }
    return { select, heldOut };
  }

  /** A half as suite bytes (the evaluation zone's format), to be put in the evaluation store under its hash. */
  suite(half: 'select' | 'heldOut'): { bytes: Uint8Array; hash: Sha256Hex; count: number } {
    const rows = this.split()[half];
    if (!rows.length)
      throw new FailureClusterError(
        `the ${half === 'select' ? 'selection' : 'held-out'} half of the cluster of "${this.slot}" is empty (${this.size} examples)`,
      );
    const data = new Float32Array(rows.length * this.featureSize);
    rows.forEach((r, i) => data.set(r.input, i * this.featureSize));
    const bytes = writeSuite(
      {
        id: `${this.slot}-cluster-${half}`,
        name: `failure cluster of ${this.slot} (${half})`,
        family: this.slot,
        task: 'classify',
        perturbation: 'none',
        description: `private: ${rows.length} examples the user marked wrong or the stack failed`,
        scale: 1,
        classes: this.classes,
      },
      { dtype: 'F32', data, featureSize: this.featureSize },
      Uint8Array.from(rows.map((r) => r.label)),
    );
    return { bytes, hash: sha256Hex(bytes), count: rows.length };
  }
}

export interface ClusterRoundInput {
  policy: Policy;
  approved: readonly string[];
  champion: string | null;
  /** How many of the best parents on the selection half to breed from. */
  parentCount: number;
  /** Recipes without parents: each is bred from the chosen parents, best first. */
  recipes: readonly { operator: string; params: LabRoundResult['candidates'][number]['recipe']['params']; seed: number }[];
  bytes?: Readonly<Record<string, number>>;
}

export interface ClusterRoundResult {
  digest: ClusterDigest;
  /** Accuracy of each approved parent on the selection half, best first. */
  ranking: { model: string; accuracy: number }[];
  parents: string[];
  /** Held-out half: its hash, pinned in the round's policy as suite `cluster`. */
  heldOut: { hash: Sha256Hex; count: number };
  round: LabRoundResult;
  /** Always true: the lab proposes; applyRound is the caller's, after the user agrees. */
  proposal: true;
}

/**
 * A lab round started from a failure cluster. `deps.evaluate` must find both halves by their
 * hashes (put `cluster.suite('select')` and `cluster.suite('heldOut')` in its store first).
 */
export async function clusterRound(cluster: FailureCluster, input: ClusterRoundInput, deps: LabRoundDeps): Promise<ClusterRoundResult> {
  if (!(input.parentCount >= 1 && Number.isInteger(input.parentCount)))
    throw new FailureClusterError(`parentCount must be a whole number ≥ 1, got ${input.parentCount}`);
  const select = cluster.suite('select');
  const held = cluster.suite('heldOut');
  if ('cluster' in input.policy.suites) throw new FailureClusterError('the policy already pins a suite named "cluster"');
  const ranking: { model: string; accuracy: number }[] = [];
  for (const model of input.approved) {
    const m = await deps.evaluate(model, { name: 'cluster-select', hash: select.hash });
    ranking.push({ model, accuracy: m.accuracy });
  }
  ranking.sort((a, b) => b.accuracy - a.accuracy || (a.model < b.model ? -1 : 1));
  const parents = ranking.slice(0, input.parentCount).map((r) => r.model);
  const policy: Policy = { ...input.policy, suites: { ...input.policy.suites, cluster: held.hash } };
  const round = await runLabRound(
    {
      slot: cluster.slot,
      policy,
      approved: input.approved,
      parents,
      champion: input.champion,
      recipes: input.recipes.map((r) => ({ ...r, parents: [...parents] })),
      bytes: input.bytes,
    },
    deps,
  );
  return { digest: cluster.digest(), ranking, parents, heldOut: { hash: held.hash, count: held.count }, round, proposal: true };
}
