/**
 * Compiles manifests/recipe.schema.json with ajv (JSON Schema 2020-12) into standalone validator
 * code, so recipes are checked without `eval` (forbidden by the app's CSP) and without ajv at
 * runtime. The output is recipe.validator.generated.ts; recipe.test.ts fails when it is stale.
 * Regenerate:
 *   npx tsx -e "import('./src/core/operators/recipe-codegen.ts').then((m) => require('node:fs').writeFileSync('src/core/operators/recipe.validator.generated.ts', m.generateRecipeValidator()))"
 */
import Ajv2020 from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';
import schema from '../../../manifests/recipe.schema.json';

/** ajv's runtime helpers, inlined so the generated module imports nothing. */
const RUNTIME: Record<string, string> = {
  'ajv/dist/runtime/ucs2length':
    'function(str){let n=0,i=0;while(i<str.length){n++;const c=str.charCodeAt(i++);if(c>=0xd800&&c<=0xdbff&&i<str.length&&(str.charCodeAt(i)&0xfc00)===0xdc00)i++;}return n;}',
};

export function generateRecipeValidator(): string {
  const Ctor = (Ajv2020 as unknown as { default?: typeof Ajv2020 }).default ?? Ajv2020;
  const ajv = new Ctor({ allErrors: true, strict: true, code: { source: true, esm: true } });
  ajv.addSchema(schema);
  const gen = (standaloneCode as unknown as { default?: typeof standaloneCode }).default ?? standaloneCode;
  let code = gen(ajv, { validateRecipe: schema.$id });
  code = code.replace(/require\("([^"]+)"\)\.default/g, (_m, mod: string) => {
    const inline = RUNTIME[mod];
    if (!inline) throw new Error(`the recipe validator needs runtime module "${mod}", which has no inline copy; known: ${Object.keys(RUNTIME).join(', ')}`);
    return `(${inline})`;
  });
  if (/\brequire\(/.test(code)) throw new Error('the generated recipe validator still calls require()');
  return [
    '/* eslint-disable */',
    '// @ts-nocheck',
    '// GENERATED from manifests/recipe.schema.json by src/core/operators/recipe-codegen.ts; do not edit.',
    code.replace(/^"use strict";/, ''),
    '',
  ].join('\n');
}
