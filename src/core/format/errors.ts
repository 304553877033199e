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
  /** The species recorded in a `.slm` does not match its tensors, graph and vocabulary. */
  'species',
  /** A set of `.slm` shards is incomplete, duplicated or inconsistent. */
  'shards',
  /** A Hugging Face `model.safetensors.index.json` is malformed or disagrees with its shards. */
  'index',
  /** Manifest-like JSON with unknown, missing or prototype-polluting keys. */
  'json-keys',
  /** A Hugging Face model folder names an architecture the garden does not run. */
  'architecture',
  /** A Hugging Face config.json is malformed or disagrees with the tensors. */
  'config',
  /** A Hugging Face model folder has no usable tokenizer.json. */
  'tokenizer',
  /** A header nests JSON deeper than the format needs (checked before it is parsed). */
  'nesting',
  /** A header lists more tensors than the garden reads from one file (checked before it is parsed). */
  'tensor-count',
  /** A tensor's bytes do not hash to the SHA-256 its `.slm` metadata records. */
  'content-hash',
] as const);

export type FormatCheck = (typeof FORMAT_CHECKS)[number];

/** Control characters (newlines included) and line separators become single spaces. */
function oneLine(s: string): string {
  let out = '';
  let space = false;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const control = c < 0x20 || c === 0x7f || c === 0x2028 || c === 0x2029;
    if (control) {
      if (!space) out += ' ';
      space = true;
    } else {
      out += ch;
      space = false;
    }
  }
  return out;
}

/** A refused file. `message` is one line that names the failed check and what was wrong. */
export class FormatError extends Error {
  override name = 'FormatError';
  constructor(
    readonly check: FormatCheck,
    detail: string,
  ) {
    // One line, whatever a file put in a name: control characters become spaces.
    super(`${check} check failed: ${oneLine(detail)}`);
  }
}
