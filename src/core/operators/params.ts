/**
 * Parameters: checking a recipe's values against an operator's declared parameters, and layer
 * gradients.
 *
 * GRADIENTS (as in mergekit). A global 'number' parameter may be given as a list of anchor values
 * [v0 … v(m−1)] instead of one number. Each tensor gets the value at its layer position t ∈ [0, 1]:
 *   x = t·(m − 1), i = floor(x), value = v_i + (v_(i+1) − v_i)·(x − i)   (v_(m−1) when i = m − 1)
 * The layer number of a tensor name is the first dot-separated component that is all digits
 * ("model.layers.7.mlp.weight" → 7), else the trailing digits of the first component that ends in
 * digits ("fc2.weight" → 2, "h3.bias" → 3); otherwise the tensor has no layer number.
 * With L distinct layer numbers in the model, sorted, the layer of rank r has t = r / (L − 1)
 * (t = 1 when L = 1, as mergekit's plan_slice). A tensor without a layer number (embeddings, the
 * final norm, the head) has t = 0 wherever it sits, as mergekit plans its pre- and post-weights
 * (ConfigReader t=0): they get v0. Checked against mergekit itself by
 * scripts/reference/mergekit_parity.py (the `slerp (t gradient)` row).
 *
 * FILTERS (mergekit's `filter:` lists, config.py evaluate_setting). A number parameter may be a
 * list of entries [{ filter: "self_attn", value: x }, …, { value: y }]: for each tensor the first
 * entry whose `filter` is a substring of the tensor's name, or that has no filter or "*", gives
 * the value (a number, or a gradient as above). When no entry matches, the parameter falls back
 * as in mergekit: to its default (mergekit: to the next level's setting, then the default); a
 * parameter without a default is refused naming the tensor.
 *
 * PER PARENT (mergekit's per-model `parameters:`). A parameter declared `perParent` (the
 * task-arithmetic family's density, drop, gamma, epsilon) may be { perParent: [s0 … s(P−1)] }, one
 * setting per non-base parent, each a number, a gradient or a filter list; a per-model parameter
 * (weights) may list a gradient or a filter list for a parent in place of its number. A plain
 * list of numbers stays a layer gradient for a global parameter, as in mergekit: per-parent
 * values are always tagged. Each tensor's kernel sees plain numbers: one number, or one number
 * per parent (`numAt`).
 */
import type { FilteredValue, OperatorDef, ParamDef, ParamSetting, ParamValues, PerParentValue, RecipeParams } from './types.ts';

type ParamValue = ParamSetting;
type Scalar = number | number[] | FilteredValue[];

/** A mergekit filter list: a non-empty list of { filter?, value } entries. */
export function isFilterList(v: unknown): v is FilteredValue[] {
  return Array.isArray(v) && v.length > 0 && v.every((e) => e !== null && typeof e === 'object' && !Array.isArray(e) && 'value' in e);
}

