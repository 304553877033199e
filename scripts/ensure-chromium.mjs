// Finds Debian's Chromium for the browser tests, installing it with apt when it is missing and
// this process may (root). Otherwise stops with a message that says what to install.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Headless Chromium with WebGPU (SwiftShader here) and none of Chromium's own network chatter, so
// "no request left the origin" is meaningful. The tests, the kernel harness and the bench use it.
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function ensureChromium() {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const apt = existsSync('/usr/bin/apt-get');
  if (!root || !apt) {
    console.error(
      `Chromium was not found at ${CHROMIUM}. The browser tests need it.\n` +
        `Install Debian's package (as root: apt-get update && apt-get install -y chromium),\n` +
        `or point CHROMIUM_PATH at a Chromium 120+ binary.`,
    );
    process.exit(1);
  }
  console.log('Installing Debian Chromium for the browser tests (apt-get install chromium)…');
  execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null', { stdio: 'inherit' });
  if (!existsSync(CHROMIUM)) {
    console.error(`apt-get finished but ${CHROMIUM} is still missing.`);
    process.exit(1);
  }
  return CHROMIUM;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(ensureChromium());
