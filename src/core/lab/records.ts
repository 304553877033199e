/**
 * The documents a breed and an admission leave behind, built in one place for the app
 * (src/app/garden.ts), the CLI (`garden breed`, `garden lab`) and the lab round (round.ts):
 *   - recordBreed: the compatibility report it was bred under, the lineage template, the operator
 *     receipt and the candidate manifest (artifacts 2–5 of docs/ARCHITECTURE.md);
 *   - promotionTemplate and admissionRecord: the gates a candidate passed or waits for, in
 *     PROMOTION_GATES order, and the record that admits it (artifacts 8 and 9).
 * Pure functions of what happened: the callers store them, ledger them (admitToShadow) and show them.
 */
import type { Sha256Hex } from '../hash.ts';
import { compatibilityManifestBody, type CompatModel } from '../compat.ts';
import type {
  AdmissionRecord,
  CandidateManifest,
  Ceilings,
  CompatibilityReport,
  Gate,
  LineageTemplate,
  OperatorReceipt,
  Params,
  Policy,
  PromotionTemplate,
  RuntimeSmoke,
} from '../manifest/kinds.ts';
import { makeManifest, manifestHash } from '../manifest/index.ts';
import type { BreedResult } from '../operators/breed.ts';
import type { CandidateFile } from '../operators/candidate.ts';
import { getOperator } from '../operators/registry.ts';
import { allowlistDetail, isAllowed } from './policy.ts';
import { RELEASE_STAGES } from './release.ts';
import type { Check } from './viability.ts';

/** The compatibility report of two or more parents (artifact 2); null for a single parent, which needs none. */
export function parentCompatibility(parents: readonly CompatModel[]): CompatibilityReport | null {
  return parents.length > 1 ? makeManifest('compatibility-report', compatibilityManifestBody(parents)) : null;
}

export interface BreedRecordInput {
  result: BreedResult;
  /** The file candidateSlm wrote for `result`: its bytes, or only their count when it was streamed to disk or a store. */
  file: Pick<CandidateFile, 'hash' | 'species' | 'lineageKey'> & ({ bytes: Uint8Array } | { size: number });
  /** The parents' .slm hashes, base first (as the breed took them). */
  parents: readonly Sha256Hex[];
  /** The parameters as asked, for the receipt's recompute line (default: the resolved ones). */
  requested?: Params;
  /** The resource ceilings the breed ran under (policy's, when there is one). */
  budget?: Ceilings;
  /** The parents' compatibility report (parentCompatibility), bound by the lineage template. */
  compatibility?: CompatibilityReport | null;
}

export interface BreedRecords {
  lineage: LineageTemplate;
  receipt: OperatorReceipt;
  candidate: CandidateManifest;
  /** Every document of the breed, in pipeline order: the compatibility report (when there is one), lineage, receipt, candidate. */
  manifests: (CompatibilityReport | LineageTemplate | OperatorReceipt | CandidateManifest)[];
}

/** The lineage template, operator receipt and candidate manifest of one breed. */
export function recordBreed(input: BreedRecordInput): BreedRecords {
  const { result, file, parents, compatibility } = input;
  const operator = { id: result.operator.id, version: result.operator.version };
  const lineage = makeManifest('lineage-template', {
    parents: [...parents],
    base: getOperator(operator.id).needsBase ? parents[0] : null,
    operator,
    params: result.params as Params,
    seed: result.seed,
    budget: input.budget ?? {},
    expectedSpecies: file.species,
    ...(compatibility ? { compatibilityReport: manifestHash(compatibility) } : {}),
  });
  const params = input.requested ?? (result.params as Params);
  const receipt = makeManifest('operator-receipt', {
    lineage: manifestHash(lineage),
    operator,
    backend: result.backend,
    inputs: [...parents],
    output: file.hash,
    tensors: result.stats,
    ms: result.ms,
    recompute: `garden breed with a recipe of operator ${operator.id}, params ${JSON.stringify(params)}, seed ${result.seed}, parents (base first) ${parents.join(', ')}: lineage key ${file.lineageKey}`,
  });
  const candidate = makeManifest('candidate-manifest', {
    candidate: file.hash,
    species: file.species,
    lineage: manifestHash(lineage),
    receipt: manifestHash(receipt),
    bytes: 'size' in file ? file.size : file.bytes.length,
  });
  return { lineage, receipt, candidate, manifests: [...(compatibility ? [compatibility] : []), lineage, receipt, candidate] };
}