/** A per-parent setting: { perParent: [...] }. */
export function isPerParent(v: unknown): v is PerParentValue {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Array.isArray((v as PerParentValue).perParent);
}

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function checkNumber(op: OperatorDef, def: ParamDef, v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${op.id}: ${what} must be a finite number, got ${describe(v)}`);
  if (def.type === 'integer' && !Number.isInteger(v)) throw new Error(`${op.id}: ${what} must be an integer, got ${v}`);
  if (def.min !== undefined && v < def.min) throw new Error(`${op.id}: ${what} is ${v}, below the minimum ${def.min}`);
  if (def.max !== undefined && v > def.max) throw new Error(`${op.id}: ${what} is ${v}, above the maximum ${def.max}`);
  return v;
}

/**
 * Check user parameters against the operator's declarations and fill defaults. `parents` counts
 * the parents without the base. Per-model parameters left out stay absent (the operator's own
 * default, e.g. equal weights). Throws a one-line error naming the parameter.
 */
export function resolveParams(op: OperatorDef, given: ParamValues, parents: number): ParamValues;
export function resolveParams(op: OperatorDef, given: RecipeParams, parents: number): RecipeParams;
export function resolveParams(op: OperatorDef, given: RecipeParams, parents: number): RecipeParams {
  const valid = op.params.map((p) => p.name);
  for (const k of Object.keys(given)) {
    if (!valid.includes(k)) throw new Error(`${op.id}: unknown parameter "${k}"; valid: ${valid.join(', ') || '(none)'}`);
  }
  const out: RecipeParams = {};
  for (const def of op.params) {
    const v: ParamValue | undefined = given[def.name] ?? def.default;
    if (v === undefined) {
      if (def.scope === 'global') throw new Error(`${op.id}: parameter "${def.name}" is required`);
      continue;
    }
    out[def.name] = checkValue(op, def, v, parents);
  }
  return out;
}

function checkValue(op: OperatorDef, def: ParamDef, v: ParamValue, parents: number): ParamValue {
  const what = `parameter "${def.name}"`;
  if (def.scope === 'perModel') {
    if (!Array.isArray(v) || isFilterList(v)) throw new Error(`${op.id}: ${what} takes one number per parent, got ${describe(v)}`);
    if (v.length !== parents) throw new Error(`${op.id}: ${what} has ${v.length} values for ${parents} parents`);
    return (v as Scalar[]).map((x, i) => checkScalar(op, def, x, `${what}[${i}]`)) as ParamValue;
  }
  if (isPerParent(v)) {
    if (!def.perParent) throw new Error(`${op.id}: ${what} takes one value for all parents, not one per parent`);
    if (v.perParent.length !== parents)
      throw new Error(`${op.id}: ${what} has ${v.perParent.length} per-parent values for ${parents} parents`);
    return { perParent: v.perParent.map((x, i) => checkScalar(op, def, x, `${what} of parent ${i}`)) };
  }
  switch (def.type) {
    case 'number':
    case 'integer':
    case 'weights':
      return checkScalar(op, def, v, what);
    case 'boolean':
      if (typeof v !== 'boolean') throw new Error(`${op.id}: ${what} must be true or false, got ${describe(v)}`);
      return v;
    case 'enum': {
      const options = def.options ?? [];
      if (typeof v !== 'string' || !options.includes(v))
        throw new Error(`${op.id}: ${what} is ${describe(v)}; valid: ${options.join(', ')}`);
      return v;
    }
  }
}

/** A number, a gradient (number parameters only) or a filter list of either. */
function checkScalar(op: OperatorDef, def: ParamDef, v: unknown, what: string): Scalar {
  if (isFilterList(v)) {
    return v.map((e, i) => {
      const at = `${what} entry ${i}`;
      for (const k of Object.keys(e))
        if (k !== 'filter' && k !== 'value') throw new Error(`${op.id}: ${at} has "${k}"; an entry has "filter" and "value"`);
      if (e.filter !== undefined && (typeof e.filter !== 'string' || e.filter.length === 0))
        throw new Error(`${op.id}: ${at}: "filter" must be a non-empty tensor-name substring, got ${describe(e.filter)}`);
      if (isFilterList(e.value)) throw new Error(`${op.id}: ${at}: a filter's value is a number or a gradient, not another filter list`);
      const value = checkGradient(op, def, e.value, `${at} value`);
      return e.filter === undefined ? { value } : { filter: e.filter, value };
    });
  }
  return checkGradient(op, def, v, what);
}

function checkGradient(op: OperatorDef, def: ParamDef, v: unknown, what: string): number | number[] {
  if (Array.isArray(v)) {
    if (def.type === 'integer') throw new Error(`${op.id}: ${what} takes one number, not a layer gradient`);
    if (v.length === 0) throw new Error(`${op.id}: ${what} gradient is an empty list`);
    return v.map((x, i) => checkNumber(op, def, x, `${what}[${i}]`));
  }
  return checkNumber(op, def, v, what);
}

/** The layer number of a tensor name (see the header), or null. */
export function layerNumber(name: string): number | null {
  const parts = name.split('.');
  for (const p of parts) if (/^\d+$/.test(p)) return Number(p);
  for (const p of parts) {
    const m = /^[^\d]+(\d+)$/.exec(p);
    if (m) return Number(m[1]);
  }
  return null;
}

