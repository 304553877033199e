/**
 * mergekit YAML both ways: a recipe (manifests/recipe.schema.json) from a mergekit merge
 * configuration (mergekit/config.py `MergeConfiguration`: merge_method, base_model, models with
 * per-model `parameters`, global `parameters`, dtype) and back, for every method that maps
 * (docs/SHARING.md has the table). Method names come from the registry's `mergekit` fields;
 * parameter names are mergekit's in camelCase (docs/OPERATORS.md).
 *
 * Per-model `density`, `gamma`, `epsilon` (and DARE's density as the garden's drop) become the
 * garden's { perParent: […] } where the models differ, one value where they agree; per-model
 * `weight` is the garden's `weights` (a gradient or filter list for a model where it has one).
 * `filter:` lists map to the garden's filter lists, entry for entry; a model's own filter list
 * that may not match is followed by the global setting's entries (mergekit falls back to it).
 * `slices:` are read for passthrough (one source per slice: each slice a parent, its
 * `layer_range` the parent's `layerRange`, `scale` from the source, the slice or the global
 * parameters, joined as mergekit falls back) and written back the same way.
 * What the garden cannot represent is refused with one line naming the parameter: a per-model
 * value of a parameter the garden takes once, `slices` of other methods, a LoRA `model+adapter` reference, a
 * compute dtype other than float32. What mergekit's
 * config cannot hold (the seed, the models' hashes, the output) rides in a `# garden: {...}`
 * comment that mergekit ignores, so garden → YAML → garden keeps the recipe.
 */
import { parseDocument, stringify } from 'yaml';
import { getOperator, isOperatorId, MERGEKIT_NAMES, OPERATORS, type OperatorId } from '../operators/registry.ts';
import { isPerParent, resolveParams } from '../operators/params.ts';
import { validateRecipe, type ModelRef, type Recipe } from '../operators/recipe.ts';
import type { FilteredValue, OperatorDef, ParamSetting, RecipeParams } from '../operators/types.ts';

export class MergekitError extends Error {
  override name = 'MergekitError';
}

const fail = (msg: string): never => {
  throw new MergekitError(msg);
};

/** Per-model mergekit parameters that are one global value in the garden, with mergekit's defaults. */
const GLOBAL_IN_GARDEN: Readonly<Record<string, number>> = Object.freeze({ density: 1, gamma: 0.01, epsilon: 0.15 });
/** Parameters that change nothing in the result (int8_mask: mergekit's mask storage). */
const NO_EFFECT = Object.freeze(['int8_mask']);
/** Top-level keys read; the rest of MergeConfiguration is refused by name. */
const TOP_KEYS = Object.freeze(['merge_method', 'base_model', 'models', 'parameters', 'dtype', 'out_dtype']);
/** Methods whose mergekit config lists the base among `models` (exactly two models, or model_stock's "at least 3"). */
const BASE_IN_MODELS: readonly OperatorId[] = Object.freeze(['slerp', 'nearswap', 'arcee-fusion', 'model-stock']);
const COMMENT_KEY = 'garden:';

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** mergekit's method name for a garden operator, or null when it has none. */
export function mergekitMethod(id: string): string | null {
  const op = getOperator(id) as OperatorDef;
  if (op.mergekit) return op.mergekit;
  const stem = op.id.endsWith('-base') ? op.id.slice(0, -5) : '';
  return isOperatorId(stem) ? ((OPERATORS[stem] as OperatorDef).mergekit ?? null) : null;
}

/** The garden operator for a mergekit method: nuslerp and multislerp take a second id with a base. */
export function gardenOperator(method: string, hasBase: boolean): OperatorId {
  if (!Object.prototype.hasOwnProperty.call(MERGEKIT_NAMES, method)) {
    fail(`merge_method ${JSON.stringify(method.slice(0, 60))} has no garden operator; mapped: ${Object.keys(MERGEKIT_NAMES).join(', ')}`);
  }
  const id = MERGEKIT_NAMES[method];
  const withBase = `${id}-base`;
  if (hasBase && !(OPERATORS[id] as OperatorDef).needsBase && isOperatorId(withBase)) return withBase;
  return id;
}

