/**
 * A streamed three-parent TIES breed of SmolLM-135M-shaped BF16 language models, file to file,
 * in bounded memory (issue 18): a base and three fine-tunes (base + a small seeded delta) written
 * as safetensors files, then, in a fresh Node process of its own, breedStream (the core driver
 * the app's streaming breed uses) reads each parent by byte range from its file, chunk by chunk,
 * on the CPU fast path, and writes the BF16 candidate tensor by tensor to a file.
 *
 * Memory is measured in that process: the driver's own peak of held chunks (peakHeldBytes), and
 * the process's resident set, sampled every 20 ms, as growth over its value when the breed starts
 * (after imports and the worker pool), and its lifetime peak (process.resourceUsage().maxRSS).
 * The target is the bench's streaming-breed one (report.ts TARGETS.breedMemory): ≤ 4 shards of
 * 64 MiB + 64 MiB, while one parent alone is 269 MB and the four inputs 1.08 GB.
 *
 * `npx tsx bench/lm-breed.ts [--smoke] [--json]` (--smoke: 1 layer, vocabulary 1024); `npm run
 * bench` runs it in the language-model section.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encodeHeader, parseHeader } from '../src/core/format/safetensors.ts';
import type { ModelSource, SourceTensor } from '../src/core/operators/stream.ts';
import { mulberry32 } from '../src/core/seeded.ts';
import { fromFloat32, numel } from '../src/core/tensor.ts';
import { expectedTensors } from '../src/core/models/llama-config.ts';
import { smolShaped } from './lm-common.ts';
import { TARGETS } from './report.ts';

export interface LmBreedRow {
  model: string;
  operator: string;
  params: Record<string, unknown>;
  parents: number;
  parameters: number;
  /** One parent's stored bytes (BF16). */
  parentBytes: number;
  candidateBytes: number;
  candidateSha256: string;
  backend: string;
  plans: Record<string, number>;
  chunkBytes: number;
  wallMs: number;
  /** Bytes read from the parent files (selection passes re-read). */
  bytesRead: number;
  /** The driver's peak of decoded chunks, whole tensors and outputs held at once. */
  peakHeldBytes: number;
  /** Peak resident set growth of the breed process over its value at the start of the breed (sampled). */
  peakRssGrowthBytes: number;
  baselineRssBytes: number;
  /** The breed process's lifetime peak resident set (getrusage). */
  maxRssBytes: number;
  shardBytes: number;
  limitBytes: number;
  /** peakRssGrowthBytes and peakHeldBytes within 4 shards + the constant. */
  withinLimit: boolean;
}

const SHARD_BYTES = 64 * 2 ** 20;
export const LM_BREED_PARAMS = { density: 0.5 } as const;

/** Write the base (parent 0) and three fine-tunes as safetensors files, one tensor at a time. */
function writeParents(dir: string, layers: number, vocab: number): { files: string[]; parameters: number } {
  const { cfg } = smolShaped(1, vocab); // the config only; tensors are drawn here, tensor by tensor
  const specs = expectedTensors({ ...cfg, numLayers: layers })
    .filter((t) => !t.optional)
    .map((t) => ({ name: t.name, dtype: 'BF16' as const, shape: [...t.shape] }));
  const { header, order } = encodeHeader(specs, { format: 'pt' });
  const files: string[] = [];
  for (let p = 0; p < 4; p++) {
    const file = join(dir, p === 0 ? 'base.safetensors' : `tune-${p}.safetensors`);
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, header);
      order.forEach((s, k) => {
        const n = numel(s.shape);
        const base = mulberry32(1000 + k);
        const delta = mulberry32(7919 * (p + 1) + k);
        const v = new Float32Array(n);
        for (let i = 0; i < n; i++) v[i] = 0.04 * (base() - 0.5) + (p ? 0.004 * (delta() - 0.5) : 0);
        writeSync(fd, fromFloat32(s.name, s.shape, v, 'BF16').data);
      });
    } finally {
      closeSync(fd);
    }
    files.push(file);
  }
  return { files, parameters: specs.reduce((a, s) => a + numel(s.shape), 0) };
}

/** A safetensors file as a ModelSource: the header parsed once, every tensor read by byte range. */
async function fileSource(path: string): Promise<{ source: ModelSource; close(): Promise<void> }> {
  const fh: FileHandle = await open(path, 'r');
  const size = (await fh.stat()).size;
  const len = new Uint8Array(8);
  await fh.read(len, 0, 8, 0);
  const n = Number(new DataView(len.buffer).getBigUint64(0, true));
  const prefix = new Uint8Array(8 + n);
  await fh.read(prefix, 0, prefix.length, 0);
  const h = parseHeader(prefix, size);
  const at = new Map(h.entries.map((e) => [e.name, e]));
  const tensors: SourceTensor[] = h.entries
    .map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    source: {
      tensors,
      async read(name, offset, length) {
        const e = at.get(name);
        if (!e || offset < 0 || offset + length > e.end - e.begin)
          throw new Error(`${path}: no bytes [${offset}, +${length}) of "${name}"`);
        const out = new Uint8Array(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(out, got, length - got, h.dataStart + e.begin + offset + got);
          if (bytesRead === 0) throw new Error(`${path}: short read of "${name}"`);
          got += bytesRead;
        }
        return out;
      },
    },
    close: () => fh.close(),
  };
}

