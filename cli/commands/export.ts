/**
 * `garden export FILE.slm --format safetensors|slm --out FILE [--card]`: a plain safetensors file
 * (no garden metadata; any safetensors reader loads it) or a `.slm`, and optionally a model card
 * README.md with Hugging Face front matter beside it.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { modelCard } from '../../src/core/format/card.ts';
import { toSlm } from '../../src/core/format/model.ts';
import { writeSafetensorsStream } from '../../src/core/format/safetensors.ts';
import { DEFAULT_MAX_SHARD_BYTES } from '../../src/core/format/slm.ts';
import { sha256Stream } from '../../src/core/hash.ts';
import { writeAll, writeShardFiles } from '../../src/node/file-source.ts';
import { baseName, openModelFile } from '../../src/node/model-files.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { cleanLeftovers, tempName, writeFileAtomic } from '../../src/node/confine.ts';
import { exportHfCommand } from './export-hf.ts';

export const EXPORT_FORMATS = Object.freeze(['safetensors', 'slm'] as const);
type ExportFormat = (typeof EXPORT_FORMATS)[number];

const usage = `garden export FILE.slm --format safetensors|slm --out FILE [--card] [--max-shard-bytes N]
                [--name NAME] [--base-model ID]... [--method NAME] [--license ID] [--tag TAG]...

--format safetensors: one plain safetensors file without the garden's metadata.
--format slm: a .slm (re-sharded when --max-shard-bytes is given).
--card: also write README.md (Hugging Face front matter: base_model, merge_method, tags, license) beside --out.

garden export M --hf OUTDIR [--max-shard-bytes N] [--name NAME] [--base-model ID]... [--license ID]
  A causal LM (.slm imported from a Hugging Face folder, or the folder) as a Hugging Face folder:
  config.json, generation_config.json, tokenizer files, model.safetensors or shards with
  model.safetensors.index.json (≤ N bytes each, 64 MiB by default), README.md model card.`;

const command: Command = {
  usage,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, {
      format: { type: 'string' },
      out: { type: 'string' },
      card: { type: 'boolean', default: false },
      'max-shard-bytes': { type: 'string' },
      name: { type: 'string' },
      'base-model': { type: 'string', multiple: true },
      method: { type: 'string' },
      license: { type: 'string' },
      tag: { type: 'string', multiple: true },
      hf: { type: 'string' },
    });
    if (values.hf !== undefined) {
      if (args.length !== 1) throw new CliError(`expected one model, got ${args.length}`);
      return exportHfCommand({
        model: args[0],
        outDir: values.hf,
        maxShardBytes: values['max-shard-bytes'],
        name: values.name,
        license: values.license,
        baseModels: values['base-model'],
      });
    }
    const { format, out, card, name, method, license } = values;
    const maxText = values['max-shard-bytes'];
    const baseModels = values['base-model'] ?? [];
    const tags = values.tag ?? [];
    if (!format || !(EXPORT_FORMATS as readonly string[]).includes(format))
      throw new CliError(`--format must be one of: ${EXPORT_FORMATS.join(', ')}`);
    if (!out) throw new CliError('--out FILE is required');
    if (args.length !== 1) throw new CliError(`expected one FILE, got ${args.length}`);
    const maxShardBytes = maxText === undefined ? DEFAULT_MAX_SHARD_BYTES : Number(maxText);
    if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes < 1)
      throw new CliError(`--max-shard-bytes ${maxText} is not a positive integer`);

    const opened = await openModelFile(args[0]);
    try {
      const { model } = opened;
      await mkdir(dirname(out), { recursive: true });
      cleanLeftovers(dirname(out));
      const files: { name: string; sha256: string }[] = [];
      if ((format as ExportFormat) === 'safetensors') {
        // A temporary name beside --out, renamed over it only when every byte is written.
        const tmp = tempName(out);
        const fh = await open(tmp, 'wx');
        const h = sha256Stream();
        try {
          for await (const bytes of writeSafetensorsStream(model.tensors, model.read, model.metadata)) {
            await writeAll(fh, bytes, out);
            h.update(bytes);
          }
          await fh.close();
          await rename(tmp, out);
        } catch (e) {
          await fh.close().catch(() => undefined);
          await rm(tmp, { force: true });
          throw e;
        }
        files.push({ name: basename(out), sha256: h.digestHex() });
      } else {
        const base = basename(out).replace(/\.slm$/, '');
        const shards = await writeShardFiles(toSlm(model, { maxShardBytes }), dirname(out), base);
        for (const s of shards) files.push({ name: basename(s.path), sha256: s.hash });
      }
      for (const f of files) console.log(`${f.sha256}  ${join(dirname(out), f.name)}`);
      if (card) {
        const readme = join(dirname(out), 'README.md');
        await writeFileAtomic(
          readme,
          modelCard({
            name: name ?? baseName(args[0]),
            baseModels,
            mergeMethod: method,
            license,
            tags,
            species: model.species,
            files,
            tensors: model.tensors,
          }),
        );
        console.log(`model card: ${readme}`);
      }
      return 0;
    } finally {
      await opened.close();
    }
  },
};

export default command;
