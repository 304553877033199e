/**
 * `garden import FILE... --out DIR`: safetensors (single or Hugging Face sharded), ONNX or .slm →
 * `.slm` shards + the species graph + an import summary. Every file is checked before anything is
 * written; output goes to a temporary folder and is moved into DIR only when complete.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { DEFAULT_MAX_SHARD_BYTES } from '../../src/core/format/slm.ts';
import { scanNonFinite, tensorHashes, toSlm } from '../../src/core/format/model.ts';
import { writeShardFiles } from '../../src/node/file-source.ts';
import { verifiedFiles } from '../../src/node/verified-files.ts';
import type { Sha256Hex } from '../../src/core/hash.ts';
import { baseName, openModelFile } from '../../src/node/model-files.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { LIMITS, cleanLeftovers, readRegular } from '../../src/node/confine.ts';
import { isHfFolder } from '../../src/node/hf-folder.ts';
import { HF_IMPORT_USAGE, importHfCommand } from './import-hf.ts';

const usage = `garden import FILE... --out DIR [--max-shard-bytes N] [--labels FILE] [--graph FILE.onnx]

Imports .safetensors, model.safetensors.index.json (Hugging Face shards), .onnx (external data
beside it is followed) or .slm files. For each FILE writes into DIR:
  NAME.slm (or NAME-0000k-of-0000n.slm shards, ≤ 64 MiB each by default)
  NAME.graph.onnx   the species graph, weights as external data named by tensor (when there is one)
  NAME.import.json  species, graph hash, shard and tensor SHA-256s, NaN/Inf flags
--labels FILE: a JSON array (or one label per line) giving the vocabulary / label set.
A file that fails a check writes nothing and exits with status 1. Shards, index shards and external
data must be regular files inside the model's folder (after symlinks). The temporary folder of a
killed import (DIR/.import-<pid>-*) is removed by the next import into DIR.

${HF_IMPORT_USAGE}`;

async function readLabels(path: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readRegular(path, 'labels', LIMITS.json)).trim();
  if (text.startsWith('[')) {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new CliError(`${path}: labels must be a JSON array of strings`);
    return v;
  }
  return text.split(/\r?\n/);
}

const command: Command = {
  usage,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, {
      out: { type: 'string' },
      'max-shard-bytes': { type: 'string' },
      labels: { type: 'string' },
      graph: { type: 'string' },
    });
    const { out, labels: labelsPath, graph: graphPath } = values;
    const maxText = values['max-shard-bytes'];
    if (args.length === 1 && isHfFolder(args[0])) return importHfCommand(args[0], out, maxText);
    if (!out) throw new CliError('--out DIR is required');
    if (args.length === 0) throw new CliError('no FILE to import');
    // Every input's outputs are named after it: two inputs with one name would overwrite each other.
    const byName = new Map<string, string>();
    for (const file of args) {
      const name = baseName(file);
      const other = byName.get(name);
      if (other !== undefined)
        throw new CliError(
          `${other} and ${file} would both be written as "${name}" (.slm, .graph.onnx, .import.json); import them in separate runs or into separate --out folders`,
        );
      byName.set(name, file);
    }
    const maxShardBytes = maxText === undefined ? DEFAULT_MAX_SHARD_BYTES : Number(maxText);
    if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes < 1)
      throw new CliError(`--max-shard-bytes ${maxText} is not a positive integer`);
    const vocabulary = labelsPath ? await readLabels(labelsPath) : undefined;
    const graph = graphPath ? await readRegular(graphPath, 'graph', LIMITS.graph) : undefined;

    await mkdir(out, { recursive: true });
    cleanLeftovers(out);
    const tmp = await mkdtemp(join(out, `.import-${process.pid}-`));
    try {
      const written: string[] = [];
      /** One-file .slm outputs, written with their tensors' content hashes (for the memo of checked files). */
      const whole: { path: string; hash: Sha256Hex }[] = [];
      for (const file of args) {
        const opened = await openModelFile(file, { vocabulary, graph });
        try {
          const { model } = opened;
          const name = baseName(file);
          const hashes = await tensorHashes(model); // reads and checks every tensor before writing
          const scan = await scanNonFinite(model);
          const shards = await writeShardFiles(toSlm(model, { maxShardBytes, contentHashes: hashes }), tmp, name);
          if (shards.length === 1) whole.push({ path: join(out, basename(shards[0].path)), hash: shards[0].hash });
          if (model.graph) await writeFile(join(tmp, `${name}.graph.onnx`), model.graph);
          const summary = {
            source: basename(file),
            format: model.format,
            species: model.species,
            graph: model.graphHash,
            vocabulary: model.vocabulary.length,
            shards: shards.map((s) => ({ file: basename(s.path), sha256: s.hash, bytes: s.bytes })),
            tensors: Object.fromEntries(model.tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape, sha256: hashes.get(t.name) }])),
            nonFinite: scan.flagged,
          };
          await writeFile(join(tmp, `${name}.import.json`), JSON.stringify(summary, null, 2) + '\n');
          const flag = scan.finite ? '' : ` (FLAGGED: NaN/Inf in ${scan.flagged.length} tensors)`;
          written.push(`${file} → ${shards.map((s) => basename(s.path)).join(', ')}  species ${model.species}${flag}`);
        } finally {
          await opened.close();
        }
      }
      // Every input passed: move the results into DIR.
      const { readdir } = await import('node:fs/promises');
      for (const f of await readdir(tmp)) await rename(join(tmp, f), join(out, f));
      // A breed of them need not check their tensors again (src/node/verified-files.ts).
      await verifiedFiles().record(whole);
      for (const w of written) console.log(w);
      return 0;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
};

export default command;
