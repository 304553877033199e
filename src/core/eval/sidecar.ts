/**
 * The body of an evaluation sidecar (manifests/evaluation-sidecar.schema.json, without kind and
 * schemaVersion, which makeManifest adds): the candidate hash, the frozen suite hash, the
 * evaluator id and version, the metric vector, and a checksum binding the four.
 */
import { hashJson, type Sha256Hex } from '../hash.ts';
import type { EvaluationResult } from './types.ts';

export interface SidecarBody {
  candidate: Sha256Hex;
  suite: Sha256Hex;
  evaluator: { id: string; version: string };
  /** Numbers only (the schema's metric map). */
  metrics: Record<string, number>;
  count: number;
  /** SHA-256 of canonical JSON of {candidate, suite, evaluator, metrics}. */
  checksum: Sha256Hex;
}

/** The numeric metric vector of a result (null entries, such as perplexity of a classifier, are left out). */
export function metricMap(result: EvaluationResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(result.metrics)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

/** What a sidecar's checksum binds: the model, the frozen suite, the evaluator and its metric vector. */
export interface SidecarBound {
  candidate: string;
  suite: Sha256Hex;
  evaluator: { id: string; version: string };
  metrics: Record<string, number>;
}

/** The bound parts with the checksum that binds them. */
export function bindSidecar<B extends SidecarBound>(bound: B): B & { checksum: Sha256Hex } {
  return {
    ...bound,
    checksum: hashJson({ candidate: bound.candidate, suite: bound.suite, evaluator: bound.evaluator, metrics: bound.metrics }),
  };
}

export function sidecarBody(candidate: Sha256Hex, result: EvaluationResult): SidecarBody {
  return {
    ...bindSidecar({ candidate, suite: result.suite.hash, evaluator: { ...result.evaluator }, metrics: metricMap(result) }),
    count: result.metrics.count,
  };
}

/** True when the checksum still binds the candidate, suite, evaluator and metrics. */
export function sidecarChecksumOk(body: SidecarBody): boolean {
  return bindSidecar(body).checksum === body.checksum;
}
