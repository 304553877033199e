/**
 * A Hugging Face model folder on disk as the core importer sees it (src/core/format/hf.ts): its
 * regular files by plain name, each opened through the CLI's confinement (inside the folder after
 * realpath, regular files only, bounded reads).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../core/format/errors.ts';
import {
  causalLmFromModel,
  hfLmFromModel,
  importHfFolder,
  importHfModel,
  type CausalLm,
  type HfFolder,
  type HfLm,
} from '../core/format/hf.ts';
import { fileSource, type FileSource } from './file-source.ts';
import { ConfineError, LIMITS, confinedPath, readRegular } from './confine.ts';
import { openModelFile } from './model-files.ts';
import type { ImportedModel } from '../core/format/model.ts';

/** tokenizer.json of a large vocabulary runs to tens of MB (Llama 3's is about 9 MB). */
export const HF_TEXT_MAX = 64 * 1024 * 1024;

export function isHfFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface OpenedHfFolder extends HfFolder {
  dir: string;
  close(): Promise<void>;
}

export function openHfFolderOnDisk(dir: string): OpenedHfFolder {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new ConfineError(`cannot list ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const opened: FileSource[] = [];
  const inside = (file: string) => {
    try {
      return confinedPath(dir, dir, file, 'model file');
    } catch (e) {
      if (e instanceof ConfineError) throw new FormatError('shards', e.message);
      throw e;
    }
  };
  return {
    dir,
    files: names.sort(),
    async open(file) {
      const s = await fileSource(inside(file), LIMITS.model, 'model file');
      opened.push(s);
      return s;
    },
    async readText(file) {
      const bytes = await readRegular(inside(file), file, file.endsWith('.index.json') ? LIMITS.json : HF_TEXT_MAX);
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw new FormatError(file === 'tokenizer.json' ? 'tokenizer' : 'config', `${file} is not valid UTF-8`);
      }
    },
    close: async () => void (await Promise.all(opened.map((s) => s.close()))),
  };
}

/** A Llama-family causal LM from an HF folder or a `.slm` that carries one; close() releases its files. */
export async function openCausalLm(path: string): Promise<{ lm: CausalLm; close(): Promise<void> }> {
  return openLm(path, importHfFolder, causalLmFromModel);
}

/** Any supported causal LM (the Llama family or GPT-2) from an HF folder or a `.slm`. */
export async function openHfLm(path: string): Promise<{ lm: HfLm; close(): Promise<void> }> {
  return openLm(path, importHfModel, hfLmFromModel);
}

async function openLm<L>(
  path: string,
  fromFolder: (f: HfFolder) => Promise<L>,
  fromModel: (m: ImportedModel) => L,
): Promise<{ lm: L; close(): Promise<void> }> {
  if (isHfFolder(path)) {
    const folder = openHfFolderOnDisk(join(path));
    try {
      return { lm: await fromFolder(folder), close: folder.close };
    } catch (e) {
      await folder.close();
      throw e;
    }
  }
  const opened = await openModelFile(path);
  try {
    return { lm: fromModel(opened.model), close: opened.close };
  } catch (e) {
    await opened.close();
    throw e;
  }
}
