/**
 * The one validator generator: compiles JSON Schemas (2020-12) with ajv and emits standalone
 * validator modules that need neither `eval` nor ajv at runtime, so they run under the app's CSP,
 * in workers, in Node and in the CLI alike. Two modules come from it:
 *   src/core/manifest/validators.generated.ts — one validate function per document kind;
 *   src/core/operators/recipe.validator.generated.ts — validateRecipe.
 * Regenerate both with `npx tsx scripts/gen-manifest-validators.ts`; a test fails when either is stale.
 */
import Ajv2020 from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { DEFS_SCHEMA, SCHEMAS } from './schemas.ts';
import { exportName } from './names.ts';
import recipeSchema from '../../../manifests/recipe.schema.json';

/** ajv's runtime helpers, inlined so the generated module imports nothing. */
const RUNTIME: Record<string, string> = {
  'ajv/dist/runtime/ucs2length':
    'function(str){let n=0,i=0;while(i<str.length){n++;const c=str.charCodeAt(i++);if(c>=0xd800&&c<=0xdbff&&i<str.length&&(str.charCodeAt(i)&0xfc00)===0xdc00)i++;}return n;}',
  'ajv/dist/runtime/equal':
    'function eq(a,b){if(a===b)return true;if(a&&b&&typeof a==="object"&&typeof b==="object"){if(Array.isArray(a)!==Array.isArray(b))return false;const ka=Object.keys(a),kb=Object.keys(b);if(ka.length!==kb.length)return false;for(const k of ka){if(!Object.prototype.hasOwnProperty.call(b,k)||!eq(a[k],b[k]))return false;}return true;}return a!==a&&b!==b;}',
};

const REGENERATE = '// Regenerate: npx tsx scripts/gen-manifest-validators.ts';

/** Compile `schemas` (the first ones only referenced) into a standalone module exporting `refs` (export name → schema $id). */
function standaloneModule(schemas: readonly object[], refs: Record<string, string>, source: string): string {
  const Ctor = (Ajv2020 as unknown as { default?: typeof Ajv2020 }).default ?? Ajv2020;
  const ajv = new Ctor({ allErrors: true, strict: true, code: { source: true, esm: true } });
  for (const schema of schemas) ajv.addSchema(schema);
  const gen = (standaloneCode as unknown as { default?: typeof standaloneCode }).default ?? standaloneCode;
  let code = gen(ajv, refs);
  code = code.replace(/require\("([^"]+)"\)\.default/g, (_m, mod: string) => {
    const inline = RUNTIME[mod];
    if (!inline)
      throw new Error(
        `generated validators need runtime module "${mod}", which has no inline copy; known: ${Object.keys(RUNTIME).join(', ')}`,
      );
    return `(${inline})`;
  });
  if (/\brequire\(/.test(code)) throw new Error('generated validators still call require()');
  return [
    '/* eslint-disable */',
    '// @ts-nocheck',
    `// GENERATED from ${source} by src/core/manifest/generate.ts; do not edit.`,
    REGENERATE,
    code.replace(/^"use strict";/, ''),
    '',
  ].join('\n');
}

/** src/core/manifest/validators.generated.ts: every document kind. */
export function generateValidatorModule(): string {
  const refs: Record<string, string> = {};
  for (const [kind, schema] of Object.entries(SCHEMAS)) refs[exportName(kind)] = (schema as { $id: string }).$id;
  return standaloneModule([DEFS_SCHEMA, ...Object.values(SCHEMAS)], refs, 'manifests/*.schema.json');
}

/** src/core/operators/recipe.validator.generated.ts: validateRecipe. */
export function generateRecipeValidator(): string {
  return standaloneModule([recipeSchema], { validateRecipe: recipeSchema.$id }, 'manifests/recipe.schema.json');
}
