/**
 * Recipes: one operator run over parent models, as a JSON document (manifests/recipe.schema.json).
 * Checked in two layers: the JSON Schema (ajv, draft 2020-12), then the operator registry (the
 * operator exists, the parameters fit its declarations, the base is there when it needs one).
 * The schema check runs precompiled ajv code (recipe.validator.generated.ts, written with the
 * manifest validators by scripts/gen-manifest-validators.ts from src/core/manifest/generate.ts),
 * so it needs no `eval` and works under the app's CSP, in workers, Node and the CLI alike; its
 * errors read like the manifests' (src/core/manifest/ajv-errors.ts).
 */
import { validateRecipe as schemaCheck } from './recipe.validator.generated.ts';
import { describeAjvErrors, type ValidateFn } from '../manifest/ajv-errors.ts';
import { getOperator } from './registry.ts';
import { resolveParams } from './params.ts';
import type { RecipeParams } from './types.ts';
import { hashJson, type Sha256Hex } from '../hash.ts';

export interface ModelRef {
  path?: string;
  hash?: Sha256Hex;
}

export interface Recipe {
  kind: 'recipe';
  schemaVersion: 1;
  description?: string;
  operator: string;
  params: RecipeParams;
  seed: number;
  parents: ModelRef[];
  base?: ModelRef;
  output: { path?: string; name?: string };
}

const validator = (): ValidateFn => schemaCheck as unknown as ValidateFn;

/** Check a parsed recipe; throws one line naming what is wrong, returns it typed. */
export function validateRecipe(json: unknown): Recipe {
  const fn = validator();
  if (!fn(json)) {
    throw new Error(`invalid recipe: ${describeAjvErrors(fn.errors ?? [], 4)}`);
  }
  const r = json as Recipe;
  const op = getOperator(r.operator);
  if (op.needsBase && !r.base) throw new Error(`invalid recipe: ${op.id} needs a "base" model`);
  if (!op.needsBase && r.base) throw new Error(`invalid recipe: ${op.id} takes no base; put every model in "parents"`);
  const n = r.parents.length;
  if (n < op.parents.min || n > op.parents.max)
    throw new Error(`invalid recipe: ${op.id} takes ${op.parents.min}..${op.parents.max} parents, got ${n}`);
  resolveParams(op, r.params, n);
  // mergekit's names are accepted; the recipe is kept under the garden's id.
  return op.id === r.operator ? r : { ...r, operator: op.id };
}

/** The recipe's content address (canonical JSON). */
export function recipeHash(r: Recipe): Sha256Hex {
  return hashJson(r);
}
