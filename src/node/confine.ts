/**
 * Confinement for every file the `garden` commands open on a stranger's say-so: one home for the
 * checks, used by all commands.
 *
 * - A path named inside a recipe, round, catalog, index or ONNX model resolves inside its declared
 *   root after realpath: an absolute path outside the root, a `..` that leaves it, or a symlink
 *   pointing out of it is refused (`..` that stays inside the root is fine: examples/recipe.json uses
 *   `../public/starter/…` under the working directory).
 * - Only regular files are read: /dev/zero, FIFOs, sockets and devices are refused before a byte is
 *   read (opened O_NONBLOCK, so a FIFO never hangs the open, then fstat).
 * - Every read is bounded: the file's size is checked against a ceiling (the policy's when there is
 *   one, else the documented default in LIMITS) before it is read, and only that many bytes are read.
 * - Outputs are written to a temporary name in the target folder and renamed over the target, so a
 *   refused or killed run leaves the target as it was; `cleanLeftovers` removes the temporaries of
 *   a killed run (their name carries the pid that wrote them) at the next start.
 */
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

const MiB = 1024 * 1024;

/** Default read ceilings (bytes), used where no policy gives one. Documented in docs/RELIABILITY.md. */
export const LIMITS = Object.freeze({
  /** A recipe, lab round, catalog, labels file or Hugging Face index. */
  json: 16 * MiB,
  /** A ledger file (every entry ever recorded). */
  ledger: 64 * MiB,
  /** A frozen evaluation suite. */
  suite: 256 * MiB,
  /** An ONNX graph (a species graph, or an ONNX model read whole). */
  graph: 1024 * MiB,
  /** A model file (.slm, safetensors shard, external-data file) read by the CLI. */
  model: 4096 * MiB,
});

export class ConfineError extends Error {
  override name = 'ConfineError';
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** `p` (absolute, resolved) is `root` or inside it. */
function within(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/** realpath of the nearest existing ancestor of `p`, with the rest appended (for outputs not yet written). */
function realpathNearest(p: string): string {
  let cur = resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(cur), ...rest.reverse());
    } catch (e) {
      if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') throw e;
      const parent = dirname(cur);
      if (parent === cur) return join(cur, ...rest.reverse());
      rest.push(basename(cur));
      cur = parent;
    }
  }
}

/**
 * Resolve `rel`, a path written inside a file (recipe, round, catalog, index, ONNX model), against
 * `base` (the folder that file's paths are relative to) and require it to stay inside `root`
 * after realpath. Returns the real path. `what` names the path in the refusal.
 */
export function confinedPath(root: string, base: string, rel: string, what: string): string {
  if (typeof rel !== 'string' || rel.length === 0) throw new ConfineError(`${what}: empty path`);
  // eslint-disable-next-line no-control-regex -- control characters in a path are refused
  if (/[\u0000-\u001f\u007f]/.test(rel)) throw new ConfineError(`${what}: the path contains control characters`);
  const realRoot = realpathNearest(root);
  const lexical = resolve(base, rel);
  const real = realpathNearest(lexical);
  if (within(realRoot, real)) return real;
  if (isAbsolute(rel))
    throw new ConfineError(`${what}: absolute path ${JSON.stringify(rel)} is outside ${root}; paths must stay inside it`);
  if (!within(resolve(root), lexical) && !within(realRoot, lexical))
    throw new ConfineError(`${what}: path ${JSON.stringify(rel)} leaves ${root}`);
  throw new ConfineError(`${what}: path ${JSON.stringify(rel)} resolves through a symlink to a file outside ${root}`);
}

/**
 * The root a command's input file declares for the paths inside it: `--root DIR` when given, else
 * the working directory when the file lies inside it, else the file's own folder.
 */
export function declaredRoot(file: string, root?: string): string {
  if (root !== undefined) return resolve(root);
  const cwd = process.cwd();
  return within(realpathNearest(cwd), realpathNearest(file)) ? cwd : dirname(resolve(file));
}

