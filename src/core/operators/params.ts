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
 * (t = 0 when L = 1). A tensor without a layer number takes the t of the nearest tensor before it
 * in model order that has one, or 0 when there is none (embeddings before the first layer get v0,
 * a head after the last layer gets the last value).
 */
import type { OperatorDef, ParamDef, ParamValues } from './types.ts';

type ParamValue = ParamValues[string];

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
export function resolveParams(op: OperatorDef, given: ParamValues, parents: number): ParamValues {
  const valid = op.params.map((p) => p.name);
  for (const k of Object.keys(given)) {
    if (!valid.includes(k)) throw new Error(`${op.id}: unknown parameter "${k}"; valid: ${valid.join(', ') || '(none)'}`);
  }
  const out: ParamValues = {};
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
    if (!Array.isArray(v)) throw new Error(`${op.id}: ${what} takes one number per parent, got ${describe(v)}`);
    if (v.length !== parents) throw new Error(`${op.id}: ${what} has ${v.length} values for ${parents} parents`);
    return v.map((x, i) => checkNumber(op, def, x, `${what}[${i}]`));
  }
  switch (def.type) {
    case 'number':
      if (Array.isArray(v)) {
        if (v.length === 0) throw new Error(`${op.id}: ${what} gradient is an empty list`);
        return v.map((x, i) => checkNumber(op, def, x, `${what}[${i}]`));
      }
      return checkNumber(op, def, v, what);
    case 'integer':
    case 'weights':
      return checkNumber(op, def, v, what);
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

/** True when some global number parameter is a layer gradient. */
export function hasGradient(op: OperatorDef, params: ParamValues): boolean {
  return op.params.some((d) => d.scope === 'global' && Array.isArray(params[d.name]));
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
  let last = 0;
  return numbers.map((x) => {
    if (x !== null) last = span > 0 ? rank.get(x)! / span : 0;
    return last;
  });
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

/** The parameters one tensor sees: every global gradient replaced by its value at position t. */
export function paramsAt(op: OperatorDef, params: ParamValues, t: number): ParamValues {
  if (!hasGradient(op, params)) return params;
  const out: ParamValues = { ...params };
  for (const d of op.params) {
    const v = params[d.name];
    if (d.scope === 'global' && Array.isArray(v)) out[d.name] = gradientValue(v, t);
  }
  return out;
}

/** A numeric parameter after resolution (gradients already applied). */
export function num(params: ParamValues, name: string, fallback?: number): number {
  const v = params[name] ?? fallback;
  if (typeof v !== 'number') throw new Error(`parameter "${name}" must be a number here, got ${describe(v)}`);
  return v;
}

/** Per-parent weights, or `fallback` for each parent when absent. */
export function weightsOf(params: ParamValues, name: string, parents: number, fallback = 1): number[] {
  const v = params[name];
  if (v === undefined) return new Array<number>(parents).fill(fallback);
  if (!Array.isArray(v) || v.length !== parents) throw new Error(`parameter "${name}" needs ${parents} values, got ${describe(v)}`);
  return v;
}
