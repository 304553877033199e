// Writes the precompiled (ajv standalone) validators from manifests/*.schema.json:
// src/core/manifest/validators.generated.ts and src/core/operators/recipe.validator.generated.ts.
import { writeFileSync } from 'node:fs';
import { generateRecipeValidator, generateValidatorModule } from '../src/core/manifest/generate.ts';

for (const [rel, text] of [
  ['../src/core/manifest/validators.generated.ts', generateValidatorModule()],
  ['../src/core/operators/recipe.validator.generated.ts', generateRecipeValidator()],
] as const) {
  const path = new URL(rel, import.meta.url);
  writeFileSync(path, text);
  console.log(`wrote ${path.pathname}`);
}
