/**
 * The JSON Schemas (manifests/*.schema.json), imported as data. Only the validator generator and
 * tests need them: the app validates with the precompiled module validators.generated.ts, which
 * needs no `eval` (the app's Content-Security-Policy forbids it) and no schema files at runtime.
 */
import defs from '../../../manifests/defs.schema.json';
import source from '../../../manifests/source.schema.json';
import compatibilityReport from '../../../manifests/compatibility-report.schema.json';
import lineageTemplate from '../../../manifests/lineage-template.schema.json';
import operatorReceipt from '../../../manifests/operator-receipt.schema.json';
import candidateManifest from '../../../manifests/candidate-manifest.schema.json';
import runtimeSmoke from '../../../manifests/runtime-smoke.schema.json';
import evaluationSidecar from '../../../manifests/evaluation-sidecar.schema.json';
import promotionTemplate from '../../../manifests/promotion-template.schema.json';
import admissionRecord from '../../../manifests/admission-record.schema.json';
import ledgerEntry from '../../../manifests/ledger-entry.schema.json';
import populationReview from '../../../manifests/population-review.schema.json';
import parentPoolRecipe from '../../../manifests/parent-pool-recipe.schema.json';
import selectorRegistry from '../../../manifests/selector-registry.schema.json';
import policy from '../../../manifests/policy.schema.json';
import labRound from '../../../manifests/lab-round.schema.json';

/** Shared definitions, referenced by every kind's schema. */
export const DEFS_SCHEMA: object = defs;

/** Document kind → its schema. Keys are exactly DOCUMENT_KINDS. */
export const SCHEMAS: Readonly<Record<string, object>> = Object.freeze({
  source,
  'compatibility-report': compatibilityReport,
  'lineage-template': lineageTemplate,
  'operator-receipt': operatorReceipt,
  'candidate-manifest': candidateManifest,
  'runtime-smoke': runtimeSmoke,
  'evaluation-sidecar': evaluationSidecar,
  'promotion-template': promotionTemplate,
  'admission-record': admissionRecord,
  'ledger-entry': ledgerEntry,
  'population-review': populationReview,
  'parent-pool-recipe': parentPoolRecipe,
  'selector-registry': selectorRegistry,
  policy,
  'lab-round': labRound,
});
