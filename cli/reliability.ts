/**
 * Tests only: the record of hostile inputs tried and what became of them, written to
 * docs/RELIABILITY.md by the test run (cli/hostile.test.ts) — never by hand.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../src/core/hash.ts';

export interface ReliabilityRow {
  /** The parser or command attacked: round, recipe, catalog, onnx, slm, ledger, headers… */
  area: string;
  /** What was sent. */
  input: string;
  /** What the garden did (for a refusal, its one line). */
  outcome: string;
  /** Bytes of earlier files changed, removed or left behind half-written (must be 0). */
  bytesLost: number;
  ms?: number;
}

const rows: ReliabilityRow[] = [];

export function record(row: ReliabilityRow): void {
  rows.push(row);
}

export const DOC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'RELIABILITY.md');

/** The files under a path (or the path itself) with their hashes, to count bytes lost or added. */
export function snapshotTree(path: string): {
  files: Map<string, { hash: string; bytes: number }>;
  diffBytes(after: { files: Map<string, { hash: string; bytes: number }> }): number;
} {
  const files = new Map<string, { hash: string; bytes: number }>();
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const st = lstatSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else if (st.isFile()) {
      const b = readFileSync(p);
      files.set(p, { hash: sha256Hex(b), bytes: b.length });
    }
  };
  walk(path);
  return {
    files,
    /** Bytes of files changed, removed, or added (a half-written output counts as lost). */
    diffBytes(after) {
      let lost = 0;
      for (const [p, f] of files) {
        const g = after.files.get(p);
        if (!g) lost += f.bytes;
        else if (g.hash !== f.hash) lost += Math.max(f.bytes, g.bytes);
      }
      for (const [p, g] of after.files) if (!files.has(p)) lost += g.bytes;
      return lost;
    },
  };
}

// Hashes and key ids differ from run to run (fresh keys, temp paths): shown as <hex>, so the document only changes when an outcome does.
const cell = (s: string) =>
  s
    .replaceAll('|', '\\|')
    .replaceAll('\n', ' ')
    .replace(/\b[0-9a-f]{12,64}\b/g, '<hex>');

/** docs/RELIABILITY.md from the rows recorded in this run, grouped by area, in the order tried. */
export function reliabilityMarkdown(list: readonly ReliabilityRow[] = rows): string {
  const areas = [...new Set(list.map((r) => r.area))];
  const lost = list.reduce((s, r) => s + r.bytesLost, 0);
  const out = [
    '# Reliability: hostile inputs tried and what became of them',
    '',
    'Written by the test run (`cli/hostile.test.ts`, through `cli/reliability.ts`); do not edit by hand.',
    'Every row is a regression test: an input an attacker could send (issue 15, "Why"), and the',
    'outcome the test asserts. "Bytes lost" counts bytes of earlier files changed or removed, and of',
    'partial outputs left behind; it must be 0.',
    '',
    `${list.length} inputs tried, ${list.filter((r) => r.outcome.startsWith('refused')).length} refused, bytes lost in all: ${lost}.`,
    '',
    '## Defaults',
    '',
    'Read ceilings where no policy gives one (`LIMITS` in `src/node/confine.ts`): JSON documents',
    '(recipe, round, catalog, labels, index) 16 MiB; ledger 64 MiB; suite 256 MiB; ONNX graph 1 GiB;',
    "model file 4 GiB. A lab round bounds its model reads by the policy's `ceilings.maxBytes`.",
    'Paths inside a recipe or round must stay inside its root (`--root DIR`, default the working',
    "directory when the file is in it, else the file's folder); paths inside a catalog, a Hugging Face",
    "index or an ONNX model must stay inside that file's folder, after realpath.",
    '',
    '## What older files get',
    '',
    '- `.slm` files written before content hashes (no `slm.tensors`) are read as before, their tensors',
    '  unverified; every garden writer now records the SHA-256 of every tensor, checked on every read',
    '  (whole, streamed, sharded) and so on breed. Their bytes change: a rewritten file has a new hash.',
    '- A species is recomputed wherever it can be: from `slm.graph` + `slm.vocabulary` when the file',
    "  records them (both or neither), else from the catalog family's graph and labels (lab, eval,",
    '  quantize, breed --family). Starter models now record theirs. A standalone file without them',
    '  (inspect, breed without --family) keeps an unverified claim.',
    '- A ledger begun unsigned stays unsigned (the app and `garden lab` go on appending to it);',
    '  `garden ledger verify` says so. A new ledger is signed: `garden lab --ledger FILE` keeps its',
    '  keyring in `FILE.keys.json` (mode 0600) and its signed anchor in `FILE.anchor.json`; the app',
    '  keeps its keyring in the `<garden>-keys` IndexedDB database. Without the keyring, a ledger',
    '  re-signed under other keys cannot be told from the original; without the anchor, a truncation',
    '  that rewrites the head is caught only by signatures, not by count.',
    '',
  ];
  for (const a of areas) {
    out.push(`## ${a}`, '', '| input | outcome | bytes lost |', '| --- | --- | --- |');
    for (const r of list.filter((x) => x.area === a)) out.push(`| ${cell(r.input)} | ${cell(r.outcome)} | ${r.bytesLost} |`);
    out.push('');
  }
  return out.join('\n');
}

