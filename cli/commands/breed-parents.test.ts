/**
 * `garden breed` takes its parents as mergekit does: plain safetensors files, sharded models (a
 * .slm shard or a Hugging Face index) and Hugging Face folders, with no `garden import` step. Each
 * is imported in memory exactly as `garden import` writes it, so the candidate's bytes equal a
 * breed of the imported .slm files.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGarden } from '../test-run.ts';
import { fineTuned, hfFolderFiles, tinyCheckpoint, type TinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { serializeSafetensors } from '../../src/core/format/safetensors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { randomModel } from '../../src/core/operators/test-data.ts';

const root = mkdtempSync(join(tmpdir(), 'garden-breed-parents-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const p = join(root, name);
  writeFileSync(p, bytes);
  return p;
}

async function breedHash(
  name: string,
  operator: string,
  params: Record<string, unknown>,
  base: string | null,
  parents: string[],
): Promise<{ code: number; err: string; hash?: string }> {
  const recipe = join(root, `${name}.json`);
  writeFileSync(
    recipe,
    JSON.stringify({
      kind: 'recipe',
      schemaVersion: 1,
      operator,
      params,
      seed: 3,
      ...(base ? { base: { path: base } } : {}),
      parents: parents.map((path) => ({ path })),
      output: { path: `${name}.slm` },
    }),
  );
  const r = await runGarden('breed', recipe, '--threads', '0');
  if (r.code !== 0) return { code: r.code, err: r.err };
  return { code: 0, err: r.err, hash: sha256Hex(new Uint8Array(readFileSync(join(root, `${name}.slm`)))) };
}

async function gardenImport(file: string, out: string, ...extra: string[]): Promise<void> {
  const r = await runGarden('import', file, '--out', out, ...extra);
  expect(r.code, r.err).toBe(0);
}

describe('breed parents as mergekit gives them', () => {
  it('plain safetensors parents breed the same bytes as their imported .slm', async () => {
    for (const seed of [1, 2, 3]) write(`plain${seed}.safetensors`, serializeSafetensors(randomModel(seed), { format: 'pt' }));
    const direct = await breedHash('from-plain', 'ties', { density: 0.5 }, 'plain1.safetensors', [
      'plain2.safetensors',
      'plain3.safetensors',
    ]);
    expect(direct.code, direct.err).toBe(0);
    for (const seed of [1, 2, 3]) await gardenImport(join(root, `plain${seed}.safetensors`), join(root, 'imported'));
    const viaImport = await breedHash('from-imported', 'ties', { density: 0.5 }, 'imported/plain1.slm', [
      'imported/plain2.slm',
      'imported/plain3.slm',
    ]);
    expect(viaImport.code, viaImport.err).toBe(0);
    expect(direct.hash).toBe(viaImport.hash);
  });

  it('garden bundle C.slm finds the records breed wrote beside it, and verify reproduces from the plain safetensors parents', async () => {
    const key = join(root, 'k.jwk');
    const b = await runGarden('bundle', join(root, 'from-plain.slm'), '--key', key, '--out', join(root, 'b.json'));
    expect(b.code, b.err).toBe(0);
    const pub = await runGarden('key', key, '--public');
    writeFileSync(join(root, 'pub.jwk'), pub.out);
    mkdirSync(join(root, 'parents-dir'));
    for (const seed of [1, 2, 3])
      writeFileSync(join(root, 'parents-dir', `plain${seed}.safetensors`), readFileSync(join(root, `plain${seed}.safetensors`)));
    const v = await runGarden('verify', join(root, 'b.json'), '--trust', join(root, 'pub.jwk'), '--parents', join(root, 'parents-dir'));
    expect(v.code, v.err).toBe(0);
    expect(v.out).toContain('reproduced: identical hash');
  });

  it('a .slm that garden import split into shards is a parent through any of its shards', async () => {
    const big = write('big.safetensors', serializeSafetensors(randomModel(4, 64, 32)));
    write('other.safetensors', serializeSafetensors(randomModel(5, 64, 32)));
    await gardenImport(big, join(root, 'sharded'), '--max-shard-bytes', '9000');
    const shards = readdirSync(join(root, 'sharded'))
      .filter((f) => f.endsWith('.slm'))
      .sort();
    expect(shards.length).toBeGreaterThan(1);
    await gardenImport(big, join(root, 'whole'));
    const a = await breedHash('sharded-child', 'blend', { weights: [1, 2] }, null, [`sharded/${shards[1]}`, 'other.safetensors']);
    const b = await breedHash('whole-child', 'blend', { weights: [1, 2] }, null, ['whole/big.slm', 'other.safetensors']);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    expect(a.hash).toBe(b.hash);
  });

  it('Hugging Face folders (single file and sharded with an index) are parents and base', async () => {
    const base = tinyCheckpoint({ architecture: 'Qwen2ForCausalLM', dtype: 'BF16', scale: 1 });
    const tune = (seed: number): TinyCheckpoint => fineTuned(base, seed, 0.1);
    const folders: [string, TinyCheckpoint, number][] = [
      ['hf-base', base, 1],
      ['hf-a', tune(5), 2],
      ['hf-b', tune(6), 1],
    ];
    for (const [name, ck, shards] of folders) {
      mkdirSync(join(root, name));
      for (const [f, bytes] of hfFolderFiles(ck, { shards })) writeFileSync(join(root, name, f), bytes);
    }
    const direct = await breedHash('hf-direct', 'task-delta', { lambda: 0.5 }, 'hf-base', ['hf-a', 'hf-b']);
    expect(direct.code, direct.err).toBe(0);
    for (const [name] of folders) await gardenImport(join(root, name), join(root, `${name}.slm`));
    const viaImport = await breedHash('hf-imported', 'task-delta', { lambda: 0.5 }, 'hf-base.slm', ['hf-a.slm', 'hf-b.slm']);
    expect(direct.hash).toBe(viaImport.hash);
  });

  it('a folder that is not a model folder is refused in one line naming the parent', async () => {
    mkdirSync(join(root, 'empty'));
    const r = await breedHash('bad', 'blend', {}, null, ['empty', 'plain2.safetensors']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^garden breed: parent 0 \(.*empty\): config check failed: the folder has no config.json$/);
  });
});
