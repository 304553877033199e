/**
 * Node's native SHA-256 (node:crypto, OpenSSL: SHA extensions where the CPU has them) as the
 * core's hash provider. The one place Node installs it: every Node entry point (cli/start.ts for bin/garden.mjs,
 * bench/run.ts, scripts/build-starter.ts, the vitest setup) calls installNodeSha256() first.
 */
import { createHash } from 'node:crypto';
import { setSha256Provider, type Sha256Provider, type Sha256Stream } from '../core/hash.ts';

export const nodeSha256: Sha256Provider = Object.freeze({
  name: 'node:crypto (native)',
  hex: (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex'),
  stream(): Sha256Stream {
    const h = createHash('sha256');
    return { update: (bytes) => void h.update(bytes), digestHex: () => h.digest('hex') };
  },
});

export function installNodeSha256(): void {
  setSha256Provider(nodeSha256);
}
