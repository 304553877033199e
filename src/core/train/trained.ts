/**
 * A trained candidate: base + a trained adapter merged into its weights, as a `.slm` of the base's
 * species. It was bred by no merge operator, so its recipe (`garden.recipe`, as candidate.ts
 * writes one for every bred candidate) names the pseudo-operator TRAIN_OPERATOR ("lora-merge")
 * with what decides its bytes: the adapter's weights and config (SHA-256 of the PEFT files), the
 * training spec's hash and its seed, and the base as the one parent. The lineage key hashes that
 * recipe, as for a breed. Admission's allowlist gate (lab/records.ts) checks this operator id like
 * any other: a policy admits trained candidates only when its allowlist names "lora-merge".
 */
import { hashJson, sha256Hex, type Sha256Hex } from '../hash.ts';
import { carriedMetadata } from '../format/hf-keys.ts';
import { speciesId, speciesSignature, writeSlm } from '../format/slm.ts';
import { lineageKey, recipeMetadata, type CandidateFile } from '../operators/candidate.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { makeManifest, manifestHash } from '../manifest/index.ts';
import type { CandidateManifest, LineageTemplate, OperatorReceipt } from '../manifest/kinds.ts';
import type { PeftFiles } from './peft.ts';

/** The operator a trained candidate records: not a merge of parents but an adapter merged into its base. */
export const TRAIN_OPERATOR = Object.freeze({ id: 'lora-merge', version: '1.0.0' });

/** What a trained candidate's recipe records as its parameters. */
export interface TrainedParams {
  /** SHA-256 of adapter_model.safetensors. */
  adapter: Sha256Hex;
  /** SHA-256 of adapter_config.json. */
  adapterConfig: Sha256Hex;
  /** hashJson of the parsed training spec (spec.ts TrainSpec). */
  spec: Sha256Hex;
}

export interface TrainedBase {
  /** SHA-256 of the base's bytes (or, for a Hugging Face folder, of its tensors by name). */
  hash: Sha256Hex;
  species: Sha256Hex;
  /** The species graph and labels when the base records them (classifiers): the candidate binds them too. */
  graph?: Sha256Hex;
  vocabulary?: readonly string[];
  /** The base's own metadata: a causal LM's config and tokenizer (hf-keys.ts) pass to the candidate. */
  metadata?: Readonly<Record<string, string>>;
}

/** The recipe parameters of an adapter's PEFT files trained from `spec`. */
export function trainedParams(files: PeftFiles, spec: unknown): TrainedParams {
  return { adapter: sha256Hex(files.weights), adapterConfig: sha256Hex(new TextEncoder().encode(files.config)), spec: hashJson(spec) };
}

/**
 * The candidate file of base + merged adapter. `merged` must have the base's tensor names, shapes
 * and dtypes (mergeAdapter's output): the candidate keeps the base's species, checked here when
 * the base records its graph and labels.
 */
export function trainedCandidateSlm(base: TrainedBase, merged: readonly Tensor[], params: TrainedParams, seed: number): CandidateFile {
  const result = { operator: { ...TRAIN_OPERATOR }, params: { ...params }, seed };
  if (base.graph !== undefined && base.vocabulary !== undefined) {
    const s = speciesId(speciesSignature(merged, base.graph, [...base.vocabulary]));
    if (s !== base.species)
      throw new Error(`the merged model's species ${s.slice(0, 12)}… is not the base's ${base.species.slice(0, 12)}…`);
  }
  const key = lineageKey(result, [base]);
  const bytes = writeSlm(merged, {
    species: base.species,
    ...(base.graph !== undefined ? { graph: base.graph } : {}),
    ...(base.vocabulary !== undefined ? { vocabulary: [...base.vocabulary] } : {}),
    extra: {
      ...carriedMetadata(base.metadata),
      'garden.operator': `${TRAIN_OPERATOR.id}@${TRAIN_OPERATOR.version}`,
      'garden.lineage': key,
      'garden.recipe': recipeMetadata(result, [base]),
    },
  });
  return { bytes, hash: sha256Hex(bytes), species: base.species, lineageKey: key };
}

/** What a training run reports for its candidate's receipt. */
export interface TrainedRun {
  /** The engine in words (the training manifest's `engine`): WebGPU's kernels on an adapter, or the CPU tape. */
  engine: string;
  kind: 'cpu' | 'webgpu';
  ms: number;
  /** The steps run (fewer than the spec's after an early stop). */
  steps: number;
}

/**
 * The documents of a trained candidate, as recordBreed (lab/records.ts) writes a breed's: the
 * lineage template (the base as the one parent and as the base, operator lora-merge with the
 * adapter's and spec's hashes), the operator receipt (the training engine as its backend, the
 * base in, the candidate out, every tensor the merge changed with its delta from the base) and
 * the candidate manifest that binds them.
 */
export function trainedRecords(
  file: CandidateFile & { bytes: Uint8Array },
  baseHash: Sha256Hex,
  base: readonly Tensor[],
  merged: readonly Tensor[],
  params: TrainedParams,
  seed: number,
  run: TrainedRun,
): { lineage: LineageTemplate; receipt: OperatorReceipt; candidate: CandidateManifest } {
  const operator = { ...TRAIN_OPERATOR };
  const lineage = makeManifest('lineage-template', {
    parents: [baseHash],
    base: baseHash,
    operator,
    params: { ...params },
    seed,
    budget: {},
    expectedSpecies: file.species,
  });
  const before = new Map(base.map((t) => [t.name, t]));
  const tensors = merged.flatMap((t) => {
    const b = before.get(t.name);
    if (!b || sha256Hex(b.data) === sha256Hex(t.data)) return [];
    const x = toFloat32(t);
    const y = toFloat32(b);
    let changed = 0;
    let zeros = 0;
    let sq = 0;
    for (let i = 0; i < x.length; i++) {
      const d = x[i] - y[i];
      if (d !== 0) changed++;
      if (x[i] === 0) zeros++;
      sq += d * d;
    }
    return [
      {
        name: t.name,
        outputHash: sha256Hex(t.data),
        changedFraction: changed / x.length,
        sparsity: zeros / x.length,
        deltaNorm: Math.sqrt(sq),
        ms: 0,
      },
    ];
  });
  const receipt = makeManifest('operator-receipt', {
    lineage: manifestHash(lineage),
    operator,
    backend: { kind: run.kind, adapter: run.engine, software: false },
    inputs: [baseHash],
    output: file.hash,
    tensors,
    ms: run.ms,
    recompute: `garden train with the spec of hash ${params.spec} (seed ${seed}, ${run.steps} steps) on the same data, then the adapter (weights ${params.adapter}) merged into the base ${baseHash}: lineage key ${file.lineageKey}; the data never leaves its garden`,
  });
  const candidate = makeManifest('candidate-manifest', {
    candidate: file.hash,
    species: file.species,
    lineage: manifestHash(lineage),
    receipt: manifestHash(receipt),
    bytes: file.bytes.length,
  });
  return { lineage, receipt, candidate };
}
