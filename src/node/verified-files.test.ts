import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RACY_NS, verifiedFiles, verifiedFilesDir, type FileLook } from './verified-files.ts';

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

  it('knows a file’s hash without reading it only when the look before its hashing was safe and the file is unchanged since', async () => {
    const cache = join(dir, 'c4');
    const f = join(dir, 'd.slm');
    writeFileSync(f, 'abc');
    const memo = verifiedFiles(cache);
    const look = (await memo.look(f))!;
    expect(look.hint.size).toBe('3');
    // Hashed right after its last change: a change in the same timestamp granule could follow unseen.
    await memo.record([{ path: f, hash: h1, before: look }]);
    expect(await memo.expected(f)).toBe(h1);
    expect(await memo.known(f)).toBeNull();
    // Without a look before the hashing (garden import's own output): expected, never known.
    await memo.record([{ path: f, hash: h1 }]);
    expect(await memo.known(f)).toBeNull();
    // The same look, taken RACY_NS after the last change (as a breed of an older file takes it), less a nanosecond: not known.
    const last = [look.hint.mtimeNs, look.hint.ctimeNs].map(BigInt).reduce((a, b) => (a > b ? a : b));
    const later: FileLook = { ...look, atNs: last + RACY_NS };
    await memo.record([{ path: f, hash: h1, before: { ...later, atNs: later.atNs - 1n } }]);
    expect(await verifiedFiles(cache).known(f)).toBeNull();
    // RACY_NS after: known.
    await memo.record([{ path: f, hash: h1, before: later }]);
    expect(await verifiedFiles(cache).known(f)).toBe(h1);
    expect(await verifiedFiles(cache).known(f, h1)).toBe(h1);
    expect(await verifiedFiles(cache).known(f, h2)).toBeNull();
    // Recorded again by a breed that took it as known (its look just now, the stat the same): still known.
    await memo.record([{ path: f, hash: h1, before: look }]);
    expect(await verifiedFiles(cache).known(f)).toBe(h1);
    // Recorded with another hash for the same stat (only a forged memo does that): not known.
    await memo.record([{ path: f, hash: h2 }]);
    expect(await verifiedFiles(cache).known(f)).toBeNull();
    // Changed between the look and the record (while it was hashed): not known, not even expected by that hint.
    await memo.record([{ path: f, hash: h1, before: later }]);
    expect(await memo.known(f)).toBe(h1);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(f, 'abd');
    expect(await memo.known(f)).toBeNull();
    await memo.record([{ path: f, hash: h2, before: later }]);
    expect(await memo.known(f)).toBeNull();
    expect(await memo.expected(f)).toBe(h2);
    // Another path's look does not make this one known.
    const g = join(dir, 'e.slm');
    writeFileSync(g, 'abd');
    const other = (await memo.look(g))!;
    await memo.record([{ path: f, hash: h2, before: { ...other, atNs: BigInt(other.hint.ctimeNs) + RACY_NS } }]);
    expect(await memo.known(f)).toBeNull();
    // A modification time later than the change time counts as the last change (a filesystem whose ctime is not one).
    const future = join(dir, 'f.slm');
    writeFileSync(future, 'abc');
    const now = (await memo.look(future))!;
    utimesSync(future, Date.now() / 1e3 + 60, Date.now() / 1e3 + 60);
    const moved = (await memo.look(future))!;
    await memo.record([{ path: future, hash: h1, before: { ...moved, atNs: BigInt(moved.hint.ctimeNs) + RACY_NS } }]);
    expect(await memo.known(future)).toBeNull();
    expect(BigInt(moved.hint.mtimeNs)).toBeGreaterThan(BigInt(now.hint.ctimeNs));
    // Off: nothing is known.
    expect(await verifiedFiles(null).known(f)).toBeNull();
  });
});
