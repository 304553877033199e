/**
 * mergekit YAML both ways in the app, through the core's converter (src/core/share/mergekit-yaml.ts):
 * the breed form written as a config that `mergekit-yaml` (or `garden recipe --from-mergekit`)
 * runs on the models' downloaded `.slm` files, and a config read back into the form. Models are
 * named by their file, `ID.slm` (what "Download .slm" saves), and pinned by the file's SHA-256 in
 * the config's `# garden:` comment, so a config matches the pool by hash first, then by file name.
 */
import { recipeFromMergekit, recipeToMergekit } from '../core/share/mergekit-yaml.ts';
import { getOperator } from '../core/operators/registry.ts';
import type { ModelRef, Recipe } from '../core/operators/recipe.ts';
import type { ParamValues, RecipeParams } from '../core/operators/types.ts';
import { useGarden, type ModelEntry } from './state.ts';

const fileOf = (m: ModelEntry): ModelRef => ({ path: `${m.id}.slm`, hash: m.hash as ModelRef['hash'] });

/** The breed form (operator, parameters, seed, the selected parents, base first) as a mergekit config. */
export function formAsMergekit(): string {
  const s = useGarden.getState();
  const op = getOperator(s.operator);
  const chosen = s.selected.map((id) => s.models.find((m) => m.id === id)).filter((m): m is ModelEntry => !!m);
  const [base, parents] = op.needsBase ? [chosen[0], chosen.slice(1)] : [undefined, chosen];
  const recipe: Recipe = {
    kind: 'recipe',
    schemaVersion: 1,
    operator: op.id,
    params: s.params,
    seed: s.seed,
    parents: parents.map(fileOf),
    ...(base ? { base: fileOf(base) } : {}),
    output: { name: 'candidate' },
  };
  return recipeToMergekit(recipe);
}

/** The pool's model that a config's reference means: by hash, else by file name; throws one line. */
function resolve(ref: ModelRef, models: readonly ModelEntry[], what: string): ModelEntry {
  const byHash = ref.hash && models.find((m) => m.hash === ref.hash);
  if (byHash) return byHash;
  const file = ref.path?.split(/[\\/]/).pop() ?? '';
  const byName = models.find((m) => `${m.id}.slm` === file || m.id === file);
  if (byName) {
    if (ref.hash)
      throw new Error(
        `${what} ${file}: the pool's model of that name has other bytes (hash ${byName.hash.slice(0, 10)}, the config pins ${ref.hash.slice(0, 10)})`,
      );
    return byName;
  }
  throw new Error(`${what} ${JSON.stringify(ref.path ?? ref.hash)} is not in the pool (import it first)`);
}

/** Settings the form can show: single values and layer gradients (not filters or per-parent lists). */
function formParams(params: RecipeParams): ParamValues {
  const out: ParamValues = {};
  for (const [k, v] of Object.entries(params)) {
    const plain = typeof v !== 'object' || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
    if (!plain)
      throw new Error(`${k}: per-tensor filters and per-parent values cannot be shown in the form; run this config with garden breed`);
    out[k] = v as ParamValues[string];
  }
  return out;
}

/** Fill the breed form from a mergekit config; returns what was loaded, throws one line on refusal (the form is left as it was). */
export function loadMergekit(text: string): string {
  const recipe = recipeFromMergekit(text);
  const s = useGarden.getState();
  const op = getOperator(recipe.operator);
  const parents = recipe.parents.map((p, i) => resolve(p, s.models, `parent ${i + 1}`));
  const base = recipe.base ? [resolve(recipe.base, s.models, 'base')] : [];
  const params = formParams(recipe.params);
  useGarden.setState({
    operator: op.id,
    params,
    seed: recipe.seed,
    selected: [...base, ...parents].map((m) => m.id),
    invalid: {},
    formVersion: s.formVersion + 1,
  });
  return `${op.name} of ${[...base, ...parents].map((m) => m.name).join(', ')} (seed ${recipe.seed})`;
}
