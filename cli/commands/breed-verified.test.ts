/**
 * garden breed with the memo of checked files (src/node/verified-files.ts): a parent bred before
 * is hashed as a file only, the candidate is the same, and a parent changed in place since (its
 * size and modification time put back) is still checked in full and refused. A parent whose
 * file is unchanged since a safe look (RACY_NS after its last change) is not hashed at all, unless
 * --rehash.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import command from './breed.ts';
import importCommand from './import.ts';
import { serializeSafetensors } from '../../src/core/format/safetensors.ts';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { randomModel } from '../../src/core/operators/test-data.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { RACY_NS, verifiedFiles } from '../../src/node/verified-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'garden-breed-verified-'));
const cache = join(dir, 'cache');
const before = process.env.GARDEN_CACHE;
process.env.GARDEN_CACHE = cache;
afterAll(() => {
  process.env.GARDEN_CACHE = before;
  rmSync(dir, { recursive: true, force: true });
});

const names = [21, 22, 23].map((seed) => {
  const tensors = randomModel(seed, 300, 200, 10);
  const bytes = writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a'])), graph: '', vocabulary: ['a'] });
  writeFileSync(join(dir, `v${seed}.slm`), bytes);
  return `v${seed}.slm`;
});

async function breed(
  out: string,
  parents: readonly string[] = names,
  args: readonly string[] = [],
): Promise<{ code: number; json: { candidate: string; hashBytes: number; inputs: string[] } }> {
  const r = join(dir, 'ties.json');
  writeFileSync(
    r,
    JSON.stringify({
      kind: 'recipe',
      schemaVersion: 1,
      operator: 'ties',
      params: { density: 0.3 },
      seed: 7,
      base: { path: parents[0] },
      parents: parents.slice(1).map((path) => ({ path })),
      output: { path: 'x.slm' },
    }),
  );
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const code = await command.run([r, '--json', '--threads', '2', '--out', join(dir, out), ...args]);
    return { code, json: JSON.parse(lines.join('\n')) };
  } finally {
    spy.mockRestore();
  }
}

describe('garden breed with the memo of checked files', () => {
  it('hashes parents it has checked before as files only, with the same candidate', async () => {
    const first = await breed('first.slm');
    expect(first.code).toBe(0);
    const memo = JSON.parse(readFileSync(join(cache, 'verified.json'), 'utf8'));
    // The three parents and the candidate.
    expect(Object.keys(memo.files)).toEqual(expect.arrayContaining([...first.json.inputs, first.json.candidate]));
    const second = await breed('second.slm');
    expect(second.json.candidate).toBe(first.json.candidate);
    const parentBytes = names.reduce((a, n) => a + statSync(join(dir, n)).size, 0);
    // Each parent byte hashed once (its file hash) instead of twice (file and tensor hashes).
    expect(first.json.hashBytes - second.json.hashBytes).toBeGreaterThanOrEqual(parentBytes - 4096 * names.length);
  });

  it('remembers what garden import writes: its output is expected unchanged, by its file hash', async () => {
    const src = join(dir, 'plain.safetensors');
    writeFileSync(src, serializeSafetensors(randomModel(31)));
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await importCommand.run([src, '--out', join(dir, 'imported')])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const out = join(dir, 'imported', 'plain.slm');
    expect(await verifiedFiles(cache).expected(out)).toBe(sha256Hex(new Uint8Array(readFileSync(out))));
  });

  it('checks in full, and refuses, a parent changed in place since (size and modification time put back)', async () => {
    const p = join(dir, names[1]);
    const bytes = readFileSync(p);
    const { atime, mtime } = statSync(p);
    const changed = new Uint8Array(bytes);
    changed[changed.length - 1] ^= 1; // the last tensor's last byte
    writeFileSync(p, changed);
    utimesSync(p, atime, mtime);
    const refused = /parent 0 .*content-hash check failed: tensor "[^"]+" hashes to/;
    // The change time moved: the memo expects nothing of it, and its tensors are checked as they are read.
    await expect(breed('third.slm')).rejects.toThrow(refused);
    expect(existsSync(join(dir, 'third.slm'))).toBe(false);
    // A memo whose hint matches the changed file but names the old hash (as a forged change time
    // would): the file hash differs from the one expected, so the parent is checked in full.
    await verifiedFiles(cache).record([{ path: p, hash: sha256Hex(new Uint8Array(bytes)) }]);
    expect(await verifiedFiles(cache).expected(p)).toBe(sha256Hex(new Uint8Array(bytes)));
    await expect(breed('fourth.slm')).rejects.toThrow(refused);
    expect(existsSync(join(dir, 'fourth.slm'))).toBe(false);
    writeFileSync(p, bytes);
    expect(readSlm(new Uint8Array(readFileSync(p))).tensors.length).toBeGreaterThan(0);
  });

  it('does not hash a parent unchanged since a safe look, hashes it with --rehash, and checks it once it changed', async () => {
    const parents = [24, 25, 26].map((seed) => {
      const tensors = randomModel(seed, 300, 200, 10);
      const bytes = writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a'])), graph: '', vocabulary: ['a'] });
      writeFileSync(join(dir, `k${seed}.slm`), bytes);
      return `k${seed}.slm`;
    });
    // A breed's own look, taken RACY_NS after the parents' last change, makes them known.
    await new Promise((r) => setTimeout(r, Number(RACY_NS / 1_000_000n) + 50));
    const first = await breed('k-first.slm', parents);
    expect(first.code).toBe(0);
    for (const [i, n] of parents.entries()) expect(await verifiedFiles(cache).known(join(dir, n))).toBe(first.json.inputs[i]);
    const parentBytes = parents.reduce((a, n) => a + statSync(join(dir, n)).size, 0);
    const outBytes = statSync(join(dir, 'k-first.slm')).size;
    const second = await breed('k-second.slm', parents);
    expect(second.json.candidate).toBe(first.json.candidate);
    expect(second.json.inputs).toEqual(first.json.inputs);
    // Only the candidate is hashed (its tensors as written, then its file) and the small manifests: no parent (~250 KB each).
    expect(second.json.hashBytes).toBeLessThan(2 * outBytes + 65536);
    expect(second.json.hashBytes).toBeGreaterThanOrEqual(2 * outBytes - 2 * 4096);
    // The breed kept them known.
    for (const [i, n] of parents.entries()) expect(await verifiedFiles(cache).known(join(dir, n))).toBe(first.json.inputs[i]);
    // --rehash: every parent byte hashed twice (its file and its tensors), the same candidate.
    const rehashed = await breed('k-third.slm', parents, ['--rehash']);
    expect(rehashed.json.candidate).toBe(first.json.candidate);
    expect(rehashed.json.hashBytes).toBeGreaterThanOrEqual(2 * parentBytes - 2 * 4096 * parents.length + 2 * outBytes - 2 * 4096);
    // Rewritten in place, modification time put back: the change time moved, so it is hashed and refused.
    const p = join(dir, parents[2]);
    const { atime, mtime } = statSync(p);
    const changed = new Uint8Array(readFileSync(p));
    changed[changed.length - 1] ^= 1;
    writeFileSync(p, changed);
    utimesSync(p, atime, mtime);
    await expect(breed('k-fourth.slm', parents)).rejects.toThrow(/parent 1 .*content-hash check failed/);
    expect(existsSync(join(dir, 'k-fourth.slm'))).toBe(false);
  });
});
