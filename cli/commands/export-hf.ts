/**
 * `garden export M --hf OUTDIR [--max-shard-bytes N]`: a causal LM (a `.slm` imported from a
 * Hugging Face folder, or bred from such) as a Hugging Face folder that transformers'
 * `from_pretrained` reads: config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json (verbatim, as imported), model.safetensors or model-0000k-of-0000n.safetensors
 * shards with model.safetensors.index.json (HF's tensor names, each tensor in its own dtype), and a
 * README.md model card (lineage, operator, species, file hashes).
 *
 * Everything is written into a temporary folder inside OUTDIR and moved into place only when
 * complete; `garden import OUTDIR` reads it back to the same species and the same bytes.
 */
import { mkdir, mkdtemp, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CliError } from '../command.ts';
import { modelCard } from '../../src/core/format/card.ts';
import { HF_SHARD_METADATA, hfExportFiles } from '../../src/core/format/hf.ts';
import { writeSafetensorsRanges, writeSafetensorsStream } from '../../src/core/format/safetensors.ts';
import { STREAM_CHUNK_BYTES } from '../../src/core/format/source.ts';
import { DEFAULT_MAX_SHARD_BYTES } from '../../src/core/format/slm.ts';
import { sha256Hex, sha256Stream } from '../../src/core/hash.ts';
import { writeAll } from '../../src/node/file-source.ts';
import { openHfLm } from '../../src/node/hf-folder.ts';
import { cleanLeftovers } from '../../src/node/confine.ts';
import { openSlmRange } from '../../src/node/slm-range-source.ts';

export interface HfExportArgs {
  model: string;
  outDir: string;
  maxShardBytes?: string;
  name?: string;
  license?: string;
  baseModels?: string[];
}

const enc = new TextEncoder();

export async function exportHfCommand(a: HfExportArgs): Promise<number> {
  const maxShardBytes = a.maxShardBytes === undefined ? DEFAULT_MAX_SHARD_BYTES : Number(a.maxShardBytes);
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes < 1)
    throw new CliError(`--max-shard-bytes ${a.maxShardBytes} is not a positive integer`);
  const { lm, close } = await openHfLm(a.model);
  // A one-file .slm is read by byte range, STREAM_CHUNK_BYTES at a time, hashed as read and
  // checked (file and content hashes) before the folder is moved into place; anything else (a
  // Hugging Face folder, a sharded .slm) one tensor at a time.
  const range = await openSlmRange(a.model, 'model', { verify: 'as-read' }).catch(async (e: Error) => {
    await close();
    throw e;
  });
  const shardBytes = (shard: typeof lm.model.tensors) =>
    range
      ? writeSafetensorsRanges(shard, (name, at, n) => range.source.read(name, at, n), HF_SHARD_METADATA, STREAM_CHUNK_BYTES)
      : writeSafetensorsStream(shard, lm.model.read, HF_SHARD_METADATA);
  try {
    await mkdir(a.outDir, { recursive: true });
    cleanLeftovers(a.outDir);
    const existing = (await readdir(a.outDir)).filter((f) => !f.startsWith('.'));
    if (existing.length)
      throw new CliError(
        `${a.outDir} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); export into a new or empty folder`,
      );
    const tmp = await mkdtemp(join(a.outDir, `.import-${process.pid}-`));
    try {
      const files: { name: string; sha256: string }[] = [];
      for (const f of hfExportFiles(lm, maxShardBytes)) {
        if ('text' in f) {
          await writeFile(join(tmp, f.name), f.text);
          files.push({ name: f.name, sha256: sha256Hex(enc.encode(f.text)) });
          continue;
        }
        const fh = await open(join(tmp, f.name), 'wx');
        const h = sha256Stream();
        try {
          for await (const bytes of shardBytes(f.shard)) {
            await writeAll(fh, bytes, f.name);
            h.update(bytes);
          }
        } finally {
          await fh.close();
        }
        files.push({ name: f.name, sha256: h.digestHex() });
      }
      const m = lm.model.metadata;
      const operator = m['garden.operator'];
      const card = modelCard({
        name: a.name ?? basename(a.model).replace(/(-\d{5}-of-\d{5})?\.slm$/, ''),
        baseModels: a.baseModels,
        mergeMethod: operator,
        license: a.license,
        tags: ['text-generation', lm.config.architecture],
        species: lm.model.species,
        files,
        tensors: lm.model.tensors,
        description: [
          `A ${lm.config.architecture} (${lm.config.numLayers} layers, hidden ${lm.config.hiddenSize}, vocabulary ${lm.config.vocabSize}) exported from SLM Garden${operator ? `, made with the \`${operator}\` operator` : ''}.`,
          ...(m['garden.lineage'] ? ['', `Lineage key: \`${m['garden.lineage']}\`.`] : []),
        ].join('\n'),
      });
      await writeFile(join(tmp, 'README.md'), card);
      await range?.verify();
      for (const f of await readdir(tmp)) await rename(join(tmp, f), join(a.outDir, f));
      for (const f of files) console.log(`${f.sha256}  ${join(a.outDir, f.name)}`);
      console.log(`model card: ${join(a.outDir, 'README.md')}`);
      return 0;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  } finally {
    await range?.close();
    await close();
  }
}
