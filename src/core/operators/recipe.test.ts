import { describe, expect, it } from 'vitest';
import generatedSource from './recipe.validator.generated.ts?raw';
import { generateRecipeValidator } from '../manifest/generate.ts';
import { recipeHash, validateRecipe } from './recipe.ts';

const H = 'a'.repeat(64);
const ok = {
  kind: 'recipe',
  schemaVersion: 1,
  operator: 'ties',
  params: { density: [0.2, 0.6] },
  seed: 1,
  base: { hash: H },
  parents: [{ path: 'a.slm' }, { path: 'b.slm', hash: H }],
  output: { path: 'c.slm' },
};

describe('recipes', () => {
  it('the precompiled validator matches the schema (regenerate: npx tsx scripts/gen-manifest-validators.ts)', () => {
    expect(generatedSource === generateRecipeValidator(), 'stale: regenerate recipe.validator.generated.ts').toBe(true);
  });

  it('accepts a valid recipe and hashes it canonically (key order does not matter)', () => {
    expect(validateRecipe(ok)).toBe(ok);
    const reordered = Object.fromEntries(Object.entries(ok).reverse());
    expect(recipeHash(validateRecipe(reordered))).toBe(recipeHash(validateRecipe(ok)));
  });

  it('refuses schema and registry violations with one line naming the problem', () => {
    expect(() => validateRecipe({ ...ok, kind: 'lineage' })).toThrow(/\$.kind: must be "recipe"/);
    expect(() => validateRecipe({ ...ok, extra: 1 })).toThrow(/unknown key "extra"/);
    expect(() => validateRecipe({ ...ok, seed: -1 })).toThrow(/\$.seed: must be >= 0/);
    expect(() => validateRecipe({ ...ok, parents: [{}] })).toThrow(/\$.parents\[0\]: must NOT have fewer than 1 properties/);
    expect(() => validateRecipe({ ...ok, base: { hash: 'xyz' } })).toThrow(/\$.base.hash: must match pattern/);
    expect(() => validateRecipe({ ...ok, operator: 'frankenmerge' })).toThrow(/unknown operator "frankenmerge"; valid: blend/);
    expect(() => validateRecipe({ ...ok, base: undefined })).toThrow(/ties needs a "base"/);
    expect(() => validateRecipe({ ...ok, parents: [{ path: 'a.slm' }] })).toThrow(/ties takes 2..16 parents, got 1/);
    expect(() => validateRecipe({ ...ok, params: { density: 'high' } })).toThrow(/"density" must be a finite number/);
  });
});
