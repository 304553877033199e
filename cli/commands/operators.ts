/**
 * garden operators [--json]: every operator of the registry with its mergekit name, parents,
 * parameters, ranges and defaults — generated from the one table (src/core/operators/registry.ts).
 */
import { parseArgs } from 'node:util';
import type { Command } from '../command.ts';
import { listOperators } from '../../src/core/operators/registry.ts';
import type { OperatorDef, ParamDef } from '../../src/core/operators/types.ts';

const usage = `garden operators [--json]

Lists every operator: its id, mergekit's name for it (accepted in recipes too), how many parents
it takes (+ base when it needs one), and each parameter with its type, scope, range and default.
--json prints the same as one JSON array.`;

function range(p: ParamDef): string {
  if (p.options) return p.options.join(' | ');
  if (p.min !== undefined || p.max !== undefined) return `${p.min ?? '−∞'} … ${p.max ?? '∞'}`;
  return '';
}

/** The registry as plain data, for `--json` and for `garden breed --help`. */
export function describeOperators(): object[] {
  return listOperators().map((op: OperatorDef) => ({
    id: op.id,
    version: op.version,
    mergekit: op.mergekit ?? null,
    name: op.name,
    parents: op.parents,
    needsBase: op.needsBase,
    params: op.params.map((p) => ({
      name: p.name,
      type: p.type,
      scope: p.scope,
      perParent: p.perParent === true,
      default: p.default ?? null,
      min: p.min ?? null,
      max: p.max ?? null,
      options: p.options ?? null,
      description: p.description,
    })),
  }));
}

/** The registry as text: one block per operator. */
export function operatorsText(): string {
  const lines: string[] = [];
  for (const op of listOperators()) {
    const parents = `${op.parents.min}–${op.parents.max} parents${op.needsBase ? ' + base' : ''}`;
    lines.push(`${op.id}${op.mergekit ? ` (mergekit: ${op.mergekit})` : ''} — ${op.name}, ${parents}`);
    for (const p of op.params) {
      const facts = [range(p), p.default === undefined ? '' : `default ${p.default}`].filter(Boolean).join('; ');
      lines.push(
        `  ${p.name.padEnd(13)} ${`${p.type}${p.scope === 'perModel' ? ' per parent' : p.perParent ? ' or per parent' : ''}`.padEnd(22)} ${facts}`.trimEnd(),
      );
    }
  }
  return lines.join('\n');
}

const command: Command = {
  usage,
  async run(args) {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true, allowPositionals: false });
    console.log(values.json ? JSON.stringify(describeOperators(), null, 2) : operatorsText());
    return 0;
  },
};

export default command;
