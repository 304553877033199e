/**
 * garden breed RECIPE.json [--out FILE.slm] [--json] [--threads N]
 * Reads the recipe's parent .slm files, breeds on the multi-core CPU path (a worker_threads pool
 * running the range kernels, bit-identical to the single-threaded reference, which serves the
 * operators that have none), writes the candidate .slm and prints its hash, a receipt summary and
 * where the time went. The same recipe always writes the same bytes, whatever the thread count.
 */
import { dirname, resolve } from 'node:path';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { validateRecipe, recipeHash, type ModelRef } from '../../src/core/operators/recipe.ts';
import { BREED_CHUNK_ELEMENTS, breed, breedHeader, breedStream, type BreedResult } from '../../src/core/operators/breed.ts';
import { candidateHeader } from '../../src/core/operators/candidate.ts';
import { parseHeader } from '../../src/core/format/safetensors.ts';
import { elementBytes } from '../../src/core/operators/stream.ts';
import { ReadClock, openSlmRange, type ReadBuffers, type SlmRangeParent } from '../../src/node/slm-range-source.ts';
import { READ_PIECE_BYTES, writeAll } from '../../src/node/file-source.ts';
import { HashWorkers } from '../../src/node/hash-workers.ts';
import { verifiedFiles, type FileLook } from '../../src/node/verified-files.ts';
import { cpuBackend, type KernelBackend } from '../../src/core/operators/backend.ts';
import { setSha256Provider, sha256Provider, type Sha256Hex, type Sha256Provider } from '../../src/core/hash.ts';
import { createNodeCpuPool, poolWorkerScript } from '../../src/cpu/node.ts';
import { createFastCpuBackend } from '../../src/cpu/backend.ts';
import { INLINE_BELOW, type CpuPool } from '../../src/cpu/pool.ts';
import type { Arena } from '../../src/cpu/arena.ts';
import { numel } from '../../src/core/tensor.ts';
import { checkSlmMetadata, writeSlmStream, type SlmFile } from '../../src/core/format/slm.ts';
import { candidateSlm } from '../../src/core/operators/candidate.ts';
import { parentCompatibility, recordBreed } from '../../src/core/lab/records.ts';
import { manifestHash } from '../../src/core/manifest/index.ts';
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { DEFAULT_CATALOG, checkFamilySpecies, loadFamily } from '../../src/node/catalog.ts';
import { LIMITS, confinedPath, declaredRoot, readRegular, tempName, writeFileAtomic } from '../../src/node/confine.ts';
import { printable } from '../../src/core/format/printable.ts';
import { operatorsText } from './operators.ts';
import { loadParentModel } from '../../src/node/parent-model.ts';
import { STATISTICS_FOR, getOperator, type OperatorId } from '../../src/core/operators/registry.ts';
import { calibrationRows, readCalibration } from '../../src/core/operators/calibration.ts';
import { computeStatistics, type BreedStatistics, type FisherLabels } from '../../src/core/operators/statistics.ts';
import { breedWithStatistics, type DataInformedStat } from '../../src/core/operators/data-informed.ts';
import { readSuite } from '../../src/core/eval/suite.ts';
import { catalogFile, loadCatalog } from '../../src/node/catalog.ts';
import { federatedBreedParams, FEDERATED_KEYS } from '../../src/core/train/federated.ts';

const usage = `garden breed RECIPE.json [--out FILE.slm] [--json] [--threads N] [--family ID [--catalog PATH]] [--root DIR] [--calibration FILE ...] [--rehash]

Breed a candidate from a recipe (manifests/recipe.schema.json) on the multi-core CPU kernels.
Parent and base paths are relative to the recipe file; a "hash" next to a path must match the file.
A parent or base may be a .slm, a plain safetensors file, a sharded model (any .slm shard, or a
model.safetensors.index.json), an ONNX model or a Hugging Face folder: anything but a one-file .slm
is imported in memory as garden import would write it, and its "hash" is that .slm's.
Every path in the recipe must stay inside its root (after symlinks): no absolute path, no ".." out;
parents must be regular files. The candidate is written to a temporary name and renamed.
A one-file .slm parent has its file hash and every tensor's content hash checked from the breed's
own reads. The parents and candidates of a breed are then remembered by hash (verified.json in
$GARDEN_CACHE, default ~/.cache/slm-garden; GARDEN_CACHE=off turns it off): the next breed of the
same files takes their file hash only, and checks the tensors in full if that hash differs. A
file unchanged since it was hashed (same size, times, inode; last changed 2 s or more before that
hash) is not hashed again: its hash is the one remembered, as git's index does.
  --out FILE.slm   where to write the candidate (default: the recipe's output.path)
  --root DIR       the folder the recipe's paths must stay in (default: the working directory
                   when the recipe is inside it, else the recipe's folder)
  --json           print the receipt summary as JSON instead of a table
  --rehash         hash every parent's bytes and check its tensors, even a file remembered unchanged
  --threads N      CPU worker threads (default: every core); 0 runs the single-threaded reference,
                   as does a model too small to split. The bytes are the same either way
  --family ID      the parents' catalogued family: a quantized candidate then gets its own
                   dequantizing graph and species (the bytes garden quantize and the app write)
  --catalog PATH   the starter catalog for --family (default: public/starter/catalog.json)
  --calibration FILE  the data-informed operators (regmean, fisher): a declared calibration split
                   (suite format with "suite.split": "calibration"), once for every parent or once
                   per parent in order. A row that is a row of any frozen suite of the parents'
                   family (--family, else the catalogued family of their species) is refused, and
                   nothing is written

Operators (the recipe's "operator": the id or mergekit's name; garden operators --json for all fields):
${operatorsText()}`;

