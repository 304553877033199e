/**
 * garden verify B.json --trust PUB.jwk [--trust …] [--parents DIR] [--model C.slm]
 * Checks a bundle (src/core/share/bundle.ts): the signature by a trusted key, every file's
 * SHA-256 against the signed statement, the documents' references; with --parents, breeds the
 * candidate again from the lineage with the parents found by hash in DIR and compares the hash.
 * Exit 0 only when everything asked passes; the verdict is printed either way.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { openBundle, reproduce } from '../../src/core/share/bundle.ts';
import { type SlmFile } from '../../src/core/format/slm.ts';
import { loadParentModel } from '../../src/node/parent-model.ts';
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { LIMITS, readRegular } from '../../src/node/confine.ts';
import { readPublicKey } from './key.ts';

const usage = `garden verify B.json --trust PUB.jwk [--trust PUB2.jwk]... [--parents DIR] [--model C.slm]

Verify a signed bundle (garden bundle): the DSSE signature by one of the trusted public keys,
every file against its SHA-256 in the signed in-toto statement, and the documents' references
(candidate manifest, receipt and lineage agree on the model's hash). With --parents, breed the
candidate again from its lineage (operator@version, parameters, seed) with the parents found by
hash among DIR's .slm files, on the CPU reference kernels, and compare the file's hash.
Prints the verdict: "reproduced: identical hash", or the reason. Exit 0 only when all pass.
  --trust PUB.jwk   a trusted public key (garden key KEY.jwk --public); repeatable
  --parents DIR     a folder holding the parents' .slm files (any names)
  --model C.slm     the candidate, for a bundle made without --with-model`;

/**
 * Every model directly in `dir`, read as garden breed reads a parent (a .slm, plain safetensors,
 * a sharded model or a Hugging Face folder), so a breed's parents are found by the hash it recorded.
 */
async function slmFilesIn(dir: string): Promise<SlmFile[]> {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort();
  } catch (e) {
    throw new CliError(`--parents ${dir}: ${(e as Error).message}`);
  }
  const out: SlmFile[] = [];
  for (const n of names) {
    try {
      out.push((await loadParentModel(join(dir, n), 'parent')).slm);
    } catch {
      // not a model: it cannot be a parent; the verdict names any parent not found
    }
  }
  return out;
}

const command: Command = {
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, {
      trust: { type: 'string', multiple: true },
      parents: { type: 'string' },
      model: { type: 'string' },
    });
    if (positionals.length !== 1) throw new CliError('one bundle; usage: garden verify B.json --trust PUB.jwk [--parents DIR]');
    if (!values.trust?.length) throw new CliError('no trusted key: --trust PUB.jwk (garden key KEY.jwk --public prints one)');
    const trusted = values.trust.map(readPublicKey);
    const path = resolve(positionals[0]);
    const text = new TextDecoder().decode(await readRegular(path, 'bundle', LIMITS.graph));
    let json: unknown;
    try {
      json = parseStrictJson(text, 'bundle');
    } catch (e) {
      throw new CliError(`refused: ${path} is not valid JSON: ${(e as Error).message}`);
    }
    const model = values.model ? await readRegular(resolve(values.model), 'candidate', LIMITS.graph) : undefined;
    const v = await openBundle(json, trusted, model);
    if (!v.ok) throw new CliError(`refused: ${v.reason}`);
    const b = v.bundle;
    console.log(`signature: good, key ${b.keyid}`);
    console.log(`hashes:    ${b.statement.subject.length} subject(s) match${b.model ? '' : ' (the model itself not carried)'}`);
    const l = b.documents.lineage;
    console.log(
      `candidate: ${b.candidate} from ${l.operator.id}@${l.operator.version} seed ${l.seed}, parents (base first) ${l.parents.join(', ')}`,
    );
    if (!values.parents) {
      console.log('reproduction: not checked (give --parents DIR)');
      return 0;
    }
    const r = await reproduce(b, await slmFilesIn(resolve(values.parents)));
    console.log(r.verdict);
    return r.ok ? 0 : 1;
  },
};

export default command;
