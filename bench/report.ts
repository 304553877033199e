/**
 * Targets (reported, never asserted) and the Markdown table.
 */
import { PATHS, fmtBytes, fmtElements, type CopyRow, type KernelRow } from './common.ts';

export interface BreedFigures {
  path: string;
  model: string;
  operator: string;
  operatorNote: string;
  /** How the operator was streamed (element-wise, or exact streamed top-k passes). */
  plan: string;
  backend: string;
  software: boolean;
  parents: number;
  tensors: number;
  parameters: number;
  /** Logical bytes the operator consumed and produced: every input tensor once + the output once. */
  bytesMoved: number;
  /** Bytes actually read from IndexedDB, selection passes included. */
  bytesRead: number;
  wallMs: number;
  /** Peak bytes of tensor chunks and scratch the driver held at once. */
  peakHeldBytes: number;
  /** Peak bytes the backend held (the CPU pool's arena). */
  peakBackendBytes: number;
  /** Peak growth of the whole Chromium process tree (Pss) during the breed over its level at the start, or null. */
  peakProcessBytes: number | null;
  baselineProcessBytes: number | null;
  /** Peak JS heap growth (performance.memory), or null when the browser gives none (workers). */
  peakHeapBytes: number | null;
  largestTensorBytes: number;
  chunkBytes: number;
  peakGpuBufferBytes: number;
  shardBytes: number;
  longestMainTaskMs: number;
  longTasks: number;
  idbWriteBytesPerS: number;
  idbReadBytesPerS: number;
  dedupeLogicalBytes: number;
  dedupeStoredBytes: number;
  outputHash: string;
  signConflicts: number;
}

export interface BenchResults {
  kind: 'smoke' | 'full';
  date: string;
  machine: { cpu: string; cores: number; memory: string; os: string; node: string; browser?: string; adapters: string[] };
  commands: string[];
  copies: CopyRow[];
  kernels: KernelRow[];
  breeds: BreedFigures[];
  notes: string[];
}

export const TARGETS = Object.freeze({
  gpuElementwise: { ofCopy: 0.6, text: 'real GPU elementwise ≥ 0.60 of copy' },
  gpuSelection: { ofCopy: 0.25, text: 'real GPU TIES / pruning ≥ 0.25 of copy' },
  cpuOfCopy: { ofCopy: 0.7, text: 'CPU path elementwise ≥ 0.70 of copy (both cores)' },
  cpuSpeedup: { ratio: 1.5, text: 'CPU path ≥ 1.5× the single-threaded loop' },
  breedMemory: { shards: 4, constant: 64 * 2 ** 20, text: 'streaming breed peak memory ≤ 4 shards + 64 MiB' },
  longTask: { ms: 50, text: 'longest main-thread task during a breed < 50 ms' },
} as const);

/** Operators that select (top-k, thresholds) and so do more than one pass: the lower GPU target. */
export const isSelection = (op: string) => /ties|prun|sparse|topk|top_k|trim/i.test(op);

const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

export function kernelTarget(r: KernelRow): string {
  if (r.path.startsWith('webgpu')) {
    if (r.software) return 'n/a (software)';
    const t = isSelection(r.operator) ? TARGETS.gpuSelection.ofCopy : TARGETS.gpuElementwise.ofCopy;
    return `${verdict(r.ofCopy >= t)} (≥ ${t.toFixed(2)})`;
  }
  if (r.impl === 'reference only') return 'no range kernel yet';
  if (r.impl !== 'fast') return '';
  if (isSelection(r.operator)) return `— (${r.speedup?.toFixed(2)}×)`;
  const a = r.ofCopy >= TARGETS.cpuOfCopy.ofCopy;
  const b = (r.speedup ?? 0) >= TARGETS.cpuSpeedup.ratio;
  return `${verdict(a)} copy ≥ 0.70, ${verdict(b)} ≥ 1.5×`;
}

const fmtX = (x: number) => `${x.toFixed(2)}`;

/**
 * One line per issue-8 target. Kernel targets are judged at the largest size timed (the
 * memory-bound regime: at 1 M elements a copy runs from cache), and the smaller sizes are listed.
 */
