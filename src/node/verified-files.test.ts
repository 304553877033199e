import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifiedFiles, verifiedFilesDir } from './verified-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'verified-files-'));
const h1 = '1'.repeat(64);
const h2 = '2'.repeat(64);

describe('verifiedFiles', () => {
  it('expects a recorded file’s hash while the file is unchanged, and a pinned hash only when it was recorded', async () => {
    const cache = join(dir, 'c1');
    const f = join(dir, 'a.slm');
    writeFileSync(f, 'abc');
    const memo = verifiedFiles(cache);
    expect(await memo.expected(f)).toBeNull();
    await memo.record([{ path: f, hash: h1 }]);
    // A second process reads it from disk.
    const again = verifiedFiles(cache);
    expect(await again.expected(f)).toBe(h1);
    expect(await again.expected(join(dir, 'missing.slm'))).toBeNull();
    expect(await again.expected(f, h1)).toBe(h1);
    expect(await again.expected(f, h2)).toBeNull();
    expect(await again.expected(f, 'not a hash')).toBeNull();
    expect(JSON.parse(readFileSync(join(cache, 'verified.json'), 'utf8')).version).toBe(1);
  });

  it('does not expect the old hash of a file rewritten in place, even with its size and modification time put back', async () => {
    const cache = join(dir, 'c2');
    const f = join(dir, 'b.slm');
    writeFileSync(f, 'abc');
    // A whole second, which utimes sets exactly (so only the change time can tell the files apart).
    utimesSync(f, 1e9, 1e9);
    const memo = verifiedFiles(cache);
    await memo.record([{ path: f, hash: h1 }]);
    const mtimeNs = statSync(f, { bigint: true }).mtimeNs;
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(f, 'abd');
    utimesSync(f, 1e9, 1e9);
    expect(statSync(f, { bigint: true }).mtimeNs).toBe(mtimeNs);
    expect(await verifiedFiles(cache).expected(f)).toBeNull();
  });

  it('is off with GARDEN_CACHE=off, and ignores a memo it cannot read', async () => {
    expect(verifiedFilesDir({ GARDEN_CACHE: 'off' })).toBeNull();
    expect(verifiedFilesDir({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'slm-garden'));
    const off = verifiedFiles(null);
    const f = join(dir, 'c.slm');
    writeFileSync(f, 'abc');
    await off.record([{ path: f, hash: h1 }]);
    expect(await off.expected(f, h1)).toBeNull();
    const cache = join(dir, 'c3');
    await verifiedFiles(cache).record([{ path: f, hash: h1 }]);
    writeFileSync(join(cache, 'verified.json'), '{"version": 1, "files": ');
    expect(await verifiedFiles(cache).expected(f)).toBeNull();
  });
});