function parseOptions(argv: string[]): {
  recipe: string;
  out?: string;
  json: boolean;
  threads: number;
  family?: string;
  catalog?: string;
  root?: string;
  calibration: string[];
  rehash: boolean;
} {
  const { values, positionals } = parseCommandArgs(argv, {
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
    threads: { type: 'string' },
    family: { type: 'string' },
    catalog: { type: 'string' },
    root: { type: 'string' },
    calibration: { type: 'string', multiple: true },
    rehash: { type: 'boolean', default: false },
  });
  if (positionals.length > 1) throw new CliError(`one recipe at a time, got ${positionals.map((p) => `"${p}"`).join(' and ')}`);
  if (positionals.length === 0) throw new CliError('no recipe given; usage: garden breed RECIPE.json [--out FILE.slm]');
  if (values.catalog !== undefined && values.family === undefined) throw new CliError('--catalog is used with --family ID');
  const threads = values.threads === undefined ? availableParallelism() : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 0 || threads > 256)
    throw new CliError(`--threads ${values.threads} is not a whole number of threads in [0, 256]`);
  return {
    recipe: positionals[0],
    out: values.out,
    json: values.json,
    threads,
    family: values.family,
    catalog: values.catalog,
    root: values.root,
    calibration: values.calibration ?? [],
    rehash: values.rehash,
  };
}

/** The installed SHA-256 with a clock on it, so the time spent hashing can be told apart. */
function clockedSha256(inner: Sha256Provider): { provider: Sha256Provider; ms: () => number; bytes: () => number } {
  let ms = 0;
  let bytesHashed = 0;
  const timed = <T>(fn: () => T): T => {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      ms += performance.now() - t0;
    }
  };
  const provider: Sha256Provider = {
    name: inner.name,
    hex(bytes) {
      bytesHashed += bytes.length;
      return timed(() => inner.hex(bytes));
    },
    stream() {
      const s = timed(() => inner.stream());
      return {
        update(bytes) {
          bytesHashed += bytes.length;
          timed(() => s.update(bytes));
        },
        digestHex: () => timed(() => s.digestHex()),
      };
    },
  };
  return { provider, ms: () => ms, bytes: () => bytesHashed };
}

/** Wall time of each phase, ms; hashing is counted apart from the phase it happens in. */
export interface BreedTimings {
  read: number;
  compute: number;
  serialize: number;
  write: number;
  hash: number;
  /** Starting the worker pool (overlaps the reads). */
  poolStart: number;
  total: number;
}

