/**
 * The app's breed of a large model from IndexedDB, measured against issue 22's target: peak
 * memory ≤ 4 shards (64 MiB) + 64 MiB, the main thread never blocked > 50 ms, progress with ETA,
 * and Cancel within one chunk. `npx tsx bench/app-breed.ts [--smoke] [--operator ID] [--json]`.
 *
 * Headless Chromium (scripts/ensure-chromium.mjs, a persistent profile on disk: an incognito
 * IndexedDB is held in memory) opens a page (bench/app-breed-page.ts) that writes a base and
 * three fine-tunes of a GPT-2-small-shaped model (124 M parameters, bench/model.ts; --smoke: a
 * toy) into IndexedDB. A fresh page then breeds them in the app's own kernel worker
 * (workers/kernel.worker.ts breedStored: IndexedDB → IndexedDB chunk by chunk) and lists the
 * candidate, then breeds again and cancels part-way. WebGPU is off (no --enable-unsafe-webgpu):
 * this machine's adapter is software, so the worker takes the CPU path, as on a machine
 * without WebGPU.
 *
 * Memory, from /proc: each Chromium process's peak resident set (VmHWM) is reset (clear_refs 5)
 * just before the breed, and its growth over the resident set then (VmRSS) is read after it. The
 * verdict takes the renderer (the page's main thread and the kernel worker: one process); the
 * sum over the whole tree (browser process with IndexedDB's backing store, GPU, utility) and the
 * tree's Pss sampled every 100 ms (bench/memory.ts) are printed beside it.
 */
