/**
 * Chat templates: `tokenizer_config.json`'s `chat_template` (a Jinja template, or a list of named
 * ones, "default" taken) rendered by @huggingface/jinja as transformers' apply_chat_template
 * does: `messages`, `add_generation_prompt`, and the special tokens as strings (bos_token,
 * eos_token, unk_token, pad_token). The rendered text already holds the template's special
 * tokens, so it is encoded without adding the post-processor's (add_special_tokens=False).
 */
import { Template } from '@huggingface/jinja';
import { FormatError } from '../format/errors.ts';
import { parseStrictJson } from '../format/safetensors.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const SPECIAL = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;

function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

export interface ChatTemplate {
  render(messages: readonly ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
}

/** The model's chat template, or null when tokenizer_config.json has none. */
export function loadChatTemplate(tokenizerConfig: string | undefined): ChatTemplate | null {
  if (tokenizerConfig === undefined) return null;
  const cfg = parseStrictJson(tokenizerConfig, 'json-keys') as Record<string, unknown>;
  let source = cfg.chat_template;
  if (Array.isArray(source)) source = (source as { name?: unknown; template?: unknown }[]).find((t) => t && t.name === 'default')?.template;
  if (source === undefined || source === null) return null;
  if (typeof source !== 'string')
    throw new FormatError('tokenizer', 'tokenizer_config.json chat_template is neither a string nor a list with a "default" template');
  let template: Template;
  try {
    template = new Template(source);
  } catch (e) {
    throw new FormatError('tokenizer', `tokenizer_config.json chat_template does not parse: ${(e as Error).message}`);
  }
  const tokens: Record<string, string> = {};
  for (const k of SPECIAL) {
    const t = tokenText(cfg[k]);
    if (t !== undefined) tokens[k] = t;
  }
  return {
    render: (messages, opts = {}) =>
      template.render({ messages: messages.map((m) => ({ ...m })), add_generation_prompt: opts.addGenerationPrompt ?? true, ...tokens }),
  };
}

/**
 * The token ids of one user message (after an optional system message) through the template,
 * with the generation prompt, as transformers' apply_chat_template(tokenize=True): the rendered
 * text already holds its special tokens, so none are added.
 */
export function chatPromptIds(
  template: ChatTemplate,
  tokenizer: { encode(text: string, opts?: { addSpecialTokens?: boolean }): number[] },
  user: string,
  system?: string,
): number[] {
  const messages: ChatMessage[] = [
    ...(system !== undefined ? [{ role: 'system' as const, content: system }] : []),
    { role: 'user', content: user },
  ];
  return tokenizer.encode(template.render(messages), { addSpecialTokens: false });
}
