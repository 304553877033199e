/**
 * The text playground's folder reading (src/app/text.ts) on picked files: the core importer's
 * checks and the summary shown before anything is stored.
 */
import { describe, expect, it } from 'vitest';
import { checkTextFolder, folderName, folderOfFiles } from './text.ts';
import { hfFolderFiles, tinyCheckpoint } from '../core/models/llama-testing.ts';
import { tokenizerHash } from '../core/models/tokenizer.ts';

const ckpt = tinyCheckpoint({ architecture: 'Qwen2ForCausalLM', dtype: 'F16', tied: true, seed: 3 });

/** The folder's files as a folder pick gives them (webkitRelativePath "dir/name"). */
function picked(files: Map<string, Uint8Array>, dir = 'qwen-tiny'): File[] {
  return [...files].map(([name, bytes]) => {
    const f = new File([bytes as BlobPart], name);
    Object.defineProperty(f, 'webkitRelativePath', { value: `${dir}/${name}` });
    return f;
  });
}

describe('text playground folders', () => {
  it('summarizes a sharded folder as the core reads it', async () => {
    const files = hfFolderFiles(ckpt, { shards: 2 });
    const c = await checkTextFolder(picked(files));
    expect(c.refused).toBeNull();
    const s = c.summary!;
    const params = ckpt.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    expect(s).toMatchObject({ name: 'qwen-tiny', architecture: 'Qwen2ForCausalLM', layers: 2, dtypes: ['F16'], params, bytes: 2 * params });
    expect(s.tensors).toBe(ckpt.tensors.length);
    const dec = new TextDecoder();
    expect(s.tokenizerHash).toBe(
      tokenizerHash({ tokenizer: dec.decode(files.get('tokenizer.json')), config: dec.decode(files.get('tokenizer_config.json')) }),
    );
    expect(s.files).toEqual([...files.keys()].sort());
  });

  it('refuses with the core importer’s one-line reasons', async () => {
    const missing = hfFolderFiles(ckpt, { shards: 2 });
    missing.delete('model-00001-of-00002.safetensors');
    expect((await checkTextFolder(picked(missing))).refused).toMatch(/shard "model-00001-of-00002.safetensors" .* is missing/);
    const noTokenizer = hfFolderFiles(ckpt);
    noTokenizer.delete('tokenizer.json');
    expect((await checkTextFolder(picked(noTokenizer))).refused).toContain('no tokenizer.json');
    expect((await checkTextFolder([])).refused).toContain('no file was given');
  });

  it('takes plain names and refuses two files of one name', () => {
    const [a] = picked(hfFolderFiles(ckpt), 'one');
    const [b] = picked(hfFolderFiles(ckpt), 'two');
    expect(folderOfFiles([a]).files).toEqual(['config.json']);
    expect(() => folderOfFiles([a, b])).toThrow('two files are named "config.json"');
    expect(folderName([new File([], 'config.json')])).toBe('Text model of 1 file');
  });
});
