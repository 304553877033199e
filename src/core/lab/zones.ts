/**
 * Trust zones by structure (docs/ARCHITECTURE.md, "Trust zones"). Code of the candidate zone
 * (operators, kernels, candidate models) is handed data, never handles: JSON-shaped values as
 * deep-frozen copies, tensors and suite rows as fresh typed-array copies. Stores of the evaluation, policy, release
 * and audit zones (suites, policy, registry, ledger) are never passed across.
 */
import { deepFreeze, structuredCloneJson } from '../manifest/index.ts';
import type { Tensor } from '../tensor.ts';

export const TRUST_ZONES = Object.freeze({
  candidate: 'operator kernels and candidate tensors; writes only new candidate objects',
  evaluation: 'frozen suites, scoring code, sidecars; suites change only through a ledgered re-baseline',
  policy: 'operator allowlist, thresholds, resource ceilings; changed only through a ledgered policy change',
  release: 'shadow / canary / champion / rollback; written only by the release controller',
  audit: 'the ledger; append only',
} as const);
export type TrustZone = keyof typeof TRUST_ZONES;

/** A deep-frozen copy of JSON-shaped data: what crosses into the candidate zone. */
export function handOff<T>(data: T): T {
  return deepFreeze(structuredCloneJson(data));
}

/** Fresh copies of tensors (names, shapes, bytes): the callee may scribble on them harmlessly. */
export function handOffTensors(tensors: readonly Tensor[]): Tensor[] {
  return tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], data: t.data.slice() }));
}

/** A fresh copy of a batch of suite (or probe) rows for a candidate's forward pass to read. */
export function handOffRows<T extends Uint8Array | Float32Array>(rows: T): T {
  return rows.slice() as T;
}
