/**
 * Files whose tensors this machine has checked: a memo, by file SHA-256, of one-file `.slm` files
 * whose every tensor content hash was checked against its bytes (by a breed that read the file,
 * or because the garden wrote it). A breed whose parent's file hash is in it needs only the file
 * hash: a file with that SHA-256 is those bytes, so its tensors are the ones checked. Half the
 * hashing of a breed's parents, every time the same parents are bred again.
 *
 * Which hash a parent will have is known before its bytes are read from the recipe's pinned hash
 * or, when the recipe pins none, from a stat hint: the path's size, modification and change times
 * (the change time cannot be set back by a user) and inode when the file was last hashed. The
 * hint only chooses the work. The breed's own file hash (of the bytes it used) must equal the
 * expected one, or the parent is verified in full before anything is trusted (streamedBreed).
 *
 * A path whose file is unchanged since it was hashed is known outright (`known`), like git's index:
 * its hash is taken from the memo and its bytes are not hashed again. Unchanged means the same
 * size, modification and change times, inode and device. That needs a hint taken safely: the stat
 * before the bytes were read equals the one after (nothing changed them while they were hashed),
 * and the file's last change (the later of its modification and change times) was at least RACY_NS
 * before the read began, so that a change after
 * the read cannot fall in the same timestamp granule (FAT keeps 2 s; "racy git"). A breed given
 * `--rehash` hashes every parent anyway.
 *
 * Kept in `$GARDEN_CACHE/verified.json` (default `$XDG_CACHE_HOME/slm-garden`, else
 * `~/.cache/slm-garden`); `GARDEN_CACHE=off` turns it off. The memo is trusted as the app trusts
 * its own store: whoever can write it can also rewrite the parents. A memo that cannot be read
 * or written is ignored (the checks then run in full).
 */
import { mkdir, readFile, rename, stat, writeFile, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Sha256Hex } from '../core/hash.ts';

/** How many files and paths the memo keeps (the oldest go first). */
export const VERIFIED_MAX = 4096;

/** How long before a read began a file must last have changed for its stat to make it known (ns). */
export const RACY_NS = 2_000_000_000n;

interface StatHint {
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  dev: string;
}

interface PathHint extends StatHint {
  hash: Sha256Hex;
  /** The hint was taken safely (see above): an unchanged stat makes the hash known. Absent in older memos. */
  known?: boolean;
}

/** A path's stat before its bytes were read (`look`), handed back to `record` once they are hashed. */
export interface FileLook {
  readonly real: string;
  readonly hint: StatHint;
  /** Wall time of the stat, ns since the epoch (the file times' clock). */
  readonly atNs: bigint;
}

interface Memo {
  version: 1;
  /** File hash → when its tensors were checked (ISO time), in insertion order. */
  files: Record<string, string>;
  /** Real path → its stat hint when it was last hashed, in insertion order. */
  paths: Record<string, PathHint>;
}

export interface VerifiedFiles {
  /** Where the memo lives, or null when it is off. */
  readonly file: string | null;
  /**
   * The file hash `path` will have if it is a file whose tensors were checked: the recipe's
   * `pinned` hash when the memo has it, else the stat hint's when the file is unchanged since and
   * the memo has that hash; null otherwise (check its tensors).
   */
  expected(path: string, pinned?: string): Promise<Sha256Hex | null>;
  /**
   * The file hash of `path` without reading it: the memo's, when the path is unchanged since it
   * was hashed (a hint taken safely, its tensors checked) and that hash is `pinned` when given;
   * null otherwise (hash it).
   */
  known(path: string, pinned?: string): Promise<Sha256Hex | null>;
  /** The path's stat now: taken before a file's bytes are read, for record(). */
  look(path: string): Promise<FileLook | null>;
  /**
   * Remember these files (just read with every tensor checked, or written by the garden) by hash
   * and stat hint. `before` is the look taken before the bytes were hashed: with it, and the stat
   * unchanged since, the path becomes known.
   */
  record(files: readonly { path: string; hash: Sha256Hex; before?: FileLook | null }[]): Promise<void>;
}