import { chromium, type Page } from 'playwright-core';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHROMIUM, CHROMIUM_ARGS } from '../scripts/ensure-chromium.mjs';
import { bundle } from './bundle.ts';
import { serve } from './server.ts';
import { findPid, sampleTree } from './memory.ts';
import { TARGETS } from './report.ts';
import type { AppBreedRun, GardenInfo } from './app-breed-page.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const MIB = 2 ** 20;
const SHARD_BYTES = 64 * MIB;
/** The store's chunk (and the breed's): 1 Mi float32 elements. */
const CHUNK_BYTES = 4 * MIB;

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The Chromium process tree under `rootPid`, with each process's type (browser, renderer, gpu-process, utility…). */
function processes(rootPid: number): { pid: number; type: string }[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = read(`/proc/${d}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
  }
  const out: { pid: number; type: string }[] = [];
  const todo = [rootPid];
  while (todo.length) {
    const pid = todo.pop()!;
    // A zygote-forked child may rewrite its command line as one string: the switch is matched anywhere in it.
    const type = read(`/proc/${pid}/cmdline`)?.match(/--type=([\w-]+)/)?.[1] ?? (pid === rootPid ? 'browser' : 'other');
    out.push({ pid, type });
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

const statusKb = (pid: number, field: 'VmRSS' | 'VmHWM'): number => {
  const m = read(`/proc/${pid}/status`)?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) * 1024 : 0;
};

/** Reset every process's VmHWM to its current RSS and remember that RSS; later, the growth of each. */
function highWater(rootPid: number) {
  const before = new Map<number, { type: string; rss: number }>();
  let resets = 0;
  for (const p of processes(rootPid)) {
    try {
      writeFileSync(`/proc/${p.pid}/clear_refs`, '5');
      resets++;
    } catch {
      // not ours to reset: its lifetime peak is read instead
    }
    before.set(p.pid, { type: p.type, rss: statusKb(p.pid, 'VmRSS') });
  }
  return {
    resets,
    /** Each process's peak over its resident set at the reset; one started since counts from 0. */
    growth(): { type: string; pid: number; before: number; peak: number }[] {
      return processes(rootPid).map((p) => ({
        pid: p.pid,
        type: p.type,
        before: before.get(p.pid)?.rss ?? 0,
        peak: statusKb(p.pid, 'VmHWM'),
      }));
    },
  };
}

export interface AppBreedBench {
  browser: string;
  model: string;
  garden: GardenInfo;
  run: AppBreedRun;
  memory: { renderer: number; tree: number; treePss: number | null; resets: number; processes: string[] };
  lines: string[];
}

export async function benchAppBreed(o: { smoke: boolean; operator: string; log?: (s: string) => void }): Promise<AppBreedBench> {
  const log = o.log ?? (() => undefined);
  const [page, worker] = await Promise.all([bundle(`${root}bench/app-breed-page.ts`), bundle(`${root}workers/kernel.worker.ts`)]);
  const server = await serve({
    '/': {
      type: 'text/html',
      body: '<!doctype html><meta charset="utf-8"><title>slm-garden app breed bench</title><script type="module" src="/page.js"></script>',
    },
    '/page.js': { type: 'text/javascript', body: page },
    '/kernel-worker.js': { type: 'text/javascript', body: worker },
    '/favicon.ico': { type: 'image/x-icon', body: '' },
  });
  const tag = `--slm-garden-app-breed=${process.pid}-${Date.now()}`;
  const profile = mkdtempSync(join(tmpdir(), 'slm-garden-app-breed-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    // No --enable-unsafe-webgpu: the kernel worker takes the CPU path (this machine's adapter is software).
    args: [...CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'), tag],
    headless: true,
  });
  const browserPid = findPid(tag);
  const db = 'slm-garden-bench-app-breed';
  try {
    const open = async (): Promise<Page> => {
      const p = await context.newPage();
      p.on('console', (m) => !m.text().startsWith('bench-phase:') && log(m.text()));
      p.on('pageerror', (e) => log(`page error: ${e.message}`));
      await p.goto(server.url + '/');
      await p.waitForFunction(() => 'breedApp' in globalThis, null, { timeout: 30_000 });
      return p;
    };
    // The garden is written in a page of its own, closed before the breed: its memory is not the breed's.
    const builder = await open();
    const garden = (await builder.evaluate(
      (x) => (globalThis as unknown as { buildGarden(y: typeof x): Promise<unknown> }).buildGarden(x),
      { smoke: o.smoke, db },
    )) as GardenInfo;
    await builder.close();
    log(
      `garden: ${garden.ids.length} models of ${(garden.parameters / 1e6).toFixed(1)} M parameters in ${(garden.buildMs / 1000).toFixed(1)} s`,
    );
    const breeder = await open();
    await new Promise((r) => setTimeout(r, 1000)); // let the new page settle
    const sampler = sampleTree(browserPid);
    sampler.mark();
    const hw = browserPid === null ? null : highWater(browserPid);
    const run = (await breeder.evaluate((x) => (globalThis as unknown as { breedApp(y: typeof x): Promise<unknown> }).breedApp(x), {
      db,
      ids: garden.ids,
      operator: o.operator,
      cancelAt: 0.25,
    })) as AppBreedRun;
    const growth = hw?.growth() ?? [];
    const pss = sampler.window();
    sampler.stop();
    await breeder.close();
    const renderer = growth.filter((g) => g.type === 'renderer').reduce((a, g) => a + Math.max(0, g.peak - g.before), 0);
    const tree = growth.reduce((a, g) => a + Math.max(0, g.peak - g.before), 0);
    const memory = {
      renderer,
      tree,
      treePss: pss ? pss.peak - pss.baseline : null,
      resets: hw?.resets ?? 0,
      processes: growth
        .filter((g) => g.peak - g.before > MIB)
        .map((g) => `${g.type} ${g.pid}: ${mib(g.before)} → peak ${mib(g.peak)} (+${mib(g.peak - g.before)})`),
    };
    return {
      browser: `Chromium ${context.browser()?.version() ?? '(version unknown)'}`,
      model: o.smoke ? 'GPT-2-shaped toy' : 'GPT-2-small-shaped (124 M parameters)',
      garden,
      run,
      memory,
      lines: verdicts(run, memory, garden).map((l) =>
        o.smoke ? `smoke (a toy model: figures, not the target): ${l.replace(/^(PASS|MISS) /, '')}` : l,
      ),
    };
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const mib = (b: number) => `${(b / MIB).toFixed(1)} MiB`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
const records = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

function verdicts(run: AppBreedRun, memory: AppBreedBench['memory'], garden: GardenInfo): string[] {
  const limit = TARGETS.breedMemory.shards * SHARD_BYTES + TARGETS.breedMemory.constant;
  const chunks = Math.ceil(garden.modelBytes / CHUNK_BYTES);
  const chunkMs = run.chunkMs;
  const c = run.cancel;
  // Within one chunk: at most the chunk in flight is written after the Cancel, and it stops within a chunk's time.
  const same = !!c && JSON.stringify(c.before) === JSON.stringify(c.after);
  const cancelOk = !!c && c.error === 'BreedCancelled' && c.chunksAfter <= 1 && c.stopMs <= chunkMs && same;
  return [
    `${verdict(memory.renderer <= limit)} peak memory: renderer (page + kernel worker) +${mib(memory.renderer)} over its resident set before the breed, limit ${mib(limit)} (4 shards of 64 MiB + 64 MiB); whole process tree: VmHWM growth summed +${mib(memory.tree)}, Pss sampled every 100 ms +${memory.treePss === null ? 'n/a' : mib(memory.treePss)}; the driver's own figure ${mib(run.peakHeldBytes)}`,
    `${verdict(run.longestTaskMs <= TARGETS.longTask.ms)} main thread: longest task ${run.longestTaskMs.toFixed(0)} ms (≤ ${TARGETS.longTask.ms} ms), ${run.longTasks} long tasks over the ${(run.wallMs / 1000).toFixed(1)} s breed`,
    `${verdict(run.progressEvents > chunks && run.etaSamples.length > 0)} progress with ETA: ${run.progressEvents} progress events (${chunks} chunks of 4 MiB per pass), one whole chunk every ${chunkMs.toFixed(0)} ms (median of ${run.chunkSamples}; longest gap between events ${run.progressMaxGapMs.toFixed(0)} ms); ETA as the app shows it: ${run.etaSamples.slice(0, 6).join(', ')}`,
    c
      ? `${verdict(cancelOk)} Cancel at ${(100 * c.at).toFixed(0)} %: ${c.chunksAfter} chunk(s) written after it, the last ${c.stopMs.toFixed(0)} ms after (one chunk: ${chunkMs.toFixed(0)} ms); ${c.error} reached the page ${c.latencyMs.toFixed(0)} ms after cancel(), the finished outputs dropped meanwhile; store records ${same ? 'unchanged' : `changed: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`} (${records(c.after)})`
      : 'MISS Cancel: not run',
  ];
}