export function targetSummary(res: BenchResults): { target: string; verdict: string; figures: string }[] {
  const out: { target: string; verdict: string; figures: string }[] = [];
  const gpu = res.kernels.filter((r) => r.path.startsWith('webgpu'));
  const real = gpu.filter((r) => !r.software);
  for (const [sel, t] of [[false, TARGETS.gpuElementwise], [true, TARGETS.gpuSelection]] as const) {
    const rows = real.filter((r) => isSelection(r.operator) === sel);
    if (rows.length === 0) {
      out.push({ target: t.text, verdict: 'not measurable here', figures: gpu.length ? 'only a software adapter (SwiftShader) on this machine; its figures are no performance figure' : 'no WebGPU adapter' });
      continue;
    }
    const worst = rows.reduce((a, b) => (b.ofCopy < a.ofCopy ? b : a));
    out.push({ target: t.text, verdict: verdict(rows.every((r) => r.ofCopy >= t.ofCopy)), figures: `lowest: ${worst.operator} ${worst.impl} at ${fmtElements(worst.elements)}, ${fmtX(worst.ofCopy)} of copy` });
  }
  const paths = [...new Set(res.kernels.filter((r) => r.impl === 'fast' && !isSelection(r.operator)).map((r) => r.path))];
  for (const path of paths) {
    const rows = res.kernels.filter((r) => r.path === path && r.impl === 'fast' && !isSelection(r.operator));
    const largest = Math.max(...rows.map((r) => r.elements));
    const top = rows.filter((r) => r.elements === largest);
    const others = rows.filter((r) => r.elements !== largest).map((r) => `${r.operator} ${fmtElements(r.elements)}: ${fmtX(r.ofCopy)}, ${fmtX(r.speedup ?? 0)}×`);
    const okCopy = top.every((r) => r.ofCopy >= TARGETS.cpuOfCopy.ofCopy);
    const okSpeed = top.every((r) => (r.speedup ?? 0) >= TARGETS.cpuSpeedup.ratio);
    out.push({
      target: `${TARGETS.cpuOfCopy.text}; ${TARGETS.cpuSpeedup.text} — ${PATHS[path]}`,
      verdict: `${verdict(okCopy)} / ${verdict(okSpeed)}`,
      figures: `${top.map((r) => `${r.operator} at ${fmtElements(r.elements)}: ${fmtX(r.ofCopy)} of copy, ${fmtX(r.speedup ?? 0)}× the loop`).join('; ')} (smaller sizes: ${others.join('; ') || 'none'})`,
    });
  }
  for (const b of res.breeds) {
    const limit = TARGETS.breedMemory.shards * b.shardBytes + TARGETS.breedMemory.constant;
    const held = b.peakHeldBytes + b.peakBackendBytes + b.peakGpuBufferBytes;
    const proc = b.peakProcessBytes;
    out.push({
      target: TARGETS.breedMemory.text,
      verdict: verdict(held <= limit && (proc === null || proc <= limit)),
      figures: `${b.model}, ${b.operator}: tensor memory ${fmtBytes(held)}; whole Chromium process tree grew ${proc === null ? 'n/a' : fmtBytes(proc)}; largest tensor ${fmtBytes(b.largestTensorBytes)}, chunks ${fmtBytes(b.chunkBytes)}`,
    });
    out.push({ target: TARGETS.longTask.text, verdict: verdict(b.longestMainTaskMs < TARGETS.longTask.ms), figures: `${b.longestMainTaskMs.toFixed(0)} ms longest, ${b.longTasks} long tasks, over a ${(b.wallMs / 1000).toFixed(1)} s breed` });
  }
  return out;
}

