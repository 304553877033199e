/**
 * `npm run bench` — kernel and breed benchmarks, every figure a ratio measured in the same run.
 *
 *   npm run bench                 full run: 1 M–64 M elements, Node CPU path, Chromium (WebGPU + CPU
 *                                 path in the page + a 125M-parameter streaming breed); writes
 *                                 bench/results.json and docs/BENCHMARKS.md
 *   npm run bench -- --smoke      256 K elements, operators with a range kernel, a toy `garden breed`
 *                                 and a small streaming breed (run by `npm test`)
 *   npm run bench -- --dawn       also the WebGPU kernels in Node through Dawn (the `webgpu` package),
 *                                 the training step's kernels included (bench/train.ts)
 *   npm run bench -- --no-browser Node CPU path only
 *   npm run bench -- --breed-only the streaming breed alone (never writes docs/BENCHMARKS.md)
 *   npm run bench -- --cpu-only   the Node CPU path section alone (copy + operators; never writes
 *                                 docs/BENCHMARKS.md); with --ops=a,b only those operators, with
 *                                 --sizes=16,64 only those sizes (M elements; references at 1 and 16 M)
 */
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { cpus, totalmem, availableParallelism, release, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createNodeCpuPool } from '../src/cpu/node.ts';
import { installNodeSha256 } from '../src/node/sha256.ts';
import { benchCpu } from './cpu.ts';
import { REFERENCE_SIZES_FULL, SIZES_FULL, SIZES_SMOKE, fmtBytes, fmtElements } from './common.ts';
import { kernelTarget, markdown, type BenchResults } from './report.ts';
import { runBrowser } from './browser.ts';
import { benchAppBreed } from './app-breed.ts';
import { benchHash } from './hash.ts';
import { benchGardenBreed } from './garden-breed.ts';
import { OPERATORS } from '../src/core/operators/registry.ts';

const argv = process.argv.slice(2);
const KNOWN = ['--smoke', '--dawn', '--no-browser', '--no-write-docs', '--breed-only', '--cpu-only'];
const VALUED = ['--ops=', '--sizes='];
const valueOf = (flag: string) => argv.find((a) => a.startsWith(flag))?.slice(flag.length);
for (const a of argv) {
  if (!KNOWN.includes(a) && !VALUED.some((v) => a.startsWith(v))) {
    console.error(`bench: unknown option "${a}"; valid: ${[...KNOWN, ...VALUED.map((v) => v + '…')].join(', ')}`);
    process.exit(2);
  }
}
// An --ops name that is no operator id would bench nothing, silently (mergekit's "arcee_fusion" for "arcee-fusion").
const unknownOps = (valueOf('--ops=')?.split(',') ?? []).filter((id) => !(id in OPERATORS));
if (unknownOps.length) {
  console.error(`bench: --ops ${unknownOps.join(', ')}: no such operator id; valid: ${Object.keys(OPERATORS).join(', ')}`);
  process.exit(2);
}
installNodeSha256();
const smoke = argv.includes('--smoke');
const root = fileURLToPath(new URL('..', import.meta.url));
const log = (s: string) => console.log(`  ${s}`);