async function main(argv: string[]): Promise<number> {
  let operator = 'task-delta';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--operator') operator = argv[++i] ?? '';
    else if (a !== '--smoke' && a !== '--json') {
      console.error(`bench/app-breed: unknown option "${a}"; valid: --smoke, --operator ID, --json`);
      return 2;
    }
  }
  const json = argv.includes('--json');
  const t0 = performance.now();
  const r = await benchAppBreed({ smoke: argv.includes('--smoke'), operator, log: json ? undefined : console.log });
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return 0;
  }
  const g = r.garden;
  const run = r.run;
  console.log(`${r.browser}; ${r.model}, ${operator}, base + 3 parents, from IndexedDB in the app's kernel worker (CPU path)`);
  console.log(
    `garden: ${(g.parameters / 1e6).toFixed(1)} M parameters a model, ${mib(g.modelBytes)} each, ${mib(g.storedBytes)} stored (frozen tensors shared), written in ${(g.buildMs / 1000).toFixed(1)} s`,
  );
  console.log(
    `breed: ${(run.wallMs / 1000).toFixed(1)} s on ${run.backend}, plans ${JSON.stringify(run.plans)}, read ${mib(run.bytesRead)}; candidate ${run.candidate.slice(0, 16)}…, model ${run.modelId.slice(0, 12)}…`,
  );
  for (const p of r.memory.processes) console.log(`  ${p}`);
  for (const l of r.lines) console.log(l);
  console.log(`bench: ${((performance.now() - t0) / 1000).toFixed(1)} s in all`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));