function refuseNonRegular(
  st: {
    isFile(): boolean;
    isFIFO(): boolean;
    isCharacterDevice(): boolean;
    isBlockDevice(): boolean;
    isSocket(): boolean;
    isDirectory(): boolean;
  },
  path: string,
  what: string,
): void {
  if (st.isFile()) return;
  const kind = st.isDirectory()
    ? 'a directory'
    : st.isFIFO()
      ? 'a FIFO'
      : st.isCharacterDevice()
        ? 'a character device'
        : st.isBlockDevice()
          ? 'a block device'
          : st.isSocket()
            ? 'a socket'
            : 'not a regular file';
  throw new ConfineError(`${what} ${path} is ${kind}; only regular files are read`);
}

function refuseSize(size: number, max: number, path: string, what: string): void {
  if (size > max) throw new ConfineError(`${what} ${path} is ${size} bytes, over the ${max}-byte ceiling`);
}

const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Read a whole regular file of at most `max` bytes (refused before reading otherwise). */
export function readRegularSync(path: string, what: string, max: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    throw new ConfineError(`cannot read ${what} ${path}: ${code(e)}`);
  }
  try {
    const st = fstatSync(fd);
    refuseNonRegular(st, path, what);
    refuseSize(st.size, max, path, what);
    const buf = new Uint8Array(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, buf, done, st.size - done, done);
      if (n === 0) throw new ConfineError(`short read from ${what} ${path}: ${done} of ${st.size} bytes`);
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

export function readTextSync(path: string, what: string, max: number): string {
  return new TextDecoder().decode(readRegularSync(path, what, max));
}

/** Open a regular file for reading (a FIFO never blocks the open); refused when over `max` bytes. */
export async function openRegular(path: string, what: string, max: number = LIMITS.model): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, READ_FLAGS);
  } catch (e) {
    throw new ConfineError(`cannot read ${what} ${path}: ${code(e)}`);
  }
  try {
    const st = await fh.stat();
    refuseNonRegular(st, path, what);
    refuseSize(st.size, max, path, what);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

export async function readRegular(path: string, what: string, max: number): Promise<Uint8Array> {
  const { fh, size } = await openRegular(path, what, max);
  try {
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await fh.read(buf, done, size - done, done);
      if (bytesRead === 0) throw new ConfineError(`short read from ${what} ${path}: ${done} of ${size} bytes`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** The temporary name of an output: `.NAME.<pid>-<random>.tmp` in the target's own folder. */
export function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`);
}

/** Refuse to replace something that is not a regular file (a device, FIFO, directory). */
function checkTarget(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  refuseNonRegular(st, path, 'output');
}

/** Write a file whole or not at all: a temp file in the same folder, then a rename over the target. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  checkTarget(path);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempName(path);
  try {
    const fd = openSync(tmp, 'wx');
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ConfineError(`cannot write ${path}: ${code(e)}`);
  }
}

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  writeFileAtomicSync(path, data);
}

/** A pid that is alive (or ours): its temporaries may be in use. */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return code(e) === 'EPERM';
  }
}

/** Temporaries the commands write: `.import-<pid>-XXXXXX` folders and `.NAME.<pid>-XXXX.tmp` files. */
const LEFTOVER = /^\.(?:import-(\d+)-[A-Za-z0-9]{6}|.+\.(\d+)-[a-z0-9]+\.tmp)$/;
/** An `.import-XXXXXX` folder of the writer before pids were recorded: stale after this long. */
const OLD_IMPORT = /^\.import-[A-Za-z0-9]{6}$/;
const STALE_MS = 10 * 60 * 1000;

/** Remove the temporaries a killed run left in `dir` (a pid no longer alive). Returns the names removed. */
export function cleanLeftovers(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = LEFTOVER.exec(n);
    let stale = false;
    if (m) stale = !alive(Number(m[1] ?? m[2]));
    else if (OLD_IMPORT.test(n)) {
      try {
        stale = Date.now() - statSync(join(dir, n)).mtimeMs > STALE_MS;
      } catch {
        stale = false;
      }
    }
    if (!stale) continue;
    rmSync(join(dir, n), { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}