/**
 * The drop probability ↔ density (DARE's keep fraction): the shortest decimal within float64
 * rounding of 1 − x (1 − 0.7 is 0.30000000000000004; written 0.3), so drop 0.7 ↔ density 0.3
 * both ways.
 */
function complement(x: number): number {
  for (let p = 1; p <= 17; p++) {
    const y = Number((1 - x).toPrecision(p));
    if (Math.abs(1 - y - x) <= 2 * Number.EPSILON) return y;
  }
  return 1 - x;
}

type Setting = number | boolean | string | number[] | FilteredValue[];

/** A mergekit ParameterSetting the garden can hold: a scalar, a numeric gradient or a filter list of either. */
function setting(v: unknown, what: string): Setting {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number')) return v as number[];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) {
    return v.map((x: Record<string, unknown>, i) => {
      for (const k of Object.keys(x))
        if (k !== 'filter' && k !== 'value') fail(`parameter ${what} entry ${i}: "${k}" is not a filter entry's key (filter, value)`);
      if (x.filter !== undefined && x.filter !== null && typeof x.filter !== 'string')
        fail(`parameter ${what} entry ${i}: filter must be a string`);
      const value = setting(x.value, `${what} entry ${i}`);
      if (typeof value !== 'number' && !(Array.isArray(value) && value.every((y) => typeof y === 'number')))
        fail(`parameter ${what} entry ${i}: the value must be a number or a list of numbers`);
      return typeof x.filter === 'string' ? { filter: x.filter, value: value as number | number[] } : { value: value as number | number[] };
    });
  }
  return fail(`parameter ${what}: ${JSON.stringify(v)?.slice(0, 60)} is not a number, boolean, string, list of numbers or filter list`);
}

/** Every number of a setting through fn (DARE's density ↔ drop), its shape kept. */
function mapNumbers(v: Setting, fn: (x: number) => number): Setting {
  if (typeof v === 'number') return fn(v);
  if (!Array.isArray(v)) return v;
  return (v as (number | FilteredValue)[]).map((x) =>
    typeof x === 'number' ? fn(x) : { ...x, value: mapNumbers(x.value, fn) as number | number[] },
  ) as Setting;
}

/** Whether a setting gives a value for every tensor (a filter list only when it has a catch-all entry). */
function total(v: Setting): boolean {
  return (
    !Array.isArray(v) ||
    v.every((x) => typeof x === 'number') ||
    (v as FilteredValue[]).some((e) => e.filter === undefined || e.filter === '*')
  );
}

/** mergekit's fallback from a model's own setting to the global one, as one garden setting. */
function withFallback(own: Setting, global: Setting | undefined): Setting {
  if (global === undefined || total(own)) return own;
  const rest: FilteredValue[] =
    Array.isArray(global) && !global.every((x) => typeof x === 'number')
      ? (global as FilteredValue[])
      : [{ value: global as number | number[] }];
  return [...(own as FilteredValue[]), ...rest];
}

function modelPath(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0)
    return fail(`${what}: "model" must be a path (a .slm, a safetensors file or a Hugging Face folder)`);
  if (v.includes('+'))
    return fail(`${what}: ${v.slice(0, 80)} names a LoRA ("model+adapter"), which cannot be represented; merge the adapter first`);
  return v;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) return fail(`${what} must be a mapping`);
  return v as Record<string, unknown>;
}

interface GardenComment {
  seed?: number;
  description?: string;
  output?: Recipe['output'];
  /** Model path → sha256 of its .slm, where the recipe had one. */
  hashes?: Record<string, string>;
}

function readComment(text: string): GardenComment {
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith(`# ${COMMENT_KEY}`)) continue;
    try {
      const v = JSON.parse(t.slice(COMMENT_KEY.length + 2)) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as GardenComment;
    } catch {
      return fail('the "# garden:" comment is not one line of JSON');
    }
  }
  return {};
}

