#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the CLI and the app share one core without a build step.
import { register } from 'tsx/esm/api';

register();
// A reader that stops early (`garden breed … | head`) closes the pipe: stop quietly, as Unix tools do.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
// Native SHA-256 for the core's content hashes (one home: src/node/sha256.ts).
const { installNodeSha256 } = await import('../src/node/sha256.ts');
installNodeSha256();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
