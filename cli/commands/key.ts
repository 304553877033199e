/**
 * garden key KEY.jwk [--public]
 * The bundle signing key: one ECDSA P-256 pair as a JWK file (created on first use, mode 0600).
 * --public prints the public JWK, the file a verifier passes to `garden verify --trust`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { checkJwk, generateKey, publicJwk, type PrivateJwk, type PublicJwk } from '../../src/core/share/dsse.ts';
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { LIMITS, readRegularSync } from '../../src/node/confine.ts';

const usage = `garden key KEY.jwk [--public]

The key that signs bundles (garden bundle): an ECDSA P-256 pair kept as a JWK file, created on
first use (readable by its owner only). Prints the key id; with --public, the public JWK (kty,
crv, x, y, kid) that others pass to garden verify --trust.
  --public   print the public JWK as JSON`;

function readJson(path: string, what: string): unknown {
  const text = new TextDecoder().decode(readRegularSync(path, what, LIMITS.json));
  try {
    return parseStrictJson(text, what);
  } catch (e) {
    throw new CliError(`${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The signing key at `path`, created there when the file does not exist yet. */
export async function loadOrCreateKey(path: string): Promise<{ key: PrivateJwk; created: boolean }> {
  const abs = resolve(path);
  if (!existsSync(abs)) {
    const key = await generateKey();
    try {
      writeFileSync(abs, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      throw new CliError(`cannot create the key file ${abs}: ${(e as Error).message}`);
    }
    return { key, created: true };
  }
  try {
    return { key: checkJwk(readJson(abs, 'key file'), 'private'), created: false };
  } catch (e) {
    throw new CliError(`key file ${abs}: ${(e as Error).message}`);
  }
}

/** A trusted public key file (a private key file is accepted too: its public half is used). */
export function readPublicKey(path: string): PublicJwk {
  const abs = resolve(path);
  try {
    return checkJwk(readJson(abs, 'trusted key'), 'public');
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`trusted key ${abs}: ${(e as Error).message}`);
  }
}

const command: Command = {
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { public: { type: 'boolean', default: false } });
    if (positionals.length !== 1) throw new CliError('one key file; usage: garden key KEY.jwk [--public]');
    const { key, created } = await loadOrCreateKey(positionals[0]);
    if (created) console.error(`created key ${resolve(positionals[0])} (kid ${key.kid})`);
    console.log(values.public ? JSON.stringify(publicJwk(key)) : `kid ${key.kid}`);
    return 0;
  },
};

export default command;
