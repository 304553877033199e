/**
 * Memory of a whole Chromium (browser, renderers, GPU and utility processes, IndexedDB's backing
 * store included), from outside: the proportional set size (Pss, /proc/<pid>/smaps_rollup; RSS
 * where Pss cannot be read) summed over the process tree, sampled while a breed runs. Linux only;
 * elsewhere the sampler reports nothing and the table says so.
 */
import { readdirSync, readFileSync } from 'node:fs';

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The pid of the process whose command line contains `tag` (a unique switch passed at launch). */
export function findPid(tag: string): number | null {
  let dirs: string[];
  try {
    dirs = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const d of dirs) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = read(`/proc/${d}/cmdline`);
    if (cmd && cmd.split('\0').includes(tag)) return Number(d);
  }
  return null;
}

function tree(root: number): number[] {
  const parent = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = read(`/proc/${d}/stat`);
    if (!stat) continue;
    // Fields after the parenthesised command name: state, ppid, …
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = parent.get(ppid) ?? [];
    list.push(Number(d));
    parent.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(parent.get(p) ?? []));
  }
  return out;
}

/** Pss (else RSS) of one process, bytes, or 0 when it is gone. */
function pss(pid: number): number {
  const roll = read(`/proc/${pid}/smaps_rollup`);
  const m = roll?.match(/^Pss:\s+(\d+) kB/m) ?? read(`/proc/${pid}/status`)?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

export function treeBytes(root: number): number {
  return tree(root).reduce((a, p) => a + pss(p), 0);
}

export interface MemorySampler {
  /** Start a window: its baseline is the current size. */
  mark(): void;
  /** Peak above the last mark's baseline, and the baseline. */
  window(): { baseline: number; peak: number } | null;
  stop(): void;
}

export function sampleTree(root: number | null, everyMs = 100): MemorySampler {
  if (root === null) return { mark() {}, window: () => null, stop() {} };
  let baseline = treeBytes(root);
  let peak = baseline;
  let marked = false;
  const timer = setInterval(() => {
    peak = Math.max(peak, treeBytes(root));
  }, everyMs);
  return {
    mark() {
      baseline = treeBytes(root);
      peak = baseline;
      marked = true;
    },
    window: () => (marked ? { baseline, peak: Math.max(peak, treeBytes(root)) } : null),
    stop: () => clearInterval(timer),
  };
}