/** The layer position t ∈ [0, 1] of every name, in model order (see the header). */
export function layerPositions(names: readonly string[]): number[] {
  const numbers = names.map(layerNumber);
  const distinct = [...new Set(numbers.filter((x): x is number => x !== null))].sort((a, b) => a - b);
  const rank = new Map(distinct.map((x, r) => [x, r]));
  const span = distinct.length - 1;
  return numbers.map((x) => (x === null ? 0 : span > 0 ? rank.get(x)! / span : 1));
}

/** The value of a gradient (anchor list) at position t ∈ [0, 1]. */
export function gradientValue(anchors: readonly number[], t: number): number {
  const m = anchors.length;
  if (m === 0) throw new Error('gradient has no values');
  if (m === 1) return anchors[0];
  const x = Math.max(0, Math.min(1, t)) * (m - 1);
  const i = Math.floor(x);
  if (i >= m - 1) return anchors[m - 1];
  return anchors[i] + (anchors[i + 1] - anchors[i]) * (x - i);
}

/**
 * One setting's value for the tensor `name` at layer position t (mergekit's evaluate_setting), or
 * undefined where a filter list has no entry for the tensor.
 */
export function settingValue(v: Scalar, t: number, name: string): number | undefined {
  if (typeof v === 'number') return v;
  if (isFilterList(v)) {
    const e = v.find((c) => c.filter === undefined || c.filter === '*' || (name !== '' && name.includes(c.filter)));
    return e === undefined ? undefined : settingValue(e.value, t, name);
  }
  return gradientValue(v, t);
}

/**
 * The parameters one tensor (`name`, at layer position t) sees: every gradient and filter list
 * replaced by its value, per-parent settings by one number per parent. A filter list that has no
 * entry for the tensor gives the parameter's default (refused without one).
 */
export function paramsAt(op: OperatorDef, params: RecipeParams, t: number, name = ''): ParamValues {
  const out = { ...params } as ParamValues;
  for (const d of op.params) {
    const v = params[d.name];
    if (v === undefined || typeof v === 'boolean' || typeof v === 'string') continue;
    const one = (x: Scalar, what: string): number => {
      const r = settingValue(x, t, name);
      if (r !== undefined) return r;
      if (typeof d.default === 'number') return d.default;
      throw new Error(`${op.id}: ${what} has no filter entry for tensor "${name}" and no default; add an entry { "value": … }`);
    };
    if (isPerParent(v)) out[d.name] = v.perParent.map((x, i) => one(x, `parameter "${d.name}" of parent ${i}`));
    else if (d.scope === 'perModel') {
      if (Array.isArray(v) && v.some((x) => typeof x !== 'number'))
        out[d.name] = (v as Scalar[]).map((x, i) => one(x, `parameter "${d.name}"[${i}]`));
    } else if (Array.isArray(v)) out[d.name] = one(v as Scalar, `parameter "${d.name}"`);
  }
  return out;
}

/** A numeric parameter after resolution (gradients already applied). */
export function num(params: ParamValues, name: string, fallback?: number): number {
  const v = params[name] ?? fallback;
  if (typeof v !== 'number') throw new Error(`parameter "${name}" must be a number here, got ${describe(v)}`);
  return v;
}

/**
 * A per-parent-capable numeric parameter after resolution, for parent i: its one number, or the
 * i-th of its per-parent numbers.
 */
export function numAt(params: ParamValues, name: string, parent: number, fallback?: number): number {
  const v = params[name];
  if (Array.isArray(v)) {
    if (typeof v[parent] !== 'number') throw new Error(`parameter "${name}" has no value for parent ${parent}`);
    return v[parent];
  }
  return num(params, name, fallback);
}

/** Whether a resolved parameter holds one value per parent that is not the same for all. */
export function variesByParent(params: ParamValues, name: string): boolean {
  const v = params[name];
  return Array.isArray(v) && v.some((x) => x !== v[0]);
}

/** Per-parent weights, or `fallback` for each parent when absent. */
export function weightsOf(params: ParamValues, name: string, parents: number, fallback = 1): number[] {
  const v = params[name];
  if (v === undefined) return new Array<number>(parents).fill(fallback);
  if (!Array.isArray(v) || v.length !== parents) throw new Error(`parameter "${name}" needs ${parents} values, got ${describe(v)}`);
  return v;
}
