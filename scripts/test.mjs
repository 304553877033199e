// `npm test`: every check the project has, in order, stopping at the first failure.
import { spawnSync } from 'node:child_process';
import { ensureChromium } from './ensure-chromium.mjs';

const steps = [
  ['typecheck', 'npm', ['run', '-s', 'typecheck']],
  ['lint (eslint, prettier --check, then the duplicate-code scan of .jscpd.json)', 'npm', ['run', '-s', 'lint']],
  ['starter garden', 'npm', ['run', '-s', 'starter']],
  ['unit tests', 'npx', ['vitest', 'run']],
  ['build', 'npx', ['vite', 'build', '--logLevel', 'warn']],
  ['browser tests (kernel conformance + end to end)', 'npx', ['playwright', 'test']],
  ['bench smoke', 'npm', ['run', '-s', 'bench', '--', '--smoke']],
];

ensureChromium();
const t0 = Date.now();
for (const [name, cmd, args] of steps) {
  const s = Date.now();
  console.log(`\n▶ ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    console.error(`\n✖ ${name} failed (exit ${r.status}). Nothing after it ran.`);
    process.exit(r.status || 1);
  }
  console.log(`✔ ${name} (${((Date.now() - s) / 1000).toFixed(1)} s)`);
}
console.log(`\nAll checks passed in ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
