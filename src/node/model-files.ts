/**
 * Shared by inspect/import/export: open any model file the garden reads (a `.slm` with its sibling
 * shards, plain safetensors, a Hugging Face index JSON with its shards, ONNX with external data).
 */
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { FormatError } from '../core/format/errors.ts';
import {
  importFile,
  importHfSharded,
  importSlm,
  looksLikeSafetensors,
  type ImportOptions,
  type ImportedModel,
} from '../core/format/model.ts';
import { SLM_KEYS } from '../core/format/slm.ts';
import { openSafetensors } from '../core/format/reader.ts';
import { fileSource, shardSiblings, type FileSource } from './file-source.ts';
import { ConfineError, LIMITS, confinedPath, readRegular } from './confine.ts';

export interface OpenedModel {
  model: ImportedModel;
  /** The files read (all shards). */
  files: string[];
  close(): Promise<void>;
}

/**
 * External data must stay inside the model's folder: no absolute paths, no "..", no symlink that
 * points out of it (checked after realpath); only regular files are opened (a FIFO never hangs).
 */
function safeRelative(dir: string, location: string): string {
  const n = normalize(location);
  if (isAbsolute(n) || n === '..' || n.startsWith(`..${sep}`) || n.includes(`${sep}..${sep}`)) {
    throw new FormatError('onnx', `external data location ${JSON.stringify(location)} leaves the model's directory`);
  }
  try {
    return confinedPath(dir, dir, n, 'external data location');
  } catch (e) {
    if (e instanceof ConfineError) throw new FormatError('onnx', e.message);
    throw e;
  }
}

export async function openModelFile(path: string, opts: ImportOptions = {}): Promise<OpenedModel> {
  const opened: FileSource[] = [];
  const open = async (p: string, what?: string) => {
    const s = await fileSource(p, LIMITS.model, what);
    opened.push(s);
    return s;
  };
  const close = async () => void (await Promise.all(opened.map((s) => s.close())));
  // The model's folder: shards, index shards and external data must resolve inside it.
  const dir = dirname(resolve(path));
  try {
    if (path.endsWith('.json')) {
      const text = await readRegular(path, 'index', LIMITS.json);
      const model = await importHfSharded(text, (f) => open(confinedPath(dir, dir, f, 'index shard'), 'index shard'), opts);
      return { model, files: [path, ...opened.map((s) => join(dirname(path), s.name!))], close };
    }
    const first = await open(path);
    const prefix = await first.read(0, Math.min(9, first.size));
    if (looksLikeSafetensors(prefix)) {
      const r = await openSafetensors(first);
      const shards = r.metadata[SLM_KEYS.shards];
      if (r.metadata[SLM_KEYS.format] !== undefined && shards !== undefined && shards !== '1') {
        const paths = shardSiblings(path);
        const sources = [first, ...(await Promise.all(paths.filter((p) => basename(p) !== basename(path)).map((p) => open(p, 'shard'))))];
        return { model: await importSlm(sources, opts), files: paths, close };
      }
    }
    const model = await importFile(first, {
      ...opts,
      external: opts.external ?? ((loc) => open(safeRelative(dir, loc), 'external data file')),
    });
    return { model, files: [path], close };
  } catch (e) {
    await close();
    throw e;
  }
}

export function baseName(path: string): string {
  return basename(path)
    .replace(/(-\d{5}-of-\d{5})?\.(slm|safetensors|onnx)$/, '')
    .replace(/\.safetensors\.index\.json$|\.json$/, '');
}
