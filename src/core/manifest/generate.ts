/**
 * Compiles every schema once with ajv (JSON Schema 2020-12) and emits standalone validator code:
 * a module with one validate function per document kind that needs neither `eval` nor ajv at
 * runtime, so it runs under the app's CSP, in workers, in Node and in the CLI alike.
 * Regenerate with `npx tsx scripts/gen-manifest-validators.ts`; a test fails when it is stale.
 */
import Ajv2020 from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { DEFS_SCHEMA, SCHEMAS } from './schemas.ts';
import { exportName } from './names.ts';

/** ajv's runtime helpers, inlined so the generated module imports nothing. */
const RUNTIME: Record<string, string> = {
  'ajv/dist/runtime/ucs2length':
    'function(str){let n=0,i=0;while(i<str.length){n++;const c=str.charCodeAt(i++);if(c>=0xd800&&c<=0xdbff&&i<str.length&&(str.charCodeAt(i)&0xfc00)===0xdc00)i++;}return n;}',
  'ajv/dist/runtime/equal':
    'function eq(a,b){if(a===b)return true;if(a&&b&&typeof a==="object"&&typeof b==="object"){if(Array.isArray(a)!==Array.isArray(b))return false;const ka=Object.keys(a),kb=Object.keys(b);if(ka.length!==kb.length)return false;for(const k of ka){if(!Object.prototype.hasOwnProperty.call(b,k)||!eq(a[k],b[k]))return false;}return true;}return a!==a&&b!==b;}',
};

export function generateValidatorModule(): string {
  const Ctor = (Ajv2020 as unknown as { default?: typeof Ajv2020 }).default ?? Ajv2020;
  const ajv = new Ctor({ allErrors: true, strict: true, code: { source: true, esm: true } });
  ajv.addSchema(DEFS_SCHEMA);
  const refs: Record<string, string> = {};
  for (const [kind, schema] of Object.entries(SCHEMAS)) {
    ajv.addSchema(schema);
    refs[exportName(kind)] = (schema as { $id: string }).$id;
  }
  const gen = (standaloneCode as unknown as { default?: typeof standaloneCode }).default ?? standaloneCode;
  let code = gen(ajv, refs);
  code = code.replace(/require\("([^"]+)"\)\.default/g, (_m, mod: string) => {
    const inline = RUNTIME[mod];
    if (!inline) throw new Error(`generated validators need runtime module "${mod}", which has no inline copy; known: ${Object.keys(RUNTIME).join(', ')}`);
    return `(${inline})`;
  });
  if (/\brequire\(/.test(code)) throw new Error('generated validators still call require()');
  return [
    '/* eslint-disable */',
    '// @ts-nocheck',
    '// GENERATED from manifests/*.schema.json by src/core/manifest/generate.ts; do not edit.',
    '// Regenerate: npx tsx scripts/gen-manifest-validators.ts',
    code.replace(/^"use strict";/, ''),
    '',
  ].join('\n');
}
