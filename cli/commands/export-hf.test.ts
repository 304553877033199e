/**
 * `garden export M --hf OUTDIR`: an exported Hugging Face folder has HF's files and names, shards
 * at the chosen size with a consistent index, a model card; `garden import OUTDIR` reads it back
 * to the same species and byte-identical .slm.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyCheckpoint, type TinyCheckpointOptions } from '../../src/core/models/llama-testing.ts';
import { parseSafetensors } from '../../src/core/format/safetensors.ts';
import { parseHfIndex } from '../../src/core/format/hf-index.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-export-hf-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function imported(o: TinyCheckpointOptions, shards = 1): Promise<{ folder: string; slm: string; files: Map<string, Uint8Array> }> {
  const folder = join(root, `src${n++}`);
  mkdirSync(folder);
  const files = hfFolderFiles(tinyCheckpoint(o), { shards });
  for (const [name, bytes] of files) writeFileSync(join(folder, name), bytes);
  const slm = join(root, `m${n++}.slm`);
  const r = await runGarden('import', folder, '--out', slm);
  expect(r.code, r.err).toBe(0);
  return { folder, slm, files };
}

describe('garden export --hf', () => {
  it('sharded at the chosen size, HF names and index, model card; read back to the same bytes', async () => {
    const { slm, files } = await imported({ architecture: 'LlamaForCausalLM', dtype: 'BF16', llama3Rope: true, layers: 3 });
    const out = join(root, `hf${n++}`);
    const max = 2500;
    const r = await runGarden(
      'export',
      slm,
      '--hf',
      out,
      '--max-shard-bytes',
      String(max),
      '--name',
      'tiny-llama',
      '--base-model',
      'seeded/tiny',
    );
    expect(r.code, r.err).toBe(0);
    const names = readdirSync(out).sort();
    const shards = names.filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(2);
    shards.forEach((f, i) =>
      expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`),
    );
    expect(names).toEqual(
      [
        'README.md',
        'config.json',
        'generation_config.json',
        ...shards,
        'model.safetensors.index.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ].sort(),
    );
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'])
      expect(readFileSync(join(out, f))).toEqual(Buffer.from(files.get(f)!));
    const index = parseHfIndex(readFileSync(join(out, 'model.safetensors.index.json')));
    let total = 0;
    const src = parseSafetensors(files.get('model.safetensors')!).tensors;
    for (const f of shards) {
      const bytes = new Uint8Array(readFileSync(join(out, f)));
      // one tensor alone may exceed the limit; otherwise each shard stays within it
      const parsed = parseSafetensors(bytes);
      if (parsed.tensors.length > 1) expect(bytes.length).toBeLessThanOrEqual(max);
      expect(parsed.metadata).toEqual({ format: 'pt' });
      for (const t of parsed.tensors) {
        expect(index.weightMap.get(t.name)).toBe(f);
        const s = src.find((x) => x.name === t.name)!;
        expect(t.dtype).toBe('BF16');
        expect(Buffer.from(t.data).equals(Buffer.from(s.data))).toBe(true);
        total += t.data.length;
      }
    }
    expect(index.metadata.total_size).toBe(total);
    expect(index.weightMap.size).toBe(src.length);
    const card = readFileSync(join(out, 'README.md'), 'utf8');
    expect(card).toMatch(/^---\n/);
    expect(card).toContain('seeded/tiny');
    expect(card).toContain('# tiny-llama');
    expect(card).toContain('LlamaForCausalLM');

    const again = join(root, `again${n++}.slm`);
    const r2 = await runGarden('import', out, '--out', again);
    expect(r2.code, r2.err).toBe(0);
    expect(readFileSync(again)).toEqual(readFileSync(slm));
  });

  it('one shard is model.safetensors without an index; Qwen2 biases and tied head survive the round trip', async () => {
    const { slm } = await imported({ architecture: 'Qwen2ForCausalLM', tied: true }, 2);
    const out = join(root, `hf${n++}`);
    expect((await runGarden('export', slm, '--hf', out)).code).toBe(0);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(false);
    const t = parseSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors')))).tensors.map((x) => x.name);
    expect(t).toContain('model.layers.1.self_attn.v_proj.bias');
    expect(t).not.toContain('lm_head.weight');
    const again = join(root, `again${n++}.slm`);
    expect((await runGarden('import', out, '--out', again)).code).toBe(0);
    expect(readFileSync(again)).toEqual(readFileSync(slm));
    const a = await runGarden('generate', slm, '--ids', '0,4,8', '--max-new', '5', '--json', '--runtime', 'reference');
    const b = await runGarden('generate', out, '--ids', '0,4,8', '--max-new', '5', '--json', '--runtime', 'reference');
    expect(b.out).toBe(a.out);
  });

  it('a .slm read by byte range exports the same bytes as its source folder read tensor by tensor', async () => {
    const { folder, slm } = await imported({ architecture: 'MistralForCausalLM', dtype: 'F16', layers: 2 });
    const fromSlm = join(root, `hf${n++}`);
    const fromFolder = join(root, `hf${n++}`);
    expect((await runGarden('export', slm, '--hf', fromSlm, '--max-shard-bytes', '3000')).code).toBe(0);
    expect((await runGarden('export', folder, '--hf', fromFolder, '--max-shard-bytes', '3000')).code).toBe(0);
    const names = readdirSync(fromSlm).sort();
    expect(names.filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(1);
    expect(readdirSync(fromFolder).sort()).toEqual(names);
    for (const f of names.filter((x) => x !== 'README.md'))
      expect(readFileSync(join(fromSlm, f))).toEqual(readFileSync(join(fromFolder, f)));
  });

  it('a .slm whose tensor bytes were changed is refused, nothing written', async () => {
    const { slm } = await imported({ layers: 2 });
    const bytes = readFileSync(slm);
    bytes[bytes.length - 5] ^= 0x40;
    const bad = join(root, `bad${n++}.slm`);
    writeFileSync(bad, bytes);
    const out = join(root, `hf${n++}`);
    const r = await runGarden('export', bad, '--hf', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/content hash|bytes were changed/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('refuses a non-empty OUTDIR and a model that is not a causal LM, writing nothing', async () => {
    const { slm } = await imported({});
    const out = join(root, `hf${n++}`);
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'x');
    const r = await runGarden('export', slm, '--hf', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not empty/);
    expect(readdirSync(out)).toEqual(['keep.txt']);
    // a plain .slm without config.json in its metadata
    const plain = join(root, `plain${n++}`);
    const imp = await runGarden('import', join(root, `src0`, 'model.safetensors'), '--out', plain);
    expect(imp.code, imp.err).toBe(0);
    const out2 = join(root, `hf${n++}`);
    const r2 = await runGarden('export', join(plain, 'model.slm'), '--hf', out2);
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/config check failed.*not imported from a Hugging Face folder/);
    expect(existsSync(out2) ? readdirSync(out2) : []).toEqual([]);
    expect(statSync(slm).isFile()).toBe(true);
  });
});
