/**
 * A breed's parent or base as mergekit takes it: a `.slm`, a plain safetensors file, a sharded
 * model (a `.slm` shard or a Hugging Face `model.safetensors.index.json`), an ONNX model, or a
 * Hugging Face model folder — with no separate `garden import` step. Anything but a single-file
 * `.slm` is imported in memory exactly as `garden import` would write it (one shard), so the
 * lineage names the hash of that `.slm` and a later `garden import` + breed gives the same bytes.
 */
import { statSync } from 'node:fs';
import { SLM_KEYS, readSlm, type SlmFile } from '../core/format/slm.ts';
import { looksLikeSafetensors, toSlm, type ImportedModel } from '../core/format/model.ts';
import { openSafetensors } from '../core/format/reader.ts';
import { bytesSource } from '../core/format/source.ts';
import { importHfFolder } from '../core/format/hf.ts';
import { LIMITS, readRegular } from './confine.ts';
import { openModelFile } from './model-files.ts';
import { openHfFolderOnDisk } from './hf-folder.ts';
import { concatBytes } from '../core/bytes.ts';

/** The one-shard `.slm` that `garden import` writes for this model, read back. */
async function inMemorySlm(model: ImportedModel): Promise<SlmFile> {
  const parts: Uint8Array[] = [];
  for await (const chunk of toSlm(model, { maxShardBytes: Number.MAX_SAFE_INTEGER })) parts.push(chunk.bytes);
  const total = parts.reduce((s, p) => s + p.length, 0);
  if (total > LIMITS.model) throw new Error(`the model is ${total} bytes as a .slm, above the ${LIMITS.model}-byte ceiling for one parent`);
  return readSlm(concatBytes(parts));
}

/** How a path is read as a parent: 'slm' (as it is), 'import' (converted in memory) or 'hf' (a folder). */
export async function parentKind(path: string, bytes?: Uint8Array): Promise<'slm' | 'import' | 'hf'> {
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) return 'hf';
  const b = bytes ?? (await readRegular(path, 'model', LIMITS.model));
  if (!looksLikeSafetensors(b.subarray(0, 9))) return 'import';
  const { metadata } = await openSafetensors(bytesSource(b));
  if (metadata[SLM_KEYS.format] === undefined) return 'import';
  return (metadata[SLM_KEYS.shards] ?? '1') === '1' ? 'slm' : 'import';
}

/** Read `path` (already confined by the caller) as a parent model. Errors are one line, with the path. */
export async function loadParentModel(path: string, what: string): Promise<{ slm: SlmFile; imported: boolean }> {
  try {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
      // A folder is read as a Hugging Face model folder; its checks name what is missing.
      const folder = openHfFolderOnDisk(path);
      try {
        return { slm: await inMemorySlm((await importHfFolder(folder)).model), imported: true };
      } finally {
        await folder.close();
      }
    }
    const bytes = await readRegular(path, what, LIMITS.model);
    if ((await parentKind(path, bytes)) === 'slm') return { slm: readSlm(bytes), imported: false };
    const opened = await openModelFile(path);
    try {
      return { slm: await inMemorySlm(opened.model), imported: true };
    } finally {
      await opened.close();
    }
  } catch (e) {
    throw new Error(`${what} (${path}): ${(e as Error).message}`);
  }
}