/**
 * The gates of every promotion template, in the order it lists them: the gates decided before
 * admission, then the release stages (decided after it, by the release controller).
 */
export const PROMOTION_GATES = Object.freeze(['allowlist', 'evaluation', 'viability', 'runtime-smoke', ...RELEASE_STAGES] as const);
export type PromotionGate = (typeof PROMOTION_GATES)[number];

/** What a runtime smoke left: its manifest, or (for a candidate whose id is not a hash) its verdict alone. */
export type SmokeEvidence = RuntimeSmoke | { passed: boolean; reasons: string[] };

export interface AdmissionEvidence {
  /** The candidate's .slm hash (or the round's stable id). */
  candidate: string;
  slot: string;
  /** The operator that bred it, checked against the policy's allowlist. */
  operator: string;
  policy: Policy;
  /** The runtime smoke; absent leaves the gate pending. */
  smoke?: SmokeEvidence;
  /** Policy suite name → hash of the candidate's evaluation sidecar on that suite. */
  sidecars: Readonly<Record<string, Sha256Hex>>;
  /** The viability verdict's checks; `viable` says whether it passed. */
  viability: { viable: boolean; checks: readonly Check[] };
}

function smokeGate(s: SmokeEvidence | undefined): Gate {
  if (!s) return { id: 'runtime-smoke', status: 'pending' };
  const evidence = 'kind' in s ? { evidence: manifestHash(s) } : {};
  return {
    id: 'runtime-smoke',
    status: s.passed ? 'passed' : 'failed',
    ...evidence,
    ...(s.reasons.length ? { detail: s.reasons.join('; ') } : {}),
  };
}

function evaluationGate(e: AdmissionEvidence): Gate {
  const pinned = Object.keys(e.policy.suites);
  const missing = pinned.filter((n) => !e.sidecars[n]);
  const primary = e.sidecars[e.policy.primary.suite];
  const evidence = primary ? { evidence: primary } : {};
  if (missing.length) return { id: 'evaluation', status: 'failed', ...evidence, detail: `no evaluation sidecar on ${missing.join(', ')}` };
  return { id: 'evaluation', status: 'passed', ...evidence, detail: `evaluated on ${pinned.join(', ')}` };
}

/** The promotion template (artifact 8): every gate of PROMOTION_GATES, passed, failed or pending. */
export function promotionTemplate(e: AdmissionEvidence): PromotionTemplate {
  const allowed = isAllowed(e.policy, e.operator);
  const gates: Record<PromotionGate, Gate> = {
    allowlist: { id: 'allowlist', status: allowed ? 'passed' : 'failed', detail: allowlistDetail(e.policy, e.operator) },
    evaluation: evaluationGate(e),
    viability: {
      id: 'viability',
      status: e.viability.viable ? 'passed' : 'failed',
      detail: e.viability.checks
        .filter((c) => c.kind === 'primary')
        .map((c) => c.text)
        .join('; '),
    },
    'runtime-smoke': smokeGate(e.smoke),
    shadow: { id: 'shadow', status: 'pending' },
    canary: { id: 'canary', status: 'pending' },
    champion: { id: 'champion', status: 'pending' },
  };
  return makeManifest('promotion-template', { candidate: e.candidate, slot: e.slot, gates: PROMOTION_GATES.map((g) => gates[g]) });
}

/** The admission record (artifact 9) that binds a promotion template and the candidate's sidecars. */
export function admissionRecord(
  template: PromotionTemplate,
  r: { sidecars: readonly Sha256Hex[]; admittedAt: string; reasons: readonly string[] },
): AdmissionRecord {
  return makeManifest('admission-record', {
    candidate: template.candidate,
    slot: template.slot,
    promotionTemplate: manifestHash(template),
    sidecars: [...r.sidecars],
    admittedAt: r.admittedAt,
    reasons: [...r.reasons],
  });
}

/** Both admission documents of a candidate, as one admission records them: the template, and the record that binds it. */
export function admissionDocuments(
  e: AdmissionEvidence,
  r: { admittedAt: string; reasons: readonly string[] },
): { template: PromotionTemplate; admission: AdmissionRecord } {
  const template = promotionTemplate(e);
  return { template, admission: admissionRecord(template, { sidecars: Object.values(e.sidecars), ...r }) };
}
