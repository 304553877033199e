/**
 * Calibration splits: the local rows a data-informed merge (RegMean, Fisher) learns its statistics
 * from. A calibration split is a file in the suite format (src/core/eval/suite.ts: "inputs",
 * "labels", __metadata__) that declares itself one ("suite.split": "calibration"), so a frozen
 * evaluation suite can never be passed in its place by mistake; and its rows must not be rows of
 * any frozen suite of the family: each row's model inputs (stored value × scale, as float32
 * bytes) are hashed and compared with the frozen suites' rows, and an overlap is refused with one
 * line naming the first shared row. A model fitted on the rows it is scored on would make its
 * evaluation meaningless.
 */
import { parseSafetensors, serializeSafetensors } from '../format/safetensors.ts';
import { readSuite, suiteRows, writeSuite, type Suite, type SuiteInfo } from '../eval/suite.ts';
import { sha256Hex } from '../hash.ts';
import type { CalibrationRows } from './statistics.ts';

export const CALIBRATION_SPLIT_KEY = 'suite.split';
export const CALIBRATION_SPLIT = 'calibration';

export class CalibrationRefused extends Error {
  override name = 'CalibrationRefused';
}

/** A calibration split in the suite format, declared as one. */
export function writeCalibration(
  info: SuiteInfo,
  inputs: { dtype: 'U8' | 'F32'; data: Uint8Array | Float32Array; featureSize: number },
  labels: Uint8Array,
): Uint8Array {
  const parsed = parseSafetensors(writeSuite(info, inputs, labels));
  return serializeSafetensors(parsed.tensors, { ...parsed.metadata, [CALIBRATION_SPLIT_KEY]: CALIBRATION_SPLIT });
}

/** Read a calibration split; refuses a file that does not declare itself one (a frozen suite, say). */
export function readCalibration(bytes: Uint8Array, what = 'calibration file'): Suite {
  const suite = readSuite(bytes);
  const split = parseSafetensors(bytes).metadata[CALIBRATION_SPLIT_KEY];
  if (split !== CALIBRATION_SPLIT)
    throw new CalibrationRefused(
      `${what} ("${suite.id}") is not a declared calibration split (${CALIBRATION_SPLIT_KEY} is ${split === undefined ? 'absent' : JSON.stringify(split)}, expected "${CALIBRATION_SPLIT}"); frozen evaluation suites are never calibration data`,
    );
  return suite;
}

/** SHA-256 of each row's model inputs (float32 little-endian bytes of stored value × scale). */
export function rowHashes(suite: Suite): string[] {
  const x = suiteRows(suite, 0, suite.count);
  const F = suite.featureSize;
  const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  return Array.from({ length: suite.count }, (_, r) => sha256Hex(bytes.subarray(r * F * 4, (r + 1) * F * 4)));
}

/** Null when no calibration row is a row of a frozen suite, else the one-line reason naming the first shared row. */
export function calibrationOverlap(calibration: Suite, frozen: readonly Suite[]): string | null {
  const seen = new Map<string, { suite: string; row: number }>();
  for (const s of frozen) {
    if (s.featureSize !== calibration.featureSize) continue;
    rowHashes(s).forEach((h, row) => {
      if (!seen.has(h)) seen.set(h, { suite: s.id, row });
    });
  }
  const mine = rowHashes(calibration);
  const shared = mine.map((h, row) => ({ row, at: seen.get(h) })).filter((x) => x.at);
  if (shared.length === 0) return null;
  const { row, at } = shared[0];
  return `calibration split "${calibration.id}" shares ${shared.length} of ${calibration.count} rows with frozen evaluation suites (first: its row ${row} is row ${at!.row} of "${at!.suite}"); calibration data must not come from a frozen suite`;
}

/** The rows of a checked calibration split, as the statistics take them; throws CalibrationRefused on an overlap. */
export function calibrationRows(calibration: Suite, frozen: readonly Suite[]): CalibrationRows {
  if (frozen.length === 0)
    throw new CalibrationRefused('no frozen suites to check the calibration split against; name the family (its catalog lists them)');
  const reason = calibrationOverlap(calibration, frozen);
  if (reason) throw new CalibrationRefused(reason);
  return {
    inputs: suiteRows(calibration, 0, calibration.count),
    labels: calibration.labels,
    count: calibration.count,
    featureSize: calibration.featureSize,
  };
}
