/** The closed set of checks a model file can fail; every refusal names one. */
export const FORMAT_CHECKS = Object.freeze([
  'file-length',
  'header-length',
  'header-json',
  'header-keys',
  'dtype',
  'shape',
  'offsets',
  'overlap',
  'coverage',
  'size',
  'metadata',
  'hash',
  'dimension',
  'onnx',
] as const);

export type FormatCheck = (typeof FORMAT_CHECKS)[number];

/** A refused file. `message` is one line that names the failed check and what was wrong. */
export class FormatError extends Error {
  override name = 'FormatError';
  constructor(
    readonly check: FormatCheck,
    detail: string,
  ) {
    super(`${check} check failed: ${detail}`);
  }
}