/** The breed itself, in this (child) process; prints one JSON line. */
async function child(files: string[], out: string): Promise<void> {
  const { breedStream } = await import('../src/core/operators/breed.ts');
  const { createNodeCpuPool } = await import('../src/cpu/node.ts');
  const { createFastCpuBackend } = await import('../src/cpu/backend.ts');
  const pool = await createNodeCpuPool();
  const backend = createFastCpuBackend(pool);
  const opened = await Promise.all(files.map(fileSource));
  const fd = openSync(out, 'w');
  let written = 0;
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const t0 = performance.now();
  try {
    const r = await breedStream(
      { operator: 'ties', params: { ...LM_BREED_PARAMS }, seed: 1, parents: opened.map((o) => o.source) },
      backend,
      {
        output() {
          const h = createHash('sha256');
          return {
            async write(bytes) {
              writeSync(fd, bytes);
              h.update(bytes);
              written += bytes.length;
              peak = Math.max(peak, process.memoryUsage.rss());
            },
            async finish() {
              return { hash: h.digest('hex') };
            },
          };
        },
        onProgress: () => void (peak = Math.max(peak, process.memoryUsage.rss())),
      },
    );
    const wallMs = performance.now() - t0;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());
    const all = createHash('sha256');
    for (const o of r.outputs) all.update(`${o.name}:${o.hash}\n`);
    console.log(
      JSON.stringify({
        wallMs,
        bytesRead: r.bytesRead,
        peakHeldBytes: r.peakHeldBytes,
        plans: r.plans,
        candidateBytes: written,
        candidateSha256: all.digest('hex'),
        backend: backend.adapter,
        baselineRssBytes: baseline,
        peakRssGrowthBytes: peak - baseline,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
      }),
    );
  } finally {
    clearInterval(sampler);
    closeSync(fd);
    await Promise.all(opened.map((o) => o.close()));
    pool.terminate();
  }
}

/** Write the parents, breed them in a child process, and report its memory against 4 shards + the constant. */
export async function benchLmBreed(o: { smoke: boolean; log?: (s: string) => void }): Promise<LmBreedRow> {
  const layers = o.smoke ? 1 : 30;
  const vocab = o.smoke ? 1024 : 49152;
  const dir = mkdtempSync(join(tmpdir(), 'slm-garden-lm-breed-'));
  try {
    const t0 = performance.now();
    const { files, parameters } = writeParents(dir, layers, vocab);
    o.log?.(`  wrote 4 BF16 parents of ${(parameters / 1e6).toFixed(1)} M parameters in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const out = join(dir, 'candidate.bin');
    const self = fileURLToPath(import.meta.url);
    const text = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', self, '--child', out, ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      c.stdout.on('data', (d: Buffer) => (s += d.toString()));
      c.on('error', reject);
      c.on('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`the breed process exited with ${code}`))));
    });
    const r = JSON.parse(text.trim().split('\n').pop()!) as Omit<
      LmBreedRow,
      | 'model'
      | 'operator'
      | 'params'
      | 'parents'
      | 'parameters'
      | 'parentBytes'
      | 'chunkBytes'
      | 'shardBytes'
      | 'limitBytes'
      | 'withinLimit'
    >;
    const limitBytes = TARGETS.breedMemory.shards * SHARD_BYTES + TARGETS.breedMemory.constant;
    const { BREED_CHUNK_ELEMENTS } = await import('../src/core/operators/breed.ts');
    return {
      model: `SmolLM-135M-shaped, ${layers} layers, vocabulary ${vocab}, BF16, random weights (base + 3 fine-tunes)`,
      operator: 'ties',
      params: { ...LM_BREED_PARAMS },
      parents: 3,
      parameters,
      parentBytes: statSync(files[0]).size,
      chunkBytes: 4 * BREED_CHUNK_ELEMENTS,
      shardBytes: SHARD_BYTES,
      limitBytes,
      withinLimit: r.peakRssGrowthBytes <= limitBytes && r.peakHeldBytes <= limitBytes,
      ...r,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function lmBreedLine(b: LmBreedRow): string {
  const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
  return (
    `${b.model}: TIES (density ${b.params.density}) of ${b.parents} fine-tunes over the base, streamed file → file on ${b.backend}: ` +
    `${(b.wallMs / 1000).toFixed(1)} s, ${mib(b.bytesRead)} read; peak held ${mib(b.peakHeldBytes)}, process RSS +${mib(b.peakRssGrowthBytes)} ` +
    `over ${mib(b.baselineRssBytes)} (lifetime max ${mib(b.maxRssBytes)}); limit 4 × ${mib(b.shardBytes)} + ${mib(TARGETS.breedMemory.constant)} = ${mib(b.limitBytes)}: ` +
    `${b.withinLimit ? 'PASS' : 'MISS'} (one parent is ${mib(b.parentBytes)}; plans ${JSON.stringify(b.plans)})`
  );
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--child') {
    await child(argv.slice(2), argv[1]);
    return 0;
  }
  const KNOWN = ['--smoke', '--json'];
  for (const a of argv)
    if (!KNOWN.includes(a)) {
      console.error(`bench/lm-breed: unknown option "${a}"; valid: ${KNOWN.join(', ')}`);
      return 2;
    }
  const json = argv.includes('--json');
  const b = await benchLmBreed({ smoke: argv.includes('--smoke'), log: json ? undefined : console.log });
  console.log(json ? JSON.stringify(b, null, 2) : lmBreedLine(b));
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));
