/**
 * `garden import DIR --out M.slm`: a Hugging Face model folder (Llama, Mistral, Qwen2, GPT-2) → a `.slm`
 * (sharded as M-0000k-of-0000n.slm when larger than --max-shard-bytes) that carries config.json
 * and the tokenizer files in its metadata. Every check (src/core/format/hf.ts) runs and every
 * tensor is read before a byte is written; a refusal writes nothing.
 */
import { basename, dirname } from 'node:path';
import { CliError } from '../command.ts';
import { scanNonFinite, tensorHashes, toSlm } from '../../src/core/format/model.ts';
import { importHfModel } from '../../src/core/format/hf.ts';
import { writeShardFiles } from '../../src/node/file-source.ts';
import { verifiedFiles } from '../../src/node/verified-files.ts';
import { openHfFolderOnDisk } from '../../src/node/hf-folder.ts';
import { LIMITS, cleanLeftovers } from '../../src/node/confine.ts';

/**
 * One file up to the CLI's model ceiling by default: `garden breed` takes single-file parents, and
 * the carried tokenizer is then stored once (every shard of a .slm repeats the metadata).
 */
export const HF_IMPORT_MAX_SHARD_BYTES = LIMITS.model;

export const HF_IMPORT_USAGE = `garden import DIR --out M.slm [--max-shard-bytes N]   (N: 4 GiB by default)

DIR is a Hugging Face model folder (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel):
config.json, model.safetensors or shards with model.safetensors.index.json, tokenizer.json
(+ tokenizer_config.json, generation_config.json), tensors in F32, F16 or BF16 kept in their dtype.`;

export async function importHfCommand(dir: string, out: string | undefined, maxText: string | undefined): Promise<number> {
  if (!out || !out.endsWith('.slm')) throw new CliError('--out M.slm is required for a model folder (garden import --help)');
  const maxShardBytes = maxText === undefined ? HF_IMPORT_MAX_SHARD_BYTES : Number(maxText);
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes < 1)
    throw new CliError(`--max-shard-bytes ${maxText} is not a positive integer`);
  const folder = openHfFolderOnDisk(dir);
  try {
    const lm = await importHfModel(folder);
    await tensorHashes(lm.model); // reads and checks every tensor before writing
    const scan = await scanNonFinite(lm.model);
    cleanLeftovers(dirname(out));
    const shards = await writeShardFiles(toSlm(lm.model, { maxShardBytes }), dirname(out), basename(out).replace(/\.slm$/, ''));
    // Written by the garden with its tensors' content hashes: a breed of it need not check them again (verified-files.ts).
    if (shards.length === 1) await verifiedFiles().record([{ path: shards[0].path, hash: shards[0].hash }]);
    const flag = scan.finite ? '' : ` (FLAGGED: NaN/Inf in ${scan.flagged.length} tensors)`;
    const c = lm.config;
    console.log(
      `${dir} → ${shards.map((s) => basename(s.path)).join(', ')}  ${c.architecture} ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}, ${lm.model.tensors.length} tensors  species ${lm.model.species}${flag}`,
    );
    return 0;
  } finally {
    await folder.close();
  }
}
