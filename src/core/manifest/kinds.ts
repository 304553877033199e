/**
 * The thirteen manifest kinds of the pipeline (docs/ARCHITECTURE.md), as TypeScript types. The JSON
 * Schemas in manifests/*.schema.json are the source of truth; these types mirror them.
 */
import type { Sha256Hex } from '../hash.ts';
import type { RecipeParams } from '../operators/types.ts';

/** The closed set of manifest kinds, in pipeline order, with the artifact each one is. */
export const MANIFEST_KINDS = Object.freeze({
  source: 'a model, its license, origin and data manifest',
  'compatibility-report': 'tensor-by-tensor verdict for two or more parents',
  'lineage-template': 'parents, operator, parameters, seed, budget and expected species',
  'operator-receipt': 'what ran, on which backend, with input and output hashes',
  'candidate-manifest': 'the candidate model hash, its lineage template and receipt',
  'runtime-smoke': 'the candidate loads and gives finite outputs of the contracted shape',
  'evaluation-sidecar': 'frozen suite, evaluator, metric vector and a checksum binding them',
  'promotion-template': 'which gates passed and which are pending',
  'admission-record': 'an evidence-passed candidate admitted to the pool',
  'ledger-entry': 'one link of the append-only, hash-chained promotion ledger',
  'population-review': 'candidates ranked by objective vectors (fronts, crowding, novelty)',
  'parent-pool-recipe': 'the parents and operator plan chosen for the next cycle',
  'selector-registry': 'per task slot: champion, canary share, shadow, fallback stack',
} as const);

export type ManifestKind = keyof typeof MANIFEST_KINDS;

export const SCHEMA_VERSION = 1 as const;

export function isManifestKind(x: unknown): x is ManifestKind {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(MANIFEST_KINDS, x);
}

export type Direction = 'max' | 'min';
export type Metrics = Record<string, number>;
/** Operator parameters as a recipe gives them (src/core/operators/types.ts RecipeParams). */
export type Params = RecipeParams;
export interface OperatorRef {
  id: string;
  version: string;
}
export interface Ceilings {
  maxBytes?: number;
  maxLatencyMs?: number;
  maxBreedMs?: number;
}

export interface SourceBody {
  name: string;
  model: { hash: Sha256Hex; format: 'slm' | 'safetensors' | 'onnx'; bytes: number };
  species: Sha256Hex;
  license: string;
  origin: { kind: 'starter' | 'trained' | 'imported' | 'bred'; description: string; url?: string };
  data: { description: string; hash?: Sha256Hex; suites?: Sha256Hex[] };
  createdAt?: string;
}

export interface CompatibilityReportBody {
  parents: Sha256Hex[];
  species: Sha256Hex | null;
  compatible: boolean;
  tensors: { name: string; verdict: 'match' | 'missing' | 'shape-mismatch' | 'dtype-mismatch'; shapes?: number[][]; dtypes?: string[] }[];
  reasons: string[];
}

export interface LineageTemplateBody {
  parents: Sha256Hex[];
  base?: Sha256Hex | null;
  operator: OperatorRef;
  params: Params;
  seed: number;
  budget: Ceilings;
  expectedSpecies: Sha256Hex;
  compatibilityReport?: Sha256Hex;
}

export interface OperatorReceiptBody {
  lineage: Sha256Hex;
  operator: OperatorRef;
  backend: { kind: 'cpu' | 'webgpu'; adapter: string; software: boolean };
  inputs: Sha256Hex[];
  output: Sha256Hex;
  tensors: {
    name: string;
    outputHash: Sha256Hex;
    changedFraction: number;
    sparsity: number;
    deltaNorm: number;
    ms: number;
    signConflicts?: number;
    iterations?: number;
    keptFraction?: number[];
    skipped?: string;
    bytes?: number;
  }[];
  ms: number;
  recompute: string;
}

export interface CandidateManifestBody {
  candidate: Sha256Hex;
  species: Sha256Hex;
  lineage: Sha256Hex;
  receipt: Sha256Hex;
  bytes?: number;
  name?: string;
}

export interface RuntimeSmokeBody {
  candidate: Sha256Hex;
  runtime: string;
  probes: number;
  outputShape: number[];
  finite: boolean;
  passed: boolean;
  reasons: string[];
}

export interface EvaluationSidecarBody {
  candidate: string;
  suite: Sha256Hex;
  evaluator: { id: string; version: string };
  metrics: Metrics;
  count?: number;
  /** hashJson({candidate, suite, evaluator, metrics}): binds candidate + suite + scores. */
  checksum: Sha256Hex;
}

export type GateStatus = 'passed' | 'failed' | 'pending';
export interface Gate {
  id: string;
  status: GateStatus;
  evidence?: Sha256Hex;
  detail?: string;
}
export interface PromotionTemplateBody {
  candidate: string;
  slot: string;
  gates: Gate[];
}

export interface AdmissionRecordBody {
  candidate: string;
  slot: string;
  promotionTemplate: Sha256Hex;
  sidecars: Sha256Hex[];
  admittedAt: string;
  reasons?: string[];
}