/** One parser's fuzz stage: the inputs tried and what became of them. */
export interface FuzzRow {
  /** The parser, one of FUZZ_PARSERS. */
  parser: string;
  inputs: number;
  accepted: number;
  /** Refused with the parser's own error, in one line. */
  refused: number;
  /** Anything else: a TypeError, RangeError, stack overflow, a refusal of several lines, a hang. */
  crashes: number;
  /** Refusals after which the output (a store, a folder) was checked, and those that left something in it. */
  writesChecked: number;
  partialWrites: number;
  /** How the inputs were made. */
  mutations: string;
  /** The test file that ran it. */
  test: string;
}

/** The parsers of issue 15's fuzz stage, in the order the table lists them. */
export const FUZZ_PARSERS = Object.freeze([
  'safetensors',
  '.slm',
  'sharded index',
  'ONNX',
  'HF folder',
  'recipe',
  'round',
  'bundle',
  'ledger',
  'slot contract',
]);

const FUZZ_HEADING = '## Fuzz stage';
const FUZZ_COLUMNS = [
  'parser',
  'inputs',
  'accepted',
  'refused',
  'crashes',
  'refusals checked for writes',
  'partial writes',
  'mutations',
  'test',
];

function fuzzLine(r: FuzzRow): string {
  const cells = [r.parser, r.inputs, r.accepted, r.refused, r.crashes, r.writesChecked, r.partialWrites, r.mutations, `\`${r.test}\``];
  return `| ${cells.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`;
}

/** The fuzz section from its table lines, one per parser (each test file writes its own). */
function fuzzSection(lines: ReadonlyMap<string, string>): string {
  const order = [...FUZZ_PARSERS, ...[...lines.keys()].filter((p) => !FUZZ_PARSERS.includes(p))].filter((p) => lines.has(p));
  const rows = order.map((p) => lines.get(p)!);
  const num = (k: number) => rows.reduce((s, l) => s + Number(l.split(' | ')[k]), 0);
  return [
    FUZZ_HEADING,
    '',
    'Seeded, deterministic mutations of valid inputs (fast-check with fixed seeds: the counts are the same on',
    "every run), parsed in-process. A crash is anything but the parser's own refusal in one line: a",
    'TypeError, a RangeError, a stack overflow, a hang. A partial write is anything a refused input left',
    'in the output it was checked against (the tensor store, or the output folder of the `garden` command',
    'run in-process through `cli/test-run.ts` on a sample). Written by `src/core/format/fuzz.test.ts` and',
    '`cli/fuzz.test.ts`.',
    '',
    `${num(1)} inputs over ${rows.length} parsers, ${num(4)} crashes, ${num(6)} partial writes.`,
    '',
    `| ${FUZZ_COLUMNS.join(' | ')} |`,
    `| ${FUZZ_COLUMNS.map(() => '---').join(' | ')} |`,
    ...rows,
    '',
  ].join('\n');
}

/** The table lines of the fuzz section already in the document, by parser. */
function fuzzLines(doc: string): Map<string, string> {
  const at = doc.indexOf(FUZZ_HEADING);
  const lines = new Map<string, string>();
  if (at < 0) return lines;
  for (const l of doc.slice(at).split('\n').slice(1)) {
    if (l.startsWith('## ')) break;
    const cells = l.split(' | ');
    if (l.startsWith('| ') && cells.length === FUZZ_COLUMNS.length && /^\d+$/.test(cells[1])) lines.set(cells[0].slice(2), l);
  }
  return lines;
}

/**
 * Two test files write the document (this one's hostile rows, the fuzz stages' rows), possibly at
 * once in two workers: each rewrites only its part, under a lock (a directory, stolen when stale).
 */
