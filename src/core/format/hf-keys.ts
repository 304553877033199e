/**
 * `.slm` metadata keys that carry a Hugging Face folder's JSON files verbatim (config.json and the
 * tokenizer files). They belong to the species (its architecture hash binds them), so a candidate
 * bred from such parents carries its base's (carriedMetadata).
 */
export const HF_KEY_PREFIX = 'hf.';

export const HF_KEYS = Object.freeze({
  config: 'hf.config',
  tokenizer: 'hf.tokenizer',
  tokenizerConfig: 'hf.tokenizer_config',
  generationConfig: 'hf.generation_config',
} as const);

/** The metadata a candidate inherits from its first parent: the species' own files. */
export function carriedMetadata(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) if (k.startsWith(HF_KEY_PREFIX)) out[k] = v;
  return out;
}
