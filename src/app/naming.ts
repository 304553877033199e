/** Names that tell two candidates apart: the operator and the parameters it ran with. */
import type { FilteredValue, OperatorDef, ParamSetting, RecipeParams } from '../core/operators/types.ts';

function show(v: ParamSetting | FilteredValue): string {
  if (Array.isArray(v)) return (v as (number | number[] | FilteredValue)[]).map((x) => show(x)).join('/');
  if (typeof v === 'object' && 'perParent' in v) return `(${v.perParent.map((x) => show(x)).join(', ')})`;
  if (typeof v === 'object') return `${v.filter ?? '*'}:${show(v.value)}`;
  if (typeof v === 'number') return String(Number(v.toPrecision(4)));
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return String(v);
}

/** "#3 TIES merge · density 0.2, lambda 1 · seed 1": numbered by creation, then the recipe. */
export function candidateName(number: number, op: Pick<OperatorDef, 'name' | 'params'>, params: RecipeParams, seed: number): string {
  const parts = op.params
    .filter((d) => params[d.name] !== undefined && d.name !== 'trimBits')
    .map((d) => `${d.name} ${show(params[d.name])}`);
  return `#${number} ${op.name}${parts.length ? ` · ${parts.join(', ')}` : ''} · seed ${seed}`;
}

/** Creation order: the starter models first (no time), then by the time each was made. */
export function byCreation<T extends { createdAt?: string; role: string }>(models: readonly T[]): T[] {
  const order = (m: T) => (m.role === 'base' ? 0 : m.createdAt ? 2 : 1);
  return models
    .map((m, i) => ({ m, i }))
    .sort((a, b) => order(a.m) - order(b.m) || (a.m.createdAt ?? '').localeCompare(b.m.createdAt ?? '') || a.i - b.i)
    .map((x) => x.m);
}
