/**
 * garden bundle C.slm --key KEY.jwk --out B.json [--with-model] [--records BREED.json] [--sidecar FILE]…
 * A signed bundle of a candidate (src/core/share/bundle.ts): DSSE over an in-toto statement of its
 * documents' and model's SHA-256, signed with the key (created on first use). The lineage inside
 * names operator@version, parameters, seed and the parents' hashes, all garden verify needs.
 */
import { basename, resolve } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { makeBundle } from '../../src/core/share/bundle.ts';
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts';
import { makeManifest, validateManifest, type EvaluationSidecarBody, type Manifest } from '../../src/core/manifest/index.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { LIMITS, readRegular, writeFileAtomic } from '../../src/node/confine.ts';
import { loadOrCreateKey } from './key.ts';

const usage = `garden bundle C.slm --key KEY.jwk --out B.json [--with-model] [--records BREED.json] [--sidecar FILE]...

Sign a candidate's documents (lineage template, operator receipt, candidate manifest,
compatibility report, evaluation sidecars), and with --with-model its .slm, into one bundle:
a DSSE envelope (payloadType application/vnd.in-toto+json) over an in-toto Statement v1 whose
subjects are the files by name and SHA-256, signed ECDSA P-256 (P1363 r||s, as WebCrypto gives it).
The documents must belong to C.slm (its hash, its lineage key), or nothing is written.
  --key KEY.jwk         the signing key; created on first use (garden key KEY.jwk --public shows it)
  --out B.json          the bundle
  --with-model          carry the .slm's bytes too (else only its hash is signed)
  --records BREED.json  the breed's documents: what garden breed --json printed (its "manifests"),
                        or a JSON list of manifests; default C.slm.records.json beside the model
  --sidecar FILE        the candidate's evaluation sidecars: a sidecar manifest, or what
                        garden eval C.slm --json printed (repeatable)`;

async function readJson(path: string, what: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readRegular(path, what, LIMITS.json));
  try {
    return parseStrictJson(text, what);
  } catch (e) {
    throw new CliError(`${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The documents in a file: a manifest, a list of them, what garden breed --json printed
 * ("manifests"), or what garden eval --json printed ("results"[].sidecar, evaluation-sidecar
 * bodies).
 */
function documentsOf(json: unknown, path: string): Manifest[] {
  const o = json && typeof json === 'object' && !Array.isArray(json) ? (json as { manifests?: unknown; results?: unknown }) : null;
  const sidecars = o && Array.isArray(o.results) ? o.results.map((r: { sidecar?: unknown }) => ({ sidecar: r?.sidecar })) : null;
  const list: unknown[] = Array.isArray(json) ? json : o && Array.isArray(o.manifests) ? o.manifests : (sidecars ?? [json]);
  return list.map((m, i) => {
    try {
      if (sidecars) return makeManifest('evaluation-sidecar', (m as { sidecar: EvaluationSidecarBody }).sidecar);
      return validateManifest(m);
    } catch (e) {
      throw new CliError(`${path}: document ${i}: ${(e as Error).message}`);
    }
  });
}

const command: Command = {
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, {
      key: { type: 'string' },
      out: { type: 'string' },
      'with-model': { type: 'boolean', default: false },
      records: { type: 'string' },
      sidecar: { type: 'string', multiple: true },
    });
    if (positionals.length !== 1)
      throw new CliError('one candidate .slm; usage: garden bundle C.slm --key KEY.jwk --out B.json [--with-model]');
    if (!values.key) throw new CliError('no signing key: --key KEY.jwk (created on first use)');
    if (!values.out) throw new CliError('no output file: --out B.json');
    const modelPath = resolve(positionals[0]);
    const bytes = await readRegular(modelPath, 'candidate', LIMITS.graph);
    const recordsPath = resolve(values.records ?? `${positionals[0]}.records.json`);
    let records: unknown;
    try {
      records = await readJson(recordsPath, 'breed records');
    } catch (e) {
      if (values.records) throw e;
      throw new CliError(
        `no breed records for ${modelPath}: give --records BREED.json (what garden breed --json printed), or put them at ${recordsPath}`,
      );
    }
    const documents = documentsOf(records, recordsPath);
    for (const s of values.sidecar ?? []) documents.push(...documentsOf(await readJson(resolve(s), 'sidecar'), resolve(s)));
    const { key, created } = await loadOrCreateKey(values.key);
    if (created) console.error(`created key ${resolve(values.key)} (kid ${key.kid})`);
    let bundle;
    try {
      bundle = await makeBundle({ model: { name: basename(modelPath), bytes }, documents, withModel: values['with-model'] }, key);
    } catch (e) {
      throw new CliError(`${modelPath}: ${(e as Error).message}`);
    }
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    await writeFileAtomic(resolve(values.out), text);
    console.log(
      `bundle ${resolve(values.out)}: ${Object.keys(bundle.files).length} file(s)${values['with-model'] ? ' with the model' : ''}, signed by key ${key.kid}`,
    );
    return 0;
  },
};

export default command;