export function markdown(res: BenchResults): string {
  const L: string[] = [];
  const m = res.machine;
  L.push(`Run: ${res.kind}, ${res.date}`);
  L.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, ${m.os}; Node ${m.node}${m.browser ? `; ${m.browser}` : ''}`);
  for (const a of m.adapters) L.push(`Adapter: ${a}`);
  L.push('');
  L.push('### Targets (issue 8), from the figures below');
  L.push('');
  L.push('| target | verdict | deciding figures |');
  L.push('|---|---|---|');
  for (const t of targetSummary(res)) L.push(`| ${t.target} | ${t.verdict} | ${t.figures} |`);
  L.push('');
  L.push('### Copy yardstick (bytes read + written per second)');
  L.push('');
  L.push('| path | copy | elements | GB/s |');
  L.push('|---|---|---:|---:|');
  for (const c of res.copies) {
    L.push(`| ${PATHS[c.path]}${c.software ? ' — software, not a performance figure' : ''} | ${c.impl} | ${fmtElements(c.elements)} | ${c.gbps.toFixed(2)} |`);
  }
  L.push('');
  L.push('### Operators: bandwidth as a fraction of the same device\'s copy, same run');
  L.push('');
  L.push('| path | operator | impl | elements | inputs | best ms | median ms | GB/s | of copy | × reference | target |');
  L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of res.kernels) {
    const path = `${PATHS[r.path]}${r.software ? ' — software, not a performance figure' : ''}`;
    L.push(
      `| ${path} | ${r.operator} | ${r.impl} | ${fmtElements(r.elements)} | ${r.inputs} | ${r.ms.toFixed(2)} | ${r.medianMs.toFixed(2)} | ${r.gbps.toFixed(2)} | ${r.ofCopy.toFixed(2)} | ${r.speedup === undefined ? '' : r.speedup.toFixed(2) + '×'} | ${kernelTarget(r)} |`,
    );
  }
  for (const b of res.breeds) {
    L.push('');
    L.push(`### Streaming breed, IndexedDB → IndexedDB (${b.path})`);
    L.push('');
    const limit = TARGETS.breedMemory.shards * b.shardBytes + TARGETS.breedMemory.constant;
    const shards = (x: number) => `${fmtBytes(x)} = ${(x / b.shardBytes).toFixed(2)} shards`;
    L.push('| figure | value | target |');
    L.push('|---|---|---|');
    L.push(`| model | ${b.model}: ${b.tensors} tensors, ${(b.parameters / 1e6).toFixed(1)} M parameters, ${b.parents} parents + base; largest tensor ${fmtBytes(b.largestTensorBytes)} | |`);
    L.push(`| operator | ${b.operator}${b.operatorNote ? ` (${b.operatorNote})` : ''} on ${b.backend}${b.software ? ' — software, not a performance figure' : ''} | |`);
    L.push(`| streaming | ${b.plan}; chunks of ${fmtBytes(b.chunkBytes)}; shard size ${fmtBytes(b.shardBytes)} | |`);
    L.push(`| wall time | ${(b.wallMs / 1000).toFixed(2)} s | |`);
    L.push(`| bytes moved / s | ${(b.bytesMoved / b.wallMs / 1e6).toFixed(3)} GB/s (${fmtBytes(b.bytesMoved)}: inputs once + output once; ${fmtBytes(b.bytesRead)} actually read from IndexedDB) | |`);
    const held = b.peakHeldBytes + b.peakBackendBytes + b.peakGpuBufferBytes;
    L.push(`| peak tensor memory: driver chunks + scratch (${fmtBytes(b.peakHeldBytes)}) + CPU pool arena (${fmtBytes(b.peakBackendBytes)}) + GPU buffers (${fmtBytes(b.peakGpuBufferBytes)}), sum of peaks | ${shards(held)} | ${verdict(held <= limit)} (≤ ${fmtBytes(limit)}) |`);
    L.push(`| peak growth of the whole Chromium process tree (Pss, sampled every 100 ms) | ${b.peakProcessBytes === null ? 'not available (needs Linux /proc)' : `${shards(b.peakProcessBytes)} over ${fmtBytes(b.baselineProcessBytes ?? 0)} at the start`} | ${b.peakProcessBytes === null ? 'n/a' : `${verdict(b.peakProcessBytes <= limit)} (≤ ${fmtBytes(limit)})`} |`);
    L.push(`| peak GPU buffer bytes | ${fmtBytes(b.peakGpuBufferBytes)} | |`);
    L.push(`| longest main-thread task (breed in a worker) | ${b.longestMainTaskMs.toFixed(0)} ms (${b.longTasks} long tasks) | ${verdict(b.longestMainTaskMs < TARGETS.longTask.ms)} (< 50 ms) |`);
    L.push(`| IndexedDB write | ${(b.idbWriteBytesPerS / 1e6).toFixed(1)} MB/s | |`);
    L.push(`| IndexedDB read | ${(b.idbReadBytesPerS / 1e6).toFixed(1)} MB/s | |`);
    L.push(`| chunk dedupe (SHA-256) | ${fmtBytes(b.dedupeLogicalBytes - b.dedupeStoredBytes)} saved: ${fmtBytes(b.dedupeStoredBytes)} stored for ${fmtBytes(b.dedupeLogicalBytes)} written (parents + candidate) | |`);
    L.push(`| TIES sign conflicts | ${b.signConflicts} elements | |`);
    L.push(`| candidate key (SHA-256 over its tensors' chunk records, so it depends on the chunk size) | \`${b.outputHash.slice(0, 16)}…\` | |`);
  }
  if (res.notes.length) {
    L.push('');
    for (const n of res.notes) L.push(`- ${n}`);
  }
  L.push('');
  L.push(`Commands: ${res.commands.map((c) => '`' + c + '`').join(', ')}`);
  return L.join('\n');
}
