/**
 * A model card (README.md) with Hugging Face front matter for an exported model: base models,
 * merge method, tags, license, plus the garden's hashes so the card binds the exact weights.
 */
import { stringify } from 'yaml';
import type { TensorSpec } from './safetensors.ts';
import { byteLength } from '../tensor.ts';

export interface ModelCardInput {
  name: string;
  /** Hugging Face ids or garden hashes of the parents. */
  baseModels?: string[];
  /** e.g. "ties", "blend", "dare" — the operator that made the model. */
  mergeMethod?: string;
  license?: string;
  tags?: string[];
  species?: string;
  /** SHA-256 of each exported file. */
  files?: { name: string; sha256: string }[];
  tensors?: readonly TensorSpec[];
  description?: string;
}

export function modelCard(c: ModelCardInput): string {
  const tags = [...new Set(['slm-garden', 'safetensors', ...(c.mergeMethod ? ['merge', c.mergeMethod] : []), ...(c.tags ?? [])])];
  const front: Record<string, unknown> = { license: c.license ?? 'other', library_name: 'safetensors', tags };
  if (c.baseModels?.length) front.base_model = c.baseModels;
  if (c.mergeMethod) front.merge_method = c.mergeMethod;
  if (c.species) front.slm_species = c.species;
  const lines = ['---', stringify(front, { lineWidth: 0 }).trimEnd(), '---', '', `# ${c.name}`, ''];
  lines.push(c.description ?? `Exported from SLM Garden${c.mergeMethod ? `, made with the \`${c.mergeMethod}\` operator` : ''}.`, '');
  if (c.baseModels?.length) lines.push('## Base models', '', ...c.baseModels.map((b) => `- ${b}`), '');
  if (c.mergeMethod) lines.push('## Merge method', '', `\`${c.mergeMethod}\``, '');
  if (c.files?.length)
    lines.push('## Files', '', '| file | SHA-256 |', '|---|---|', ...c.files.map((f) => `| ${f.name} | \`${f.sha256}\` |`), '');
  if (c.tensors?.length) {
    const bytes = c.tensors.reduce((s, t) => s + byteLength(t.dtype, t.shape), 0);
    lines.push('## Tensors', '', `${c.tensors.length} tensors, ${bytes} bytes.`, '', '| name | dtype | shape |', '|---|---|---|');
    for (const t of c.tensors.slice(0, 200)) lines.push(`| ${t.name} | ${t.dtype} | [${t.shape.join(', ')}] |`);
    if (c.tensors.length > 200) lines.push(`| … ${c.tensors.length - 200} more | | |`);
    lines.push('');
  }
  if (c.species)
    lines.push(
      '## Species',
      '',
      `\`${c.species}\` (SHA-256 of tensor names, shapes and dtypes, the weight-free graph and the vocabulary).`,
      '',
    );
  return lines.join('\n');
}