async function main(): Promise<number> {
  const t0 = performance.now();
  const cpuOnly = argv.includes('--cpu-only');
  const sizesArg = valueOf('--sizes=');
  const sizes = sizesArg ? sizesArg.split(',').map((m) => Math.round(Number(m) * (1 << 20))) : smoke ? SIZES_SMOKE : SIZES_FULL;
  const ops = valueOf('--ops=')?.split(',');
  const budgetMs = smoke ? 40 : 400;
  const res: BenchResults = {
    kind: smoke ? 'smoke' : 'full',
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown CPU',
      cores: availableParallelism(),
      memory: fmtBytes(totalmem()),
      os: `${platform()} ${release()}`,
      node: process.version,
      adapters: [],
    },
    commands: [`npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`],
    copies: [],
    kernels: [],
    breeds: [],
    hashes: [],
    gardenBreeds: [],
    notes: [],
  };

  const breedOnly = argv.includes('--breed-only');
  if (!breedOnly) {
    if (!cpuOnly) {
      console.log(`bench (${res.kind}): SHA-256`);
      res.hashes.push(...(await benchHash({ bytes: smoke ? 8 << 20 : 256 << 20, budgetMs, log })));
      console.log(`bench (${res.kind}): garden breed, file to file`);
      res.gardenBreeds.push(...(await benchGardenBreed({ smoke, root, log })));
    }
    console.log(`bench (${res.kind}): CPU path in Node`);
    const pool = await createNodeCpuPool();
    try {
      // The smoke run times operators with a range kernel only (each checked against its reference first).
      const cpu = await benchCpu({
        path: 'cpu-node',
        pool,
        sizes,
        referenceSizes: smoke ? sizes : REFERENCE_SIZES_FULL,
        budgetMs,
        log,
        fastOnly: smoke,
        ...(ops ? { operators: ops } : {}),
      });
      res.copies.push(...cpu.copies);
      res.kernels.push(...cpu.kernels);
      // Each range kernel's verdict against its issue-22 target, beside the copy of the same run.
      for (const r of cpu.kernels.filter((k) => k.impl === 'fast'))
        log(
          `${r.path} ${fmtElements(r.elements)}: ${r.operator} ${r.ofCopy.toFixed(2)} of copy (${r.copyGbps.toFixed(2)} GB/s) ${kernelTarget(r)}`,
        );
    } finally {
      pool.terminate();
    }
  }

  if (!breedOnly && !cpuOnly) {
    console.log(`bench (${res.kind}): language models in Node (onnxruntime-web wasm)`);
    const { benchLm } = await import('./lm.ts');
    res.lm = await benchLm({ smoke, log });
    console.log(
      `bench (${res.kind}): training throughput (bench/train.ts)${argv.includes('--dawn') ? ', the WebGPU step through Dawn too' : ''}`,
    );
    const { benchTrain } = await import('./train.ts');
    res.notes.push(...(await benchTrain({ smoke, dawn: argv.includes('--dawn'), log })).notes);
  }

  if (!smoke && !breedOnly)
    res.notes.push(
      `CPU path: operators without a range kernel ("reference only") are timed at ${REFERENCE_SIZES_FULL.map(fmtElements).join(' and ')} elements only, to keep the full run within minutes on 2 cores`,
    );
  if (!argv.includes('--no-browser') && !cpuOnly) {
    console.log('bench: Chromium (WebGPU, CPU path in the page, streaming breed)');
    const b = await runBrowser({ smoke, root, log, breedOnly });
    res.copies.push(...b.copies);
    res.kernels.push(...b.kernels);
    res.breeds.push(...b.breeds);
    res.notes.push(...b.notes);
    res.machine.browser = b.browser;
    res.machine.adapters.push(...b.adapters);
    // A toy-sized smoke of the app's breed from IndexedDB (seconds); the 124 M-parameter run is `npx tsx bench/app-breed.ts`.
    console.log('bench: the app breed from IndexedDB in its kernel worker (smoke)');
    res.notes.push(...(await benchAppBreed({ smoke: true, operator: 'task-delta', log })).lines);
  }

  if (argv.includes('--dawn')) {
    console.log('bench: WebGPU through Dawn in Node');
    const { runDawn } = await import('./dawn.ts');
    const d = await runDawn({ smoke, log });
    res.copies.push(...d.copies);
    res.kernels.push(...d.kernels);
    res.notes.push(...d.notes);
    res.machine.adapters.push(...d.adapters);
  }

  const md = markdown(res);
  writeFileSync(`${root}bench/results.json`, JSON.stringify(res, null, 2) + '\n');
  console.log('\n' + md + '\n');
  const docs = !smoke && !breedOnly && !cpuOnly && !argv.includes('--no-write-docs');
  if (docs) writeDocs(md, argv.includes('--no-browser'));
  console.log(
    `bench: done in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote bench/results.json${docs ? ' and docs/BENCHMARKS.md' : ''}`,
  );
  return 0;
}

/**
 * docs/BENCHMARKS.md keeps its prose; the tables between the markers are the latest full run. A
 * Node-only run (--no-browser) has its own markers, so it never erases the browser figures.
 */
function writeDocs(md: string, nodeOnly: boolean): void {
  const file = `${root}docs/BENCHMARKS.md`;
  const begin = nodeOnly
    ? '<!-- bench-node:begin (written by npm run bench -- --no-browser) -->'
    : '<!-- bench:begin (written by npm run bench) -->';
  const end = nodeOnly ? '<!-- bench-node:end -->' : '<!-- bench:end -->';
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${begin}\n${end}\n`;
  if (!doc.includes(begin)) doc += `\n## Latest Node-only full run\n\n${begin}\n${end}\n`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/BENCHMARKS.md lost its markers ${begin} … ${end}`);
  writeFileSync(file, doc.slice(0, i + begin.length) + '\n' + md + '\n' + doc.slice(j));
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