/** A recipe from a mergekit YAML config; throws one line naming what cannot be represented. */
export function recipeFromMergekit(text: string): Recipe {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) fail(`not YAML: ${doc.errors[0].message.split('\n')[0]}`);
  const cfg = record(doc.toJS({ maxAliasCount: 100 }) as unknown, 'the config');
  const garden = readComment(text);
  const passthrough = cfg.merge_method === 'passthrough';
  if (cfg.slices !== undefined && !passthrough)
    fail('slices: layer ranges are read for merge_method passthrough only; list the models under "models:"');
  for (const k of Object.keys(cfg))
    if (!TOP_KEYS.includes(k) && !(passthrough && k === 'slices')) fail(`${k}: cannot be represented in a garden recipe`);
  for (const k of ['dtype', 'out_dtype']) {
    if (cfg[k] !== undefined && cfg[k] !== 'float32')
      fail(`${k} ${String(cfg[k])}: the garden computes in float32 and writes the parents' dtype (give float32 or leave it out)`);
  }
  if (typeof cfg.merge_method !== 'string') fail('merge_method is missing');
  if (passthrough) {
    const p = passthroughFromMergekit(cfg);
    return finishRecipe(garden, 'passthrough', p.params, p.parents, undefined);
  }
  const base = cfg.base_model === undefined || cfg.base_model === null ? undefined : modelPath(cfg.base_model, 'base_model');
  const id = gardenOperator(cfg.merge_method as string, base !== undefined);
  const op = OPERATORS[id] as OperatorDef;
  const method = cfg.merge_method as string;
  if (!Array.isArray(cfg.models) || cfg.models.length === 0) fail('models: a list of "- model: PATH" entries is needed');
  const entries = (cfg.models as unknown[]).map((m, i) => {
    const e = record(m, `models[${i}]`);
    for (const k of Object.keys(e)) if (k !== 'model' && k !== 'parameters') fail(`models[${i}].${k}: cannot be represented`);
    return { path: modelPath(e.model, `models[${i}]`), params: record(e.parameters, `models[${i}].parameters`) };
  });
  if (op.needsBase && base === undefined) fail(`${method} needs a base_model`);
  if (!op.needsBase && base !== undefined && id !== 'slerp') fail(`base_model: ${method} takes none`);
  // The base may be listed among the models too; its parameters do not count.
  const others = entries.filter((e) => e.path !== base);
  let parentsPaths = others.map((e) => e.path);
  let basePath = base;
  if (id === 'slerp') {
    // mergekit: t = 0 is the base_model; the garden: t = 0 is the first parent.
    if (base === undefined) fail('slerp needs a base_model (t = 0 is the base)');
    if (others.length !== 1) fail(`slerp takes the base_model and one other model, got ${others.length} others`);
    parentsPaths = [base as string, others[0].path];
    basePath = undefined;
  }
  const globals = record(cfg.parameters, 'parameters');
  const defs = new Map(op.params.map((d) => [d.name, d]));
  const params: RecipeParams = {};

  // Per-model parameters (a global value applies to every model that gives none).
  const perModelKeys = new Set(others.flatMap((e) => Object.keys(e.params)));
  for (const k of Object.keys(globals)) if (k === 'weight' || k in GLOBAL_IN_GARDEN) perModelKeys.add(k);
  for (const k of perModelKeys) {
    if (NO_EFFECT.includes(k)) continue;
    const global = globals[k] !== undefined ? setting(globals[k], k) : undefined;
    const values = others.map((e, i) =>
      e.params[k] !== undefined ? withFallback(setting(e.params[k], `${k} (models[${i}])`), global) : global,
    );
    if (k === 'weight') {
      if (!defs.has('weights')) fail(`parameter weight: ${method} takes no per-model weight here`);
      if (values.some((v) => v === undefined)) fail('parameter weight: given for some models and not for others');
      const weights = values.map((v, i) =>
        typeof v === 'number' || (Array.isArray(v) && v.length > 0)
          ? (v as number | number[] | FilteredValue[])
          : fail(`parameter weight (models[${i}]): ${String(v)} is not a number`),
      );
      // 1 each is the garden's default: left out, as a recipe without weights says it.
      if (weights.some((w) => w !== 1)) params.weights = weights as ParamSetting;
      continue;
    }
    const dflt = GLOBAL_IN_GARDEN[k];
    const gardenName = k === 'density' && defs.has('drop') ? 'drop' : k;
    const def = defs.get(gardenName);
    if (dflt !== undefined && def) {
      const filled = values.map((v) => (gardenName === 'drop' ? mapNumbers(v ?? dflt, complement) : (v ?? dflt)));
      const key = (v: Setting) => JSON.stringify(v);
      if (new Set(filled.map(key)).size === 1) params[gardenName] = filled[0];
      else if (def.perParent) params[gardenName] = { perParent: filled as (number | number[] | FilteredValue[])[] };
      else
        fail(
          `parameter ${k}: different values per model (${filled.map(key).join(', ')}) cannot be represented; the garden takes one ${k} for all`,
        );
      continue;
    }
    if (k === 'density' && values.every((v) => v === undefined || v === 1)) continue; // mergekit ignores density without a sparsifier
    fail(`parameter ${k}: ${method} ${k in GLOBAL_IN_GARDEN ? 'does not use it' : 'has no such per-model parameter in the garden'}`);
  }
  // mergekit's defaults where the garden's differ: nothing dropped unless the config says so.
  if (defs.has('density') && params.density === undefined) params.density = 1;
  if (defs.has('drop') && params.drop === undefined) params.drop = 0;

  for (const [k, raw] of Object.entries(globals)) {
    if (perModelKeys.has(k) || NO_EFFECT.includes(k)) continue;
    const v = setting(raw, k);
    if (k === 'rescale') {
      if (typeof v !== 'boolean') fail(`parameter rescale: ${String(v)} is not true or false`);
      if (defs.has('rescale')) params.rescale = v ? 'l1' : 'none';
      continue; // without a sparsifier mergekit's rescale changes nothing
    }
    const name = camel(k);
    const d = defs.get(name);
    if (!d || d.scope !== 'global' || name === 'drop') fail(`parameter ${k}: ${method} has no such parameter in the garden`);
    params[name] = v;
  }

  return finishRecipe(garden, id, params, parentsPaths, basePath);
}

