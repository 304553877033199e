/**
 * Compatibility report between two or more models (artifact #2): same species, or a
 * tensor-by-tensor diff against the first model (missing, extra, shape, dtype). Merge-style
 * operators call requireCompatible and refuse without a passing report.
 */
import { hashJson, type Sha256Hex } from './hash.ts';
import type { DType } from './tensor.ts';

export const COMPAT_REPORT_KIND = 'compatibility-report';
export const COMPAT_REPORT_VERSION = 1;

/** What the report needs of a model: an id (its hash), its species when known, its tensor specs. */
export interface CompatModel {
  id: string;
  species?: Sha256Hex;
  tensors: readonly { name: string; dtype: DType; shape: readonly number[] }[];
}

export interface TensorMismatch {
  name: string;
  expected: string;
  actual: string;
}

export interface ModelDiff {
  /** The model compared with the reference (models[0]). */
  model: string;
  /** Tensors the reference has and this model lacks. */
  missing: string[];
  /** Tensors this model has and the reference lacks. */
  extra: string[];
  shape: TensorMismatch[];
  dtype: TensorMismatch[];
}

export interface CompatReport {
  kind: typeof COMPAT_REPORT_KIND;
  version: typeof COMPAT_REPORT_VERSION;
  /** Model ids in the order given; the first is the reference. */
  models: string[];
  /** Every model's species, in order ('' when unknown). */
  species: string[];
  /** True when every model records the same species; null when some species is unknown. */
  sameSpecies: boolean | null;
  /** Tensors in the reference. */
  tensorCount: number;
  diffs: ModelDiff[];
  /** The verdict: every tensor name, shape and dtype matches, and no two known species differ. */
  compatible: boolean;
  /** One line saying why (the first reason when incompatible). */
  reason: string;
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

export function compatibilityReport(models: readonly CompatModel[]): CompatReport {
  if (models.length < 2) throw new Error(`a compatibility report needs two or more models, got ${models.length}`);
  const ref = models[0];
  const refMap = new Map(ref.tensors.map((t) => [t.name, t]));
  const diffs: ModelDiff[] = [];
  for (const m of models.slice(1)) {
    const map = new Map(m.tensors.map((t) => [t.name, t]));
    const d: ModelDiff = { model: m.id, missing: [], extra: [], shape: [], dtype: [] };
    for (const [name, r] of refMap) {
      const t = map.get(name);
      if (!t) {
        d.missing.push(name);
        continue;
      }
      if (fmtShape(t.shape) !== fmtShape(r.shape)) d.shape.push({ name, expected: fmtShape(r.shape), actual: fmtShape(t.shape) });
      if (t.dtype !== r.dtype) d.dtype.push({ name, expected: r.dtype, actual: t.dtype });
    }
    for (const name of map.keys()) if (!refMap.has(name)) d.extra.push(name);
    d.missing.sort();
    d.extra.sort();
    d.shape.sort((a, b) => (a.name < b.name ? -1 : 1));
    d.dtype.sort((a, b) => (a.name < b.name ? -1 : 1));
    diffs.push(d);
  }
  const species = models.map((m) => m.species ?? '');
  const known = species.filter((s) => s !== '');
  const sameSpecies = known.length === models.length ? known.every((s) => s === known[0]) : null;
  const speciesClash = new Set(known).size > 1;
  let reason = sameSpecies
    ? `all ${models.length} models are species ${known[0].slice(0, 12)}`
    : `all ${models.length} models have the same ${ref.tensors.length} tensor names, shapes and dtypes`;
  let compatible = true;
  for (const d of diffs) {
    const first = d.missing.length
      ? `${d.model} lacks tensor ${JSON.stringify(d.missing[0])}`
      : d.extra.length
        ? `${d.model} has extra tensor ${JSON.stringify(d.extra[0])}`
        : d.shape.length
          ? `${d.model} tensor ${JSON.stringify(d.shape[0].name)} has shape ${d.shape[0].actual}, expected ${d.shape[0].expected}`
          : d.dtype.length
            ? `${d.model} tensor ${JSON.stringify(d.dtype[0].name)} has dtype ${d.dtype[0].actual}, expected ${d.dtype[0].expected}`
            : '';
    if (first) {
      const n = d.missing.length + d.extra.length + d.shape.length + d.dtype.length;
      reason = `${first}${n > 1 ? ` (and ${n - 1} more differences)` : ''}`;
      compatible = false;
      break;
    }
  }
  if (compatible && speciesClash) {
    compatible = false;
    reason = `tensors match but the species differ (graph or vocabulary): ${[...new Set(known)].map((s) => s.slice(0, 12)).join(' vs ')}`;
  }
  return {
    kind: COMPAT_REPORT_KIND,
    version: COMPAT_REPORT_VERSION,
    models: models.map((m) => m.id),
    species,
    sameSpecies,
    tensorCount: ref.tensors.length,
    diffs,
    compatible,
    reason,
  };
}

export class IncompatibleModelsError extends Error {
  override name = 'IncompatibleModelsError';
}

/** For merge-style operators: a passing report, or a one-line refusal naming the first difference. */
export function requireCompatible(report: CompatReport, operator = 'this operator'): CompatReport {
  if (!report.compatible) throw new IncompatibleModelsError(`${operator} refuses incompatible parents: ${report.reason}`);
  return report;
}

/** The report's content address (canonical JSON). */
export function compatReportHash(report: CompatReport): Sha256Hex {
  return hashJson(report);
}

export type TensorVerdict = 'match' | 'missing' | 'shape-mismatch' | 'dtype-mismatch';

/**
 * The report as the body of a `compatibility-report` manifest (artifact #2,
 * manifests/compatibility-report.schema.json): a verdict for every tensor any model has, sorted
 * by name. `models[i].id` must be the model's SHA-256.
 */
export function compatibilityManifestBody(models: readonly CompatModel[]): {
  parents: Sha256Hex[];
  species: Sha256Hex | null;
  compatible: boolean;
  tensors: { name: string; verdict: TensorVerdict }[];
  reasons: string[];
} {
  const report = compatibilityReport(models);
  const verdicts = new Map<string, TensorVerdict>(models[0].tensors.map((t) => [t.name, 'match']));
  for (const d of report.diffs) {
    for (const m of d.dtype) verdicts.set(m.name, 'dtype-mismatch');
    for (const m of d.shape) verdicts.set(m.name, 'shape-mismatch');
    for (const n of [...d.missing, ...d.extra]) verdicts.set(n, 'missing');
  }
  return {
    parents: report.models,
    species: report.sameSpecies ? report.species[0] : null,
    compatible: report.compatible,
    tensors: [...verdicts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, verdict]) => ({ name, verdict })),
    reasons: [report.reason],
  };
}
