/**
 * `garden import DIR --out M.slm` on tiny seeded Hugging Face folders of each architecture, and one
 * refusal per check, each writing nothing.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { hfFolderFiles, tinyCheckpoint, type TinyCheckpoint, type TinyCheckpointOptions } from '../../src/core/models/llama-testing.ts';
import { causalLmFromModel, HF_KEYS } from '../../src/core/format/hf.ts';
import { serializeSafetensors } from '../../src/core/format/safetensors.ts';
import { loadTensors } from '../../src/core/format/model.ts';
import { openModelFile } from '../../src/node/model-files.ts';
import { fromFloat32 } from '../../src/core/tensor.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-hf-import-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** Write a folder; `edit` may change the files before they are written. */
export function writeFolder(files: Map<string, Uint8Array>, dir = join(root, `m${n++}`)): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
  return dir;
}

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

function folder(o: TinyCheckpointOptions = {}, shards = 1, edit?: (files: Map<string, Uint8Array>, ck: TinyCheckpoint) => void): string {
  const ck = tinyCheckpoint(o);
  const files = hfFolderFiles(ck, { shards });
  edit?.(files, ck);
  return writeFolder(files);
}

async function refused(dir: string, check: string, words: RegExp): Promise<void> {
  const out = join(root, `out${n++}`, 'm.slm');
  const r = await runGarden('import', dir, '--out', out);
  expect(r.code, r.out).toBe(1);
  expect(r.err.split('\n')).toHaveLength(1);
  expect(r.err).toContain(`${check} check failed`);
  expect(r.err).toMatch(words);
  expect(existsSync(join(out, '..')) ? readdirSync(join(out, '..')) : []).toEqual([]);
}

