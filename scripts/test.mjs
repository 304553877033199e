// `npm test`: every check the project has, stopping at the first failure. The first group's
// checks do not depend on each other (the starter garden is ignored by eslint, prettier and tsc),
// so they run side by side, each one's output printed whole when it ends; then the rest in order.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureChromium } from './ensure-chromium.mjs';

// The CLI's memo of checked files (src/node/verified-files.ts) in a folder of this run, not the user's cache.
process.env.GARDEN_CACHE ??= mkdtempSync(join(tmpdir(), 'garden-test-cache-'));

const groups = [
  [
    ['typecheck', 'npm', ['run', '-s', 'typecheck']],
    ['lint (eslint, prettier --check, then the duplicate-code scan of .jscpd.json)', 'npm', ['run', '-s', 'lint']],
    ['starter garden', 'npm', ['run', '-s', 'starter']],
  ],
  [['unit tests', 'npx', ['vitest', 'run']]],
  [['build', 'npx', ['vite', 'build', '--logLevel', 'warn']]],
  [['browser tests (kernel conformance + end to end)', 'npx', ['playwright', 'test']]],
  [['bench smoke', 'npm', ['run', '-s', 'bench', '--', '--smoke']]],
];

const seconds = (since) => ((Date.now() - since) / 1000).toFixed(1);

/** Run one check; alone it prints as it goes, beside others its output is held and printed whole at its end. */
function run([name, cmd, args], alone) {
  const s = Date.now();
  console.log(`\n▶ ${name}: ${cmd} ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: alone ? 'inherit' : ['ignore', 'pipe', 'pipe'], env: process.env });
    const held = [];
    child.stdout?.on('data', (b) => held.push(b));
    child.stderr?.on('data', (b) => held.push(b));
    child.on('error', (e) => held.push(Buffer.from(`${e.message}\n`)));
    child.on('close', (code) => {
      if (held.length) {
        console.log(`\n── ${name} ──`);
        process.stdout.write(Buffer.concat(held));
      }
      if (code === 0) console.log(`✔ ${name} (${seconds(s)} s)`);
      resolve({ name, code: code ?? 1 });
    });
  });
}

ensureChromium();
const t0 = Date.now();
for (const group of groups) {
  const results = await Promise.all(group.map((step) => run(step, group.length === 1)));
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) {
    for (const r of failed) console.error(`\n✖ ${r.name} failed (exit ${r.code}).`);
    console.error('Nothing after it ran.');
    process.exit(failed[0].code);
  }
}
console.log(`\nAll checks passed in ${seconds(t0).replace(/\.\d$/, '')} s.`);