export const LEDGER_ENTRY_TYPES = Object.freeze([
  'admission',
  'release',
  'rollback',
  're-baseline',
  'policy-change',
  'allele',
  'fitness-evidence',
  'proposal',
  'approval',
  /** A storage decision of the user (archive, restore, delete a model): src/core/lab/ledger.ts storageDraft. */
  'storage',
] as const);
export type LedgerEntryType = (typeof LEDGER_ENTRY_TYPES)[number];
export interface LedgerEntryBody {
  index: number;
  /** Hash of the previous entry; 64 zeros for the first. */
  prev: Sha256Hex;
  type: LedgerEntryType;
  at: string;
  payload: Record<string, unknown>;
}

export interface PopulationMember {
  candidate: string;
  objectives: number[];
  /** 0 = the non-dominated front. */
  front: number;
  /** null: a boundary point of its front (infinite crowding distance). */
  crowding: number | null;
  /** Mean disagreement with the rest of the pool on the probe set, 0..1. */
  novelty: number;
  rank: number;
}
export interface PopulationReviewBody {
  suites?: Sha256Hex[];
  probe?: Sha256Hex | null;
  objectives: { metric: string; direction: Direction }[];
  members: PopulationMember[];
}

export interface PlanStep {
  operator: OperatorRef;
  parents: string[];
  params: Params;
  seed: number;
}
export interface ParentPoolRecipeBody {
  review: Sha256Hex;
  parents: string[];
  plan: PlanStep[];
  reasons?: string[];
}

export interface SlotContract {
  inputLength: number;
  outputLength: number;
  timeoutMs: number;
  /** How a shadow's output is compared with the answer. */
  compare: 'argmax' | 'exact';
}
export interface SelectorRegistryBody {
  slot: string;
  version: number;
  contract: SlotContract;
  champion: string | null;
  canary: { model: string; share: number } | null;
  shadow: string | null;
  fallback: string[];
  note?: string;
}

export interface ManifestBodies {
  source: SourceBody;
  'compatibility-report': CompatibilityReportBody;
  'lineage-template': LineageTemplateBody;
  'operator-receipt': OperatorReceiptBody;
  'candidate-manifest': CandidateManifestBody;
  'runtime-smoke': RuntimeSmokeBody;
  'evaluation-sidecar': EvaluationSidecarBody;
  'promotion-template': PromotionTemplateBody;
  'admission-record': AdmissionRecordBody;
  'ledger-entry': LedgerEntryBody;
  'population-review': PopulationReviewBody;
  'parent-pool-recipe': ParentPoolRecipeBody;
  'selector-registry': SelectorRegistryBody;
}

export type ManifestOf<K extends ManifestKind> = { kind: K; schemaVersion: typeof SCHEMA_VERSION } & ManifestBodies[K];
export type Manifest = { [K in ManifestKind]: ManifestOf<K> }[ManifestKind];

export type SourceManifest = ManifestOf<'source'>;
export type CompatibilityReport = ManifestOf<'compatibility-report'>;
export type LineageTemplate = ManifestOf<'lineage-template'>;
export type OperatorReceipt = ManifestOf<'operator-receipt'>;
export type CandidateManifest = ManifestOf<'candidate-manifest'>;
export type RuntimeSmoke = ManifestOf<'runtime-smoke'>;
export type EvaluationSidecar = ManifestOf<'evaluation-sidecar'>;
export type PromotionTemplate = ManifestOf<'promotion-template'>;
export type AdmissionRecord = ManifestOf<'admission-record'>;
export type LedgerEntry = ManifestOf<'ledger-entry'>;
export type PopulationReview = ManifestOf<'population-review'>;
export type ParentPoolRecipe = ManifestOf<'parent-pool-recipe'>;
export type SelectorRegistry = ManifestOf<'selector-registry'>;

/** The lab policy: not one of the thirteen artifacts, but validated the same way (manifests/policy.schema.json). */
export interface Policy {
  kind: 'policy';
  schemaVersion: typeof SCHEMA_VERSION;
  allowlist: string[];
  primary: { suite: string; metric: string; direction: Direction; margin: number };
  /**
   * No regression beyond `tolerance` against each baseline (champion, no-op); with `limit`, also an
   * absolute bound on the candidate alone: ≥ limit for "max", ≤ limit for "min" (e.g. a safety
   * violation rate ≤ 0, a worst-group accuracy ≥ 0.5), judged even when there is no baseline.
   */
  guardrails: { suite: string; metric: string; direction: Direction; tolerance: number; limit?: number }[];
  ceilings: Ceilings;
  /** Suite name → pinned SHA-256 of the frozen suite file. */
  suites: Record<string, Sha256Hex>;
}

/** A headless lab round file for `garden lab` (manifests/lab-round.schema.json). */
export interface LabRoundFile {
  kind: 'lab-round';
  schemaVersion: typeof SCHEMA_VERSION;
  slot: string;
  catalog: string;
  family?: string;
  champion: string | null;
  parents: string[];
  recipes: { operator: string; parents: string[]; params: Params; seed: number }[];
  /** Policy suite name → catalog suite id. */
  suites: Record<string, string>;
  policy: Policy;
}

/** Every document kind the validators know: the thirteen manifests plus policy and lab-round. */
export const DOCUMENT_KINDS: readonly string[] = Object.freeze([...Object.keys(MANIFEST_KINDS), 'policy', 'lab-round']);