export function verifiedFilesDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = env.GARDEN_CACHE;
  if (dir === 'off') return null;
  if (dir) return dir;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'slm-garden');
}

async function hintOf(path: string): Promise<FileLook | null> {
  try {
    const atNs = BigInt(Date.now()) * 1_000_000n;
    const real = await realpath(path);
    const s = await stat(real, { bigint: true });
    if (!s.isFile()) return null;
    return {
      real,
      atNs,
      hint: { size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs), ino: String(s.ino), dev: String(s.dev) },
    };
  } catch {
    return null;
  }
}

/** The later of the modification and change times (a filesystem whose ctime is not a change time still moves mtime). */
const lastChange = (h: StatHint): bigint => {
  const [m, c] = [BigInt(h.mtimeNs), BigInt(h.ctimeNs)];
  return m > c ? m : c;
};

const sameHint = (a: StatHint, b: StatHint) =>
  a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;

function trim<T>(r: Record<string, T>): Record<string, T> {
  const keys = Object.keys(r);
  return keys.length <= VERIFIED_MAX ? r : Object.fromEntries(keys.slice(keys.length - VERIFIED_MAX).map((k) => [k, r[k]]));
}

export function verifiedFiles(dir: string | null = verifiedFilesDir()): VerifiedFiles {
  const file = dir === null ? null : join(dir, 'verified.json');
  let loaded: Promise<Memo> | null = null;
  const load = (): Promise<Memo> =>
    (loaded ??= (async () => {
      const empty: Memo = { version: 1, files: {}, paths: {} };
      if (!file) return empty;
      try {
        const m = JSON.parse(await readFile(file, 'utf8')) as Memo;
        if (m?.version !== 1 || typeof m.files !== 'object' || typeof m.paths !== 'object' || !m.files || !m.paths) return empty;
        return m;
      } catch {
        return empty;
      }
    })());
  const isHash = (h: unknown): h is Sha256Hex => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h);
  /** The memo's hint for `path` when the file is unchanged since it and its hash's tensors were checked. */
  const unchanged = async (path: string): Promise<PathHint | null> => {
    if (!file) return null;
    const memo = await load();
    const h = await hintOf(path);
    const hint = h ? memo.paths[h.real] : undefined;
    if (!h || !hint || !sameHint(h.hint, hint) || !isHash(hint.hash) || !memo.files[hint.hash]) return null;
    return hint;
  };
  return {
    file,
    async expected(path, pinned) {
      if (!file) return null;
      const memo = await load();
      if (pinned !== undefined) return isHash(pinned) && memo.files[pinned] ? pinned : null;
      return (await unchanged(path))?.hash ?? null;
    },
    async known(path, pinned) {
      const hint = await unchanged(path);
      if (!hint?.known || (pinned !== undefined && pinned !== hint.hash)) return null;
      return hint.hash;
    },
    look: hintOf,
    async record(files) {
      if (!file || files.length === 0) return;
      try {
        // Re-read, so what another process recorded meanwhile is kept.
        loaded = null;
        const memo = await load();
        const now = new Date().toISOString();
        for (const f of files) {
          const h = await hintOf(f.path);
          delete memo.files[f.hash];
          memo.files[f.hash] = now;
          if (h) {
            const was = memo.paths[h.real];
            delete memo.paths[h.real];
            const b = f.before;
            // Known: the stat did not move while the bytes were hashed, and the file had been still
            // for RACY_NS before (or it was known already, with this stat and hash).
            const known =
              (!!b && b.real === h.real && sameHint(b.hint, h.hint) && b.atNs - lastChange(h.hint) >= RACY_NS) ||
              (!!was?.known && was.hash === f.hash && sameHint(h.hint, was));
            memo.paths[h.real] = { ...h.hint, hash: f.hash, ...(known ? { known } : {}) };
          }
        }
        const next: Memo = { version: 1, files: trim(memo.files), paths: trim(memo.paths) };
        await mkdir(dir!, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, JSON.stringify(next));
        await rename(tmp, file);
        loaded = Promise.resolve(next);
      } catch {
        // A memo that cannot be written only costs the checks next time.
      }
    },
  };
}