describe('garden import DIR (Hugging Face folder)', () => {
  const cases: [string, TinyCheckpointOptions, number][] = [
    ['Llama, GQA, F32, separate head', { architecture: 'LlamaForCausalLM' }, 1],
    ['Llama 3 rope, BF16, tied, 3 shards', { architecture: 'LlamaForCausalLM', dtype: 'BF16', tied: true, llama3Rope: true }, 3],
    ['Mistral, F16, sliding window', { architecture: 'MistralForCausalLM', dtype: 'F16', slidingWindow: 3 }, 2],
    ['Qwen2, q/k/v biases, tied', { architecture: 'Qwen2ForCausalLM', tied: true }, 1],
  ];
  for (const [what, o, shards] of cases) {
    it(`${what}: tensors kept in their dtype, bytes identical, config and tokenizer carried`, async () => {
      const ck = tinyCheckpoint(o);
      const dir = writeFolder(hfFolderFiles(ck, { shards }));
      const out = join(root, `out${n++}`, 'model.slm');
      const r = await runGarden('import', dir, '--out', out);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(o.architecture!);
      const opened = await openModelFile(out);
      try {
        const lm = causalLmFromModel(opened.model);
        expect(lm.config.architecture).toBe(o.architecture);
        const back = await loadTensors(opened.model);
        expect(back.map((t) => t.name)).toEqual(ck.tensors.map((t) => t.name).sort());
        for (const t of back) {
          const src = ck.tensors.find((x) => x.name === t.name)!;
          expect(t.dtype).toBe(o.dtype ?? 'F32');
          expect(Buffer.from(t.data).equals(Buffer.from(src.data))).toBe(true);
        }
        expect(opened.model.metadata[HF_KEYS.config]).toBe(new TextDecoder().decode(hfFolderFiles(ck).get('config.json')));
        if (o.architecture === 'Qwen2ForCausalLM') expect(back.some((t) => t.name === 'model.layers.0.self_attn.q_proj.bias')).toBe(true);
        if (o.tied) expect(back.some((t) => t.name === 'lm_head.weight')).toBe(false);
      } finally {
        await opened.close();
      }
    });
  }

  it('one .slm by default; --max-shard-bytes gives .slm shards that read back as the same causal LM', async () => {
    const ck = tinyCheckpoint({ dtype: 'BF16' });
    const dir = writeFolder(hfFolderFiles(ck, { shards: 2 }));
    const outDir = join(root, `out${n++}`);
    expect((await runGarden('import', dir, '--out', join(outDir, 'one.slm'))).code).toBe(0);
    const r = await runGarden('import', dir, '--out', join(outDir, 'many.slm'), '--max-shard-bytes', '20000');
    expect(r.code, r.err).toBe(0);
    const shards = readdirSync(outDir)
      .filter((f) => f.startsWith('many-'))
      .sort();
    expect(readdirSync(outDir).filter((f) => f.startsWith('one'))).toEqual(['one.slm']);
    expect(shards.length).toBeGreaterThan(1);
    const opened = await openModelFile(join(outDir, shards[0]));
    try {
      const lm = causalLmFromModel(opened.model);
      expect(lm.model.tensors).toHaveLength(ck.tensors.length);
      for (const t of await loadTensors(opened.model))
        expect(Buffer.from(t.data).equals(Buffer.from(ck.tensors.find((x) => x.name === t.name)!.data))).toBe(true);
    } finally {
      await opened.close();
    }
  });

  it('the species binds the config and the tokenizer: another rope_theta or tokenizer gives another species', async () => {
    const species = async (dir: string) => {
      const out = join(root, `out${n++}`, 'x.slm');
      const r = await runGarden('import', dir, '--out', out);
      expect(r.code, r.err).toBe(0);
      return /species ([0-9a-f]{64})/.exec(r.out)![1];
    };
    const base = await species(folder());
    expect(await species(folder())).toBe(base);
    const theta = await species(
      folder({}, 1, (f) => {
        const c = JSON.parse(new TextDecoder().decode(f.get('config.json')));
        f.set('config.json', json({ ...c, rope_theta: 500000 }));
      }),
    );
    expect(theta).not.toBe(base);
    const tok = await species(
      folder({}, 1, (f) => {
        const t = JSON.parse(new TextDecoder().decode(f.get('tokenizer.json')));
        t.model.merges = t.model.merges.slice(0, -1);
        f.set('tokenizer.json', json(t));
      }),
    );
    expect(tok).not.toBe(base);
  });

  it('a .slm whose carried config was edited is refused on read (architecture hash)', async () => {
    const dir = folder();
    const out = join(root, `out${n++}`, 'x.slm');
    expect((await runGarden('import', dir, '--out', out)).code).toBe(0);
    const opened = await openModelFile(out);
    try {
      const m = opened.model;
      const c = JSON.parse(m.metadata[HF_KEYS.config]);
      const tampered = { ...m, metadata: { ...m.metadata, [HF_KEYS.config]: JSON.stringify({ ...c, rms_norm_eps: 1e-3 }) } };
      expect(() => causalLmFromModel(tampered)).toThrow(/species check failed.*architecture hash/);
    } finally {
      await opened.close();
    }
  });

  it('refuses an unsupported architecture, naming the supported ones', async () => {
    await refused(
      folder({}, 1, (f) =>
        f.set(
          'config.json',
          json({ ...JSON.parse(new TextDecoder().decode(f.get('config.json'))), architectures: ['GPTNeoXForCausalLM'] }),
        ),
      ),
      'architecture',
      /GPTNeoXForCausalLM.*LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/,
    );
  });

  it('refuses a missing shard', async () => {
    await refused(
      folder({}, 3, (f) => f.delete('model-00002-of-00003.safetensors')),
      'shards',
      /model-00002-of-00003.safetensors.*missing/,
    );
  });

  it('refuses an extra shard', async () => {
    await refused(
      folder({}, 2, (f) => f.set('model-00003-of-00003.safetensors', serializeSafetensors([fromFloat32('x', [1], new Float32Array(1))]))),
      'shards',
      /model-00003-of-00003.safetensors.*extra shard/,
    );
  });

  it('refuses an index that disagrees with its shards', async () => {
    await refused(
      folder({}, 2, (f) => {
        const idx = JSON.parse(new TextDecoder().decode(f.get('model.safetensors.index.json')));
        idx.weight_map['model.norm.weight'] =
          idx.weight_map['model.norm.weight'] === 'model-00001-of-00002.safetensors'
            ? 'model-00002-of-00002.safetensors'
            : 'model-00001-of-00002.safetensors';
        f.set('model.safetensors.index.json', json(idx));
      }),
      'index',
      /model\.norm\.weight/,
    );
  });

  it('refuses a config that disagrees with a tensor shape', async () => {
    await refused(
      folder({}, 1, (f) => {
        const c = JSON.parse(new TextDecoder().decode(f.get('config.json')));
        f.set('config.json', json({ ...c, intermediate_size: 32 }));
      }),
      'config',
      /mlp\.(gate|up|down)_proj\.weight.*intermediate_size 32/,
    );
  });

  it('refuses a config with more layers than the tensors have', async () => {
    await refused(
      folder({}, 1, (f) => {
        const c = JSON.parse(new TextDecoder().decode(f.get('config.json')));
        f.set('config.json', json({ ...c, num_hidden_layers: 3 }));
      }),
      'config',
      /model\.layers\.2\..*missing/,
    );
  });

  it('refuses absurd sizes before building anything from them (num_hidden_layers 10⁹, hidden_size 2⁴⁰)', async () => {
    for (const [key, v] of [
      ['num_hidden_layers', 1e9],
      ['hidden_size', 2 ** 40],
      ['vocab_size', 2 ** 30],
    ] as const) {
      await refused(
        folder({}, 1, (f) => {
          const c = JSON.parse(new TextDecoder().decode(f.get('config.json')));
          f.set('config.json', json({ ...c, [key]: v }));
        }),
        'config',
        new RegExp(`${key} ${v} is over the ceiling`),
      );
    }
  });

  it('refuses a folder without a tokenizer', async () => {
    await refused(
      folder({}, 1, (f) => f.delete('tokenizer.json')),
      'tokenizer',
      /no tokenizer\.json/,
    );
  });

  it('refuses an unsupported dtype', async () => {
    await refused(
      folder({}, 1, (f, ck) => {
        const ts = ck.tensors.map((t) =>
          t.name === 'model.norm.weight' ? { ...t, dtype: 'U8' as const, data: new Uint8Array(t.shape[0]) } : t,
        );
        f.set('model.safetensors', serializeSafetensors(ts));
      }),
      'dtype',
      /model\.norm\.weight.*U8.*F32, F16, BF16/,
    );
  });

  it('a folder whose file names escape it is refused (symlink out of the folder)', async () => {
    const dir = folder();
    const outside = join(root, `outside${n++}.json`);
    writeFileSync(outside, readFileSync(join(dir, 'tokenizer.json')));
    rmSync(join(dir, 'tokenizer.json'));
    const { symlinkSync } = await import('node:fs');
    symlinkSync(outside, join(dir, 'tokenizer.json'));
    const out = join(root, `out${n++}`, 'm.slm');
    const r = await runGarden('import', dir, '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/outside/);
    expect(existsSync(out)).toBe(false);
  });
});
