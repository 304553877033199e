// Writes src/core/manifest/validators.generated.ts from manifests/*.schema.json (ajv standalone).
import { writeFileSync } from 'node:fs';
import { generateValidatorModule } from '../src/core/manifest/generate.ts';

const path = new URL('../src/core/manifest/validators.generated.ts', import.meta.url);
writeFileSync(path, generateValidatorModule());
console.log(`wrote ${path.pathname}`);