/** The recipe of a read config: the models' hashes, seed, description and output from the "# garden:" comment; checked. */
function finishRecipe(
  garden: GardenComment,
  id: OperatorId,
  params: RecipeParams,
  parentsPaths: readonly string[],
  basePath: string | undefined,
): Recipe {
  const hashes = garden.hashes ?? {};
  const ref = (path: string): ModelRef => (typeof hashes[path] === 'string' ? { path, hash: hashes[path] as ModelRef['hash'] } : { path });
  const recipe: Recipe = {
    kind: 'recipe',
    schemaVersion: 1,
    ...(typeof garden.description === 'string' ? { description: garden.description } : {}),
    operator: id,
    params,
    seed: typeof garden.seed === 'number' ? garden.seed : 0,
    parents: parentsPaths.map(ref),
    ...(basePath !== undefined ? { base: ref(basePath) } : {}),
    output: garden.output && typeof garden.output === 'object' ? garden.output : {},
  };
  try {
    return validateRecipe(recipe);
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** A mergekit YAML config from a recipe; throws one line naming what mergekit cannot run. */
export function recipeToMergekit(input: Recipe): string {
  const r = validateRecipe(input);
  const op = getOperator(r.operator) as OperatorDef;
  const method =
    mergekitMethod(op.id) ??
    fail(`operator ${op.id} has no mergekit method; mapped: ${Object.keys(MERGEKIT_NAMES).join(', ')}, nuslerp-base, multislerp-base`);
  const params = resolveParams(op, r.params, r.parents.length);
  const path = (m: ModelRef, what: string) => m.path ?? fail(`${what} is given only by hash; mergekit needs a path`);
  const parents = r.parents.map((p, i) => path(p, `parent ${i}`));
  if (op.id === 'passthrough') return withHeader(r, op, method, passthroughToMergekit(params, parents));
  let base = r.base ? path(r.base, 'base') : undefined;
  let others = parents;
  if (op.id === 'slerp') {
    base = parents[0];
    others = [parents[1]];
  }
  // mergekit requires a weight wherever the method takes one; the garden's default is 1 each.
  const perModel = others.map((): Record<string, Setting> => (op.params.some((d) => d.name === 'weights') ? { weight: 1 } : {}));
  const globals: Record<string, Setting> = {};
  // A per-parent setting goes to each model's parameters; one value to every model.
  const each = (k: string, v: ParamSetting, fn: (x: Setting) => Setting = (x) => x) =>
    perModel.forEach((m, i) => (m[k] = fn(typeof v === 'object' && 'perParent' in v ? (v.perParent[i] as Setting) : (v as Setting))));
  for (const [k, v] of Object.entries(params)) {
    if (k === 'weights') {
      (v as (number | number[] | FilteredValue[])[]).forEach((w, i) => (perModel[i].weight = w));
    } else if (k === 'drop') {
      each('density', v, (x) => mapNumbers(x, complement));
    } else if (k in GLOBAL_IN_GARDEN && op.id !== 'ram' && op.id !== 'ramplus-tl') {
      each(k, v);
    } else if (k === 'rescale') {
      if (v === 'inverse')
        fail('parameter rescale: "inverse" (1/kept fraction) has no mergekit setting; mergekit rescales to the L1 norm (rescale "l1")');
      globals.rescale = v === 'l1';
    } else if (k === 'trimScope') {
      if (v !== 'tensor')
        fail(`parameter trimScope: "${String(v)}" (the TIES paper's model-wide top-k) has no mergekit setting; mergekit trims per tensor`);
    } else {
      globals[snake(k)] = v as Setting;
    }
  }
  const models: { model: string; parameters?: Record<string, Setting> }[] = [];
  if (base !== undefined && BASE_IN_MODELS.includes(op.id as OperatorId)) models.push({ model: base });
  others.forEach((m, i) => models.push({ model: m, ...(Object.keys(perModel[i]).length ? { parameters: perModel[i] } : {}) }));
  const cfg: Record<string, unknown> = {
    merge_method: method,
    ...(base !== undefined ? { base_model: base } : {}),
    models,
    ...(Object.keys(globals).length ? { parameters: globals } : {}),
    dtype: 'float32',
  };
  return withHeader(r, op, method, cfg);
}

/** The YAML text of a config, with the "# garden:" comment that carries what mergekit's config cannot. */
function withHeader(r: Recipe, op: OperatorDef, method: string, cfg: Record<string, unknown>): string {
  const hashes: Record<string, string> = {};
  for (const m of [...r.parents, ...(r.base ? [r.base] : [])]) if (m.path && m.hash) hashes[m.path] = m.hash;
  const comment: GardenComment = {
    seed: r.seed,
    ...(r.description !== undefined ? { description: r.description } : {}),
    output: r.output,
    ...(Object.keys(hashes).length ? { hashes } : {}),
  };
  const header = [
    `# mergekit config written by SLM Garden from a recipe of operator ${op.id} (mergekit "${method}")`,
    `# ${COMMENT_KEY} ${JSON.stringify(comment)}`,
  ].join('\n');
  return `${header}\n\n${stringify(cfg)}`;
}

/**
 * passthrough from mergekit: `slices:` (one source each; a slice's models become the parents in
 * slice order, the same model as often as it is sliced, its `layer_range` the parent's
 * `layerRange`) or `models:` with one model. `scale` may sit on a source, a slice or the global
 * `parameters`; mergekit reads them in that order, each falling back to the next where its filter
 * list has no entry, so each slice's setting is the three joined (withFallback).
 */
function passthroughFromMergekit(cfg: Record<string, unknown>): { params: RecipeParams; parents: string[] } {
  if (cfg.base_model !== undefined && cfg.base_model !== null)
    fail("base_model: passthrough takes none in the garden (the first slice's model gives the config)");
  const scaleOf = (v: Record<string, unknown>, what: string): Setting | undefined => {
    for (const k of Object.keys(v)) if (k !== 'scale') fail(`parameter ${k} (${what}): passthrough has only scale`);
    return v.scale === undefined ? undefined : setting(v.scale, `scale (${what})`);
  };
  const join = (own: Setting | undefined, next: Setting | undefined) => (own === undefined ? next : withFallback(own, next));
  const global = scaleOf(record(cfg.parameters, 'parameters'), 'parameters');
  const parents: { path: string; range?: number[]; scale?: Setting }[] = [];
  if (cfg.slices !== undefined) {
    if (cfg.models !== undefined) fail('models and slices: give one of them (mergekit takes exactly one)');
    if (!Array.isArray(cfg.slices) || cfg.slices.length === 0) fail('slices: an empty list; passthrough needs at least one slice');
    (cfg.slices as unknown[]).forEach((raw, i) => {
      const sl = record(raw, `slices[${i}]`);
      for (const k of Object.keys(sl)) if (k !== 'sources' && k !== 'parameters') fail(`slices[${i}].${k}: cannot be represented`);
      if (!Array.isArray(sl.sources) || sl.sources.length !== 1)
        fail(`slices[${i}].sources: passthrough takes exactly one source per slice (mergekit: one tensor per output tensor)`);
      const src = record((sl.sources as unknown[])[0], `slices[${i}].sources[0]`);
      for (const k of Object.keys(src))
        if (!['model', 'layer_range', 'parameters'].includes(k)) fail(`slices[${i}].sources[0].${k}: cannot be represented`);
      const lr = src.layer_range;
      if (!Array.isArray(lr) || lr.length !== 2 || !lr.every((x) => Number.isInteger(x)))
        fail(`slices[${i}].sources[0].layer_range must be two integers [from, to)`);
      const own = scaleOf(record(src.parameters, `slices[${i}].sources[0].parameters`), `slices[${i}].sources[0]`);
      const slice = scaleOf(record(sl.parameters, `slices[${i}].parameters`), `slices[${i}]`);
      parents.push({ path: modelPath(src.model, `slices[${i}].sources[0]`), range: lr as number[], scale: join(join(own, slice), global) });
    });
  } else {
    if (!Array.isArray(cfg.models) || cfg.models.length !== 1)
      fail('models: passthrough without slices takes exactly one model (mergekit: one tensor per output tensor)');
    const m = record((cfg.models as unknown[])[0], 'models[0]');
    for (const k of Object.keys(m)) if (k !== 'model' && k !== 'parameters') fail(`models[0].${k}: cannot be represented`);
    parents.push({
      path: modelPath(m.model, 'models[0]'),
      scale: join(scaleOf(record(m.parameters, 'models[0].parameters'), 'models[0]'), global),
    });
  }
  const params: RecipeParams = {};
  if (cfg.slices !== undefined) params.layerRange = parents.map((p) => p.range!);
  const scales = parents.map((p) => p.scale ?? 1);
  const key = (v: Setting) => JSON.stringify(v);
  if (new Set(scales.map(key)).size > 1) params.scale = { perParent: scales as (number | number[] | FilteredValue[])[] };
  else if (scales[0] !== 1) params.scale = scales[0];
  return { params, parents: parents.map((p) => p.path) };
}

/** passthrough to mergekit: each parent one slice of one source (or `models:` without layerRange); scale global or per source. */
function passthroughToMergekit(params: RecipeParams, parents: readonly string[]): Record<string, unknown> {
  const ranges = params.layerRange as number[][] | undefined;
  const scale = params.scale;
  const own = (i: number) => (isPerParent(scale) ? { parameters: { scale: scale.perParent[i] } } : {});
  return {
    merge_method: 'passthrough',
    ...(ranges
      ? { slices: parents.map((model, i) => ({ sources: [{ model, layer_range: ranges[i], ...own(i) }] })) }
      : { models: [{ model: parents[0], ...own(0) }] }),
    ...(!isPerParent(scale) && scale !== undefined && scale !== 1 ? { parameters: { scale } } : {}),
    dtype: 'float32',
  };
}
