#!/usr/bin/env node
// The CLI, on the same core as the app without a build step: from a bundle of its TypeScript
// sources cached while they are unchanged (bin/cli-bundle.mjs), else through tsx.
import { cliBundle } from './cli-bundle.mjs';

const bundle = await cliBundle();
let start;
if (bundle) ({ start } = await import(bundle));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ start } = await import('../cli/start.ts'));
}
process.exitCode = await start(process.argv.slice(2));