async function loadModel(ref: ModelRef, root: string, dir: string, what: string): Promise<SlmFile> {
  if (!ref.path) throw new CliError(`${what} is given only by hash ${ref.hash}; the CLI needs a "path"`);
  const path = confinedPath(root, dir, ref.path, `${what} path`);
  // A .slm, plain safetensors, a sharded model (its index or a shard), ONNX or a Hugging Face
  // folder, as mergekit takes them: anything but a one-file .slm is imported in memory first.
  let slm: SlmFile;
  try {
    slm = (await loadParentModel(path, what)).slm;
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (ref.hash && ref.hash !== slm.hash) throw new CliError(`${what} (${path}) has hash ${slm.hash}, the recipe expects ${ref.hash}`);
  return slm;
}

/**
 * The statistics a data-informed operator needs, from the --calibration splits, each checked
 * against the frozen suites of the parents' family before anything is computed; null for the others.
 */
async function calibrationStatistics(
  opts: ReturnType<typeof parseOptions>,
  operator: string,
  params: Record<string, unknown>,
  seed: number,
  models: readonly SlmFile[],
): Promise<BreedStatistics | null> {
  const op = getOperator(operator);
  const kind = STATISTICS_FOR[op.id as OperatorId];
  if (!kind) {
    if (opts.calibration.length)
      throw new CliError(`--calibration is for the data-informed operators (${Object.keys(STATISTICS_FOR).join(', ')}), not ${op.id}`);
    return null;
  }
  if (opts.calibration.length === 0)
    throw new CliError(`${op.id} needs --calibration FILE: a declared calibration split, once for every parent or once per parent`);
  const catalogPath = resolve(opts.catalog ?? DEFAULT_CATALOG);
  let catalog;
  try {
    catalog = loadCatalog(catalogPath);
  } catch (e) {
    throw new CliError(`${op.id}: no frozen suites to check the calibration split against: ${(e as Error).message}`);
  }
  const family = opts.family
    ? catalog.families.find((f) => f.id === opts.family)
    : catalog.families.find((f) => f.species === models[0].species);
  if (!family)
    throw new CliError(
      `${op.id}: no catalogued family ${opts.family ? `"${opts.family}"` : "has the parents' species"}, so there are no frozen suites to check the calibration split against; give --family ID [--catalog PATH]`,
    );
  try {
    const frozen = family.suites.map((s) => readSuite(catalogFile(catalogPath, s.file, `suite ${s.id}`, LIMITS.suite), s.hash));
    const rows = [];
    for (const file of opts.calibration)
      rows.push(calibrationRows(readCalibration(await readRegular(resolve(file), 'calibration file', LIMITS.suite), file), frozen));
    const labels = (typeof params.fisherLabels === 'string' ? params.fisherLabels : 'empirical') as FisherLabels;
    return computeStatistics(
      kind,
      models.map((m) => m.tensors),
      rows,
      { labels, seed },
    );
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/**
 * For the federated operator over federated updates (`garden train --federated-update`): the
 * weights are the updates' example counts (federatedBreedParams); undefined for other operators.
 * `models` is the base then the parents, or empty when the recipe has no base.
 */
function federatedParams<P extends Readonly<Record<string, unknown>>>(
  operator: string,
  params: P,
  models: readonly Pick<SlmFile, 'metadata' | 'hash'>[],
) {
  if (getOperator(operator).id !== 'federated' || models.length === 0) return undefined;
  try {
    return federatedBreedParams(params, models.slice(1), models[0].hash);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** Once the first model shows a tensor the pool would split, its workers load while the rest are read. */
function startPool(pool: { ready: Promise<CpuPool> | null }, threads: number, first: readonly { shape: readonly number[] }[]): void {
  if (threads > 0 && first.some((x) => numel(x.shape) >= INLINE_BELOW)) {
    pool.ready = createNodeCpuPool(threads);
    pool.ready.catch(() => undefined);
  }
}

/** The backend the breed runs on (the pool's fast kernels when it started, else the reference), and how long the pool took to be ready. */
async function poolBackend(pool: {
  ready: Promise<CpuPool> | null;
}): Promise<{ backend: KernelBackend; poolStart: number; workers: CpuPool | null }> {
  const tp = performance.now();
  const workers = await pool.ready;
  return { backend: workers ? createFastCpuBackend(workers) : cpuBackend, poolStart: performance.now() - tp, workers };
}

function fmt(x: number, digits = 4): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(digits);
}

/** What a data-informed operator reported for a tensor: RegMean's conditioning, Fisher's means per parent. */
function informedNote(s: BreedResult['stats'][number] & DataInformedStat): string {
  const parts: string[] = [];
  if (s.conditionNumber !== undefined) parts.push(`cond(ΣG) ${s.conditionNumber.toExponential(2)}`);
  if (s.unseenInputs) parts.push(`${s.unseenInputs} unseen inputs averaged`);
  if (s.fisherMean) parts.push(`mean Fisher ${s.fisherMean.map((v) => v.toExponential(2)).join(' ')}`);
  return parts.join('; ');
}

function table(result: Pick<BreedResult, 'stats'>): string {
  const rows = [['tensor', 'changed', 'sparsity', '|delta|', 'conflicts', 'kept', 'bytes', 'ms', 'note']];
  for (const s of result.stats) {
    rows.push([
      printable(s.name),
      fmt(s.changedFraction),
      fmt(s.sparsity),
      fmt(s.deltaNorm),
      s.signConflicts === undefined ? '-' : String(s.signConflicts),
      // Per parent, the fraction its sparsification kept (karcher: its iterations).
      s.keptFraction ? s.keptFraction.map((k) => fmt(k, 3)).join('/') : s.iterations === undefined ? '-' : `${s.iterations} it`,
      String(s.bytes),
      s.ms.toFixed(1),
      s.skipped ?? informedNote(s),
    ]);
  }
  const widths = rows[0].map((_, c) => rows.reduce((m, r) => Math.max(m, r[c].length), 0));
  return rows
    .map((r) =>
      r
        .map((v, c) => v.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const command: Command = {
  usage,
  async run(args) {
    const opts = parseOptions(args);
    // The pool workers' script is bundled while the recipe and the parents' headers are read.
    if (opts.threads > 0) void poolWorkerScript();
    const clock = clockedSha256(sha256Provider());
    const restore = sha256Provider();
    setSha256Provider(clock.provider);
    const pool: { ready: Promise<CpuPool> | null } = { ready: null };
    try {
      return await breedCommand(opts, clock, pool);
    } finally {
      setSha256Provider(restore);
      (await pool.ready?.catch(() => null))?.terminate();
    }
  },
};

async function breedCommand(
  opts: ReturnType<typeof parseOptions>,
  hashClock: { ms: () => number; bytes: () => number },
  pool: { ready: Promise<CpuPool> | null },
): Promise<number> {
  const t0 = performance.now();
  const fam = opts.family ? loadFamily(resolve(opts.catalog ?? DEFAULT_CATALOG), opts.family) : null;
  const recipePath = resolve(opts.recipe);
  const text = new TextDecoder().decode(await readRegular(recipePath, 'recipe', LIMITS.json));
  let json: unknown;
  try {
    json = parseStrictJson(text, 'recipe');
  } catch (e) {
    throw new CliError(`recipe ${recipePath} is not valid JSON: ${(e as Error).message}`);
  }
  const recipe = validateRecipe(json);
  const dir = dirname(recipePath);
  const root = declaredRoot(recipePath, opts.root);
  // --out is the user's own; output.path comes with the recipe and must stay inside its root.
  const outPath = opts.out ? resolve(opts.out) : recipe.output.path ? confinedPath(root, dir, recipe.output.path, 'output.path') : null;
  if (!outPath) throw new CliError('no output file: give output.path in the recipe or --out FILE.slm');

  // Each phase's wall time less the hashing done in it.
  const hashMs = hashClock.ms;
  let h = hashMs();
  const phase = (t: number) => {
    const wall = performance.now() - t;
    const hashed = hashMs() - h;
    h = hashMs();
    return wall - hashed;
  };
  const streamed = await streamedBreed(opts, recipe, root, dir, outPath, { t0, phase, hashMs, hashBytes: hashClock.bytes, pool });
  if (streamed !== null) return streamed;
  let t = performance.now();
  const models: SlmFile[] = [];
  const refs = [
    ...(recipe.base ? [{ ref: recipe.base, what: 'base' }] : []),
    ...recipe.parents.map((ref, i) => ({ ref, what: `parent ${i}` })),
  ];
  for (const { ref, what } of refs) {
    models.push(await loadModel(ref, root, dir, what));
    if (models.length === 1) startPool(pool, opts.threads, models[0].tensors);
  }
  const read = phase(t);

  const { backend, poolStart } = await poolBackend(pool);
  t = performance.now();
  const federated = federatedParams(recipe.operator, recipe.params, recipe.base ? models : []);
  const params = federated?.params ?? recipe.params;
  const req = { operator: recipe.operator, params, seed: recipe.seed, parents: models.map((m) => m.tensors) };
  const statistics = await calibrationStatistics(opts, recipe.operator, params, recipe.seed, models);
  const result = statistics ? await breedWithStatistics(req, statistics, backend) : await breed(req, backend);
  const compute = phase(t);
  const rHash = recipeHash(recipe);
  if (fam) {
    for (const [i, m] of models.entries()) {
      if (m.species !== fam.family.species)
        throw new CliError(
          `${i === 0 && recipe.base ? 'base' : `parent ${i - (recipe.base ? 1 : 0)}`} has species ${m.species}, not family ${fam.family.id}'s ${fam.family.species}`,
        );
      checkFamilySpecies(m, fam.family, i === 0 && recipe.base ? 'base' : `parent ${i - (recipe.base ? 1 : 0)}`);
    }
  }
  const family = fam ? { graph: fam.graph, vocabulary: fam.family.output.labels } : undefined;
  const parents = models.map((m) => ({ ...checkSlmMetadata(m.metadata), hash: m.hash, tensors: m.tensors, family, metadata: m.metadata }));
  t = performance.now();
  const file = candidateSlm(result, parents);
  const { bytes, hash, lineageKey } = file;
  const serialize = phase(t);
  // The breed's documents, built as the app builds them (src/core/lab/records.ts).
  const compatibility = parentCompatibility(models.map((m) => ({ id: m.hash, species: m.species, tensors: m.tensors })));
  const records = recordBreed({ result, file, parents: models.map((m) => m.hash), requested: recipe.params, compatibility });
  t = performance.now();
  await writeFileAtomic(outPath, bytes);
  // The breed's documents beside the candidate, where garden bundle looks for them.
  await writeFileAtomic(`${outPath}.records.json`, new TextEncoder().encode(JSON.stringify({ manifests: records.manifests }, null, 2)));
  const write = phase(t);
  const timings: BreedTimings = { read, compute, serialize, write, hash: hashMs(), poolStart, total: performance.now() - t0 };
  report(opts, {
    result,
    inputs: models.map((m) => m.hash),
    hash,
    size: bytes.length,
    lineageKey,
    records,
    rHash,
    outPath,
    timings,
    hashBytes: hashClock.bytes(),
    federated,
  });
  return 0;
}

/**
 * Whether the recipe can breed through breedStream: an operator that keeps each tensor's place,
 * needs no whole-tensor pre-pass, no calibration and no storage of its own (quantize), and no
 * --family (whose quantized candidate and species checks want whole parents).
 */
function streamable(opts: ReturnType<typeof parseOptions>, operator: string): boolean {
  const op = getOperator(operator);
  if (opts.family || opts.calibration.length || STATISTICS_FOR[op.id as OperatorId]) return false;
  if (op.layout || op.store) return false;
  return !op.prepare || op.kernel?.id === 'task-arithmetic';
}

/**
 * garden breed over one-file `.slm` parents read range by range (openSlmRange) with breedStream.
 * Each parent is read once: its file hash and tensor content hashes are taken from the bytes the
 * breed reads (verify 'as-read'; only what no read covered is read again) and checked before the
 * candidate is renamed into place. The candidate is written once: its header is laid out before
 * the breed from the specs (every hash in it is 64 hex digits, so placeholders give the same
 * length and data offsets), each output tensor is written at its final offset as it is computed,
 * then the real header (candidateHeader: the bytes candidateSlm gives) goes at the front and the
 * file is hashed reading it back. Null when a parent is anything else: the whole-tensor path.
 */
async function streamedBreed(
  opts: ReturnType<typeof parseOptions>,
  recipe: ReturnType<typeof validateRecipe>,
  root: string,
  dir: string,
  outPath: string,
  ctx: {
    t0: number;
    phase: (t: number) => number;
    hashMs: () => number;
    hashBytes: () => number;
    pool: { ready: Promise<CpuPool> | null };
  },
): Promise<number | null> {
  if (!streamable(opts, recipe.operator)) return null;
  const refs = [
    ...(recipe.base ? [{ ref: recipe.base, what: 'base' }] : []),
    ...recipe.parents.map((ref, i) => ({ ref, what: `parent ${i}` })),
  ];
  const { phase, hashMs, pool } = ctx;
  let t = performance.now();
  const models: SlmRangeParent[] = [];
  const clock = new ReadClock();
  // The federated weights are read from the parents' hashes before the breed: those verify at open.
  const verifyMode = getOperator(recipe.operator).id === 'federated' ? 'open' : 'as-read';
  const tmp = tempName(outPath);
  let out: FileHandle | null = null;
  let renamed = false;
  // Every SHA-256 of the breed (the parents' file and tensor hashes, the outputs', the candidate
  // file's) runs on these workers, beside the reads, the kernels and the writes.
  const hashers = new HashWorkers(hashThreads());
  // The parents' chunks are read into the pool's arena once it is up (reused memory, where the
  // kernels work in place: no page faults for fresh buffers, no copy in); before, into new buffers.
  let arena: Arena | null = null;
  const buffers: ReadBuffers = {
    take(bytes) {
      try {
        return arena?.bytes(bytes) ?? null;
      } catch {
        return null; // the arena is full: a new buffer
      }
    },
    give: (b) => arena!.freeBytes(b),
  };
  // Parents whose file hash is one whose tensors were checked before (verified-files.ts) are
  // hashed as files only; the hash they turn out to have must be the one expected. A parent
  // unchanged since it was hashed is not hashed at all (unless --rehash): its hash is known.
  const memo = verifiedFiles();
  const paths: string[] = [];
  const expected: (Sha256Hex | null)[] = [];
  /** Each parent's hash as the memo knew it (not hashed: its file was unchanged), or null. */
  const knownHashes: (Sha256Hex | null)[] = [];
  const looks: (FileLook | null)[] = [];
  /** Parent i's tensors checked in full, when its file hash is not the expected one (it changed since the memo). */
  const checkInFull = async (i: number, hash: Sha256Hex): Promise<void> => {
    if (expected[i] === null || expected[i] === hash) return;
    const { what } = refs[i];
    const full = await openSlmRange(paths[i], what, { hashers }).catch((e: Error) => Promise.reject(new CliError(e.message)));
    await full?.close();
    if (full?.hash !== hash) throw new CliError(`${what} (${paths[i]}) changed while it was read`);
  };
  try {
    for (const { ref, what } of refs) {
      if (!ref.path) throw new CliError(`${what} is given only by hash ${ref.hash}; the CLI needs a "path"`);
      const path = confinedPath(root, dir, ref.path, `${what} path`);
      // The stat before any byte is read: the memo records it with the hash, if it has not moved since.
      const look = await memo.look(path);
      const knownHash = opts.rehash ? null : await memo.known(path, ref.hash);
      const expect = opts.rehash ? null : (knownHash ?? (await memo.expected(path, ref.hash)));
      let m: SlmRangeParent | null;
      try {
        m = await openSlmRange(path, what, {
          clock,
          verify: verifyMode,
          hashers,
          buffers,
          tensorChecks: expect === null,
          ...(knownHash ? { knownHash } : {}),
        });
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      if (!m) return null;
      models.push(m);
      paths.push(path);
      expected.push(expect);
      knownHashes.push(knownHash);
      looks.push(look);
      if (verifyMode === 'open') {
        await checkInFull(models.length - 1, m.hash);
        checkParentHash(ref, what, path, m.hash);
      }
      if (models.length === 1) startPool(pool, opts.threads, m.tensors);
    }
    /** Every parent's file hash, checked against the recipe (reads what the breed did not). */
    const verified = async () => {
      const hashes = await Promise.all(
        models.map((m) => m.verify().catch((e: unknown) => Promise.reject(new CliError((e as Error).message)))),
      );
      for (const [i, h] of hashes.entries()) await checkInFull(i, h);
      // A known parent's bytes were not hashed: its file must still be the one the memo knows.
      for (const [i, h] of knownHashes.entries())
        if (h !== null && (await memo.known(paths[i], h)) !== h)
          throw new CliError(`${refs[i].what} (${paths[i]}) changed while it was read`);
      refs.forEach(({ ref, what }, i) => checkParentHash(ref, what, ref.path!, hashes[i]));
      return hashes;
    };
    let read = phase(t);

    const { backend, poolStart, workers } = await poolBackend(pool);
    arena = workers?.arena ?? null;
    t = performance.now();
    const federated = federatedParams(recipe.operator, recipe.params, recipe.base ? models : []);
    const params = federated?.params ?? recipe.params;
    // The candidate's layout before the breed: the output tensors are the first parent's specs.
    const tensors = models[0].tensors.map((s) => ({ name: s.name, dtype: s.dtype, shape: [...s.shape] }));
    const planned = breedHeader(recipe.operator, params, recipe.seed, models.length);
    const placeholder = '0'.repeat(64) as Sha256Hex;
    const headerFor = async (hashes: readonly Sha256Hex[], content: ReadonlyMap<string, Sha256Hex>) =>
      candidateHeaderBytes(
        { ...planned, tensors },
        models.map((m, i) => ({ ...checkSlmMetadata(m.metadata), hash: hashes[i], tensors: m.tensors, metadata: m.metadata })),
        content,
      );
    const layout = await headerFor(
      models.map(() => placeholder),
      new Map(tensors.map((s) => [s.name, placeholder])),
    );
    const dataBytes = tensors.reduce((a, s) => a + elementBytes(s.dtype, 0, numel(s.shape))[1], 0);
    const dataStart = layout.bytes.length;
    const size = dataStart + dataBytes;
    const place = new Map(parseHeader(layout.bytes, size).entries.map((e) => [e.name, e]));
    out = await open(tmp, 'wx+');
    const fh = out;
    let writeMs = 0;
    // The tensors written so far go to the disk while the breed goes on (one datasync at a time),
    // so the fsync at the end has only the rest and the header left (512 MB: ~175 → ~20 ms here).
    let flush: Promise<void> | null = null;
    const flushing = () => {
      flush ??= fh.datasync().finally(() => (flush = null));
      flush.catch(() => undefined);
    };
    const r0 = clock.ms();
    const result = await breedStream(
      { operator: recipe.operator, params, seed: recipe.seed, parents: models.map((m) => m.source) },
      backend,
      {
        chunkElements: chunkElements(recipe.operator, models[0].tensors, models.length),
        // Each output's write has written its bytes once it resolves: the pool's output memory is lent, not copied.
        writeCopies: true,
        output(spec) {
          const e = place.get(spec.name);
          if (!e) throw new Error(`the streamed breed gave a tensor "${spec.name}" the candidate's layout does not have`);
          let at = dataStart + e.begin;
          // The worker hashes each piece reading it back from the file (the page cache has it)
          // while the next piece is written.
          const h = hashers.stream();
          return {
            async write(bytes) {
              if (at + bytes.length > dataStart + e.end)
                throw new Error(`the streamed breed gave "${spec.name}" more bytes than its shape holds`);
              const w0 = performance.now();
              for (let o = 0; o < bytes.length; o += READ_PIECE_BYTES) {
                const piece = bytes.subarray(o, Math.min(bytes.length, o + READ_PIECE_BYTES));
                await writeAll(fh, piece, tmp, at);
                h.updateFile(fh.fd, at, piece.length);
                at += piece.length;
              }
              writeMs += performance.now() - w0;
            },
            async finish() {
              if (at !== dataStart + e.end)
                throw new Error(`the streamed breed gave "${spec.name}" ${at - dataStart - e.begin} of ${e.end - e.begin} bytes`);
              flushing();
              return { hash: await h.digest() };
            },
          };
        },
      },
    );
    // The breed's reads (wall time with a read in flight: the next chunk is read while this one
    // is computed, so the two overlap) and writes are told apart from its compute.
    const hashes = await verified();
    const breedRead = clock.ms() - r0;
    const compute = Math.max(0, phase(t) - breedRead - writeMs);
    read += breedRead;
    const same = (a: readonly { name: string; dtype: string; shape: readonly number[] }[]) =>
      JSON.stringify(a.map((s) => [s.name, s.dtype, s.shape])) === JSON.stringify(tensors.map((s) => [s.name, s.dtype, s.shape]));
    if (!same(result.outputs)) throw new Error("the streamed breed's outputs are not the first parent's tensors");
    t = performance.now();
    const rHash = recipeHash(recipe);
    const header = await headerFor(hashes, new Map(result.outputs.map((o) => [o.name, o.hash as Sha256Hex])));
    if (header.bytes.length !== dataStart)
      throw new Error(`the candidate header is ${header.bytes.length} bytes, laid out as ${dataStart}`);
    const serialize = phase(t);
    t = performance.now();
    await writeAll(fh, header.bytes, tmp, 0);
    await (flush as Promise<void> | null);
    // Synced while a worker hashes the file reading it back (the page cache has it).
    const synced = fh.sync();
    const fileHash = hashers.stream();
    fileHash.update(header.bytes);
    fileHash.updateFile(fh.fd, dataStart, size - dataStart);
    const hash = await fileHash.digest();
    await synced;
    await fh.close();
    out = null;
    await rename(tmp, outPath);
    renamed = true;
    // The parents' tensors were checked (or were known checked), and the candidate's were hashed as written.
    await memo.record([...paths.map((path, i) => ({ path, hash: hashes[i], before: looks[i] })), { path: outPath, hash }]);
    const file = { size, hash, species: header.species, lineageKey: header.lineageKey };
    const whole = { ...result, tensors: [] };
    const compatibility = parentCompatibility(models.map((m, i) => ({ id: hashes[i], species: m.species, tensors: m.tensors })));
    const records = recordBreed({ result: whole, file, parents: hashes, requested: recipe.params, compatibility });
    await writeFileAtomic(`${outPath}.records.json`, new TextEncoder().encode(JSON.stringify({ manifests: records.manifests }, null, 2)));
    const write = phase(t) + writeMs;
    const timings: BreedTimings = {
      read,
      compute,
      serialize,
      write,
      hash: hashMs() + hashers.ms,
      poolStart,
      total: performance.now() - ctx.t0,
    };
    report(opts, {
      result,
      inputs: hashes,
      hash,
      size,
      lineageKey: header.lineageKey,
      records,
      rHash,
      outPath,
      timings,
      hashBytes: ctx.hashBytes() + hashers.bytes,
      federated,
    });
    return 0;
  } finally {
    await hashers.terminate();
    await out?.close().catch(() => undefined);
    if (!renamed) await rm(tmp, { force: true });
    await Promise.all(models.map((m) => m.close().catch(() => undefined)));
  }
}

/** SHA-256 workers for a streamed breed: every core, at least two (a parent's file and tensor hashes run side by side). */
function hashThreads(): number {
  return Math.max(2, Math.min(8, availableParallelism()));
}

/**
 * The parents' bytes of one tensor that a streamed breed may hold at once to read it whole: a
 * tensor under it is read once, in one piece per parent, and its kernel runs on the whole tensor
 * (the pool's exact top-k for the selection operators: one read of the parents instead of the
 * three a chunked exact top-k takes). Larger tensors stream in chunks.
 */
export const WHOLE_TENSOR_BYTES = 1 << 30;

/**
 * breedStream's chunk for this breed: the selection operators (a magnitude trim, whose exact
 * streamed top-k reads a chunked tensor three times) get chunks as large as the largest tensor
 * under WHOLE_TENSOR_BYTES, so those tensors are read once; the others keep the default chunk
 * (the next chunk is read while this one is computed).
 */
function chunkElements(operator: string, tensors: readonly { shape: readonly number[] }[], parents: number): number {
  const op = getOperator(operator);
  const selects = op.kernel?.id === 'task-arithmetic' && op.kernel.cfg.sparsify === 'magnitude';
  if (!selects) return BREED_CHUNK_ELEMENTS;
  let largest = BREED_CHUNK_ELEMENTS;
  for (const t of tensors) {
    const n = numel(t.shape);
    if (n > largest && 4 * n * parents <= WHOLE_TENSOR_BYTES) largest = n;
  }
  return Math.ceil(largest / 8) * 8;
}

function checkParentHash(ref: ModelRef, what: string, path: string, hash: string): void {
  if (ref.hash && ref.hash !== hash) throw new CliError(`${what} (${path}) has hash ${hash}, the recipe expects ${ref.hash}`);
}

/** The candidate's header bytes (the first chunk writeSlmStream gives) for these parents and content hashes. */
async function candidateHeaderBytes(
  result: Parameters<typeof candidateHeader>[0],
  parents: Parameters<typeof candidateHeader>[1],
  contentHashes: ReadonlyMap<string, Sha256Hex>,
): Promise<ReturnType<typeof candidateHeader> & { bytes: Uint8Array }> {
  const header = candidateHeader(result, parents);
  const model = { tensors: result.tensors, read: () => Promise.reject(new Error('the streamed candidate has no tensor in memory')) };
  // Only the first chunk, the header, is taken: the generator stops before it reads a tensor.
  const first = await writeSlmStream(model, { ...header.options, contentHashes, maxShardBytes: Number.MAX_SAFE_INTEGER }).next();
  if (first.done) throw new Error('the candidate header was not written');
  return { ...header, bytes: first.value.bytes };
}

/** What garden breed prints of a breed (whole or streamed). */
interface BreedReport {
  result: Omit<BreedResult, 'tensors'>;
  inputs: string[];
  hash: string;
  size: number;
  lineageKey: string;
  records: ReturnType<typeof recordBreed>;
  rHash: string;
  outPath: string;
  timings: BreedTimings;
  /** Bytes through the SHA-256 (parents, content hashes, the candidate file). */
  hashBytes: number;
  federated: ReturnType<typeof federatedParams>;
}

function report(opts: ReturnType<typeof parseOptions>, r: BreedReport): void {
  const { result, inputs, hash, lineageKey, records, rHash, outPath, timings, federated } = r;
  const round = (x: number) => Math.round(x * 10) / 10;

  const summary = {
    candidate: hash,
    path: outPath,
    bytes: r.size,
    recipe: rHash,
    lineage: lineageKey,
    operator: result.operator,
    params: result.params,
    seed: result.seed,
    inputs,
    backend: result.backend,
    ms: round(result.ms),
    timings: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, round(v)])),
    hasher: sha256Provider().name,
    hashBytes: r.hashBytes,
    /** Peak resident memory of this process so far (the whole breed, parents and candidate included). */
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    stats: result.stats,
    manifests: records.manifests,
    ...(federated?.counts ? { federated: { weightsFrom: federated.source, counts: federated.counts } } : {}),
  };
  if (opts.json) console.log(JSON.stringify(summary, null, 2));
  else {
    console.log(`candidate ${hash}`);
    console.log(`written   ${outPath} (${r.size} bytes)`);
    console.log(`operator  ${result.operator.id}@${result.operator.version}  seed ${result.seed}  params ${JSON.stringify(result.params)}`);
    if (federated?.counts)
      console.log(
        `weights   ${federated.source === 'counts' ? "the updates' example counts" : "the recipe's, equal to the updates' example counts"} ${federated.counts.join(', ')} (${FEDERATED_KEYS.examples})`,
      );
    console.log(`backend   ${result.backend.kind} (${result.backend.adapter})  ${result.ms.toFixed(1)} ms`);
    console.log(
      `time      ${timings.total.toFixed(0)} ms: read ${timings.read.toFixed(0)}, compute ${timings.compute.toFixed(0)}, serialize ${timings.serialize.toFixed(0)}, write ${timings.write.toFixed(0)}, hash ${timings.hash.toFixed(0)} (${(r.hashBytes / 1e6).toFixed(0)} MB, ${sha256Provider().name}); pool start ${timings.poolStart.toFixed(0)} ms waited`,
    );
    console.log(`recipe    ${rHash}`);
    console.log(`lineage   ${lineageKey}`);
    console.log(`receipt   ${manifestHash(records.receipt)}  candidate manifest ${manifestHash(records.candidate)}`);
    console.log(`inputs    ${inputs.map((m) => m.slice(0, 12)).join(' ')}`);
    console.log(table(result));
  }
}

export default command;