function withDocLock<T>(f: (doc: string) => T): T {
  const lock = `${DOC}.lock`;
  const t0 = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const st = statSync(lock, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 10_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() - t0 > 30_000) throw new Error(`${lock} held for 30 s`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return f(existsSync(DOC) ? readFileSync(DOC, 'utf8') : '');
  } finally {
    rmdirSync(lock);
  }
}

/** Write the hostile rows recorded in this run, keeping the fuzz and app-fault sections; returns what was written of them. */
export function writeReliability(): string {
  const md = reliabilityMarkdown();
  withDocLock((doc) => {
    const fuzz = fuzzLines(doc);
    const app = appFaultLines(doc);
    writeFileSync(DOC, [md, fuzz.size ? fuzzSection(fuzz) : '', app.size ? appFaultSection(app) : ''].filter(Boolean).join('\n'));
  });
  return md;
}

/** One fault injected into the app in a Playwright run (e2e/fault-helpers.ts recordFault). */
export interface AppFaultRow {
  /** What was injected, and when: "quota exceeded at the release entry of Make canary". */
  fault: string;
  /** What the user saw, and what the retry did. */
  outcome: string;
  /** Models whose every tensor was re-hashed afterwards. */
  models: number;
  /** Bytes of earlier models lost or altered (must be 0). */
  bytesLost: number;
}

const APP_HEADING = '## App faults injected';
const APP_COLUMNS = ['fault', 'outcome', 'models re-hashed', 'bytes lost'];

function appFaultSection(lines: ReadonlyMap<string, string>): string {
  const rows = [...lines.values()];
  const lost = rows.reduce((s, l) => s + Number(l.split(' | ').at(-1)!.replace(/\D/g, '')), 0);
  return [
    APP_HEADING,
    '',
    'Faults injected into the app for real in headless Chromium (a worker terminated, storage quota',
    'exceeded at a named write, the page reloaded between two writes, the GPU device destroyed, a',
    'stored record corrupted, two tabs at once). After each, every earlier model is re-hashed tensor by',
    "tensor from IndexedDB and the ledger's head is checked. Written by `e2e/app-faults.spec.ts` and",
    '`e2e/app-faults-release.spec.ts` (through `recordFault` in `e2e/fault-helpers.ts`).',
    '',
    `${rows.length} faults, ${lost} bytes lost.`,
    '',
    `| ${APP_COLUMNS.join(' | ')} |`,
    `| ${APP_COLUMNS.map(() => '---').join(' | ')} |`,
    ...rows,
    '',
  ].join('\n');
}

/** The table lines of the app-fault section already in the document, by fault. */
function appFaultLines(doc: string): Map<string, string> {
  const at = doc.indexOf(APP_HEADING);
  const lines = new Map<string, string>();
  if (at < 0) return lines;
  for (const l of doc.slice(at).split('\n').slice(1)) {
    if (l.startsWith('## ')) break;
    const cells = l.split(' | ');
    if (l.startsWith('| ') && cells.length === APP_COLUMNS.length && /^\d+$/.test(cells[2])) lines.set(cells[0].slice(2), l);
  }
  return lines;
}

/** Replace these faults' rows of the app-fault section (after the fuzz section), keeping everything else. */
export function writeAppFaultRows(rows: readonly AppFaultRow[]): string {
  return withDocLock((doc) => {
    const at = doc.indexOf(APP_HEADING);
    const lines = appFaultLines(doc);
    for (const r of rows) lines.set(cell(r.fault), `| ${cell(r.fault)} | ${cell(r.outcome)} | ${r.models} | ${r.bytesLost} |`);
    const section = appFaultSection(lines);
    const head = at < 0 ? doc : doc.slice(0, at);
    writeFileSync(DOC, `${head.trimEnd()}\n\n${section}`);
    return section;
  });
}

/** Replace these parsers' rows of the fuzz section, keeping every other row and the hostile rows. */
export function writeFuzzRows(rows: readonly FuzzRow[]): string {
  return withDocLock((doc) => {
    const at = doc.indexOf(FUZZ_HEADING);
    const lines = fuzzLines(doc);
    for (const r of rows) lines.set(r.parser, fuzzLine(r));
    const section = fuzzSection(lines);
    const head = at < 0 ? doc : doc.slice(0, at);
    // The app-fault section, when there is one, stays after the fuzz section.
    const app = appFaultLines(doc);
    const tail = app.size ? `\n${appFaultSection(app)}` : '';
    writeFileSync(DOC, `${head.trimEnd()}\n\n${section}${tail}`);
    return section;
  });
}
