/**
 * The fuzz stage of the documents the garden reads beside model files (issue 15): 10,000 seeded
 * mutations each of a Hugging Face folder, a recipe, a lab round, a bundle, a ledger and a slot
 * contract, parsed in-process as the commands parse them. Every input is accepted or refused with
 * the parser's own error in one line; nothing else (a TypeError, a RangeError, a stack overflow, a
 * hang) may escape. The commands that write files (import, breed, lab) then run in-process on a
 * sample of the same inputs, and a refused one must leave its output folder as it was. The counts
 * go to docs/RELIABILITY.md's fuzz section (cli/reliability.ts). The model formats themselves
 * (safetensors, .slm, the sharded index, ONNX) have their stage in src/core/format/fuzz.test.ts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { oneHotBlendRound, writeTinyDigits } from './lab-fixture.ts';
import { runGarden } from './test-run.ts';
import { snapshotTree, writeFuzzRows, type FuzzRow } from './reliability.ts';
import { bredCandidate } from './commands/bundle-test-helpers.ts';
import { validateRecipe } from '../src/core/operators/recipe.ts';
import { ManifestError, parseStrictJson } from '../src/core/manifest/strict-json.ts';
import { parseLabRound, validateManifest } from '../src/core/manifest/validate.ts';
import { manifestHash, type Manifest } from '../src/core/manifest/index.ts';
import { PolicyError, PolicyZone } from '../src/core/lab/policy.ts';
import { ReleaseController, ReleaseError } from '../src/core/lab/release.ts';
import {
  LEDGER_CHECKS,
  Ledger,
  LedgerError,
  MemoryLedgerStore,
  parseLedgerFile,
  verifyAuthority,
  verifyLedger,
  type LedgerFile,
} from '../src/core/lab/ledger.ts';
import { SigningError, rootKeys } from '../src/core/lab/signing.ts';
import { ContractError, parseContract, registryContract, requestCheck } from '../src/core/lab/contract.ts';
import { makeBundle, openBundle, type Bundle } from '../src/core/share/bundle.ts';
import { fromBase64, generateKey, publicJwk, signEnvelope, toBase64 } from '../src/core/share/dsse.ts';
import { PAYLOAD_TYPE } from '../src/core/share/intoto.ts';
import { CanonicalJsonError, sha256Hex } from '../src/core/hash.ts';
import { ConfineError, confinedPath } from '../src/node/confine.ts';
import { loadKeyring, readAnchor } from '../src/node/ledger-files.ts';
import { STARTER_CONTRACTS_DIR } from '../src/node/contracts.ts';
import { printable } from '../src/core/format/printable.ts';
import { FormatError } from '../src/core/format/errors.ts';
import { bytesSource } from '../src/core/format/source.ts';
import { importHfFolder, type HfFolder } from '../src/core/format/hf.ts';
import { hfFolderFiles, tinyCheckpoint } from '../src/core/models/llama-testing.ts';

const RUNS = 10_000;
/** Inputs of each file-writing parser also run through its command, in-process. */
const CLI_SAMPLE = 20;
/** An input that takes longer than this to refuse is counted as a hang. */
const HANG_MS = 2_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

let dir = '';
let garden = '';
let pins: Record<string, string> = {};
const rows: FuzzRow[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-fuzz-'));
  garden = join(dir, 'garden');
  mkdirSync(garden, { recursive: true });
  pins = writeTinyDigits(garden);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  // Only whole stages reach the docs: a stage cut short (a timeout, a failed expect) would publish
  // its partial counts as the contract's figures (it once wrote "8905 inputs … 1 crashes").
  const whole = rows.filter((r) => r.inputs >= RUNS);
  if (whole.length) writeFuzzRows(whole);
});

/* ------------------------------------------------------------------ mutations */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

/** Paths to the values inside `v`, the root included, down to 12 levels . */
function paths(v: Json): Path[] {
  const out: Path[] = [];
  const todo: [Json, Path][] = [[v, []]];
  while (todo.length) {
    const [x, at] = todo.pop()!;
    out.push(at);
    if (at.length >= 12 || x === null || typeof x !== 'object') continue;
    for (const [k, y] of Array.isArray(x) ? x.entries() : Object.entries(x)) todo.push([y, [...at, k]]);
  }
  return out;
}

const STRINGS = [
  '',
  '../../../../../../etc/passwd',
  '/etc/passwd',
  '/dev/zero',
  'a\nb\u001b[2J\u202e',
  'x'.repeat(4096),
  '__proto__',
  'constructor',
  'f'.repeat(64),
  'F'.repeat(64),
  '0'.repeat(64),
  'NaN',
  '-1',
  'sha256:',
];
const NUMBERS = [0, -1, 1, -0, 0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 5e-324, 255, 65_536];

/** One structural edit of a JSON document: the value at a path replaced, removed, retyped, nested, repeated or moved. */
interface Edit {
  at: number;
  op: number;
  value: Json;
  n: number;
  key: string;
}
const editArb: fc.Arbitrary<Edit> = fc.record({
  at: fc.nat(),
  op: fc.nat(9),
  value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  n: fc.nat(),
  key: fc.oneof(fc.constantFrom(...STRINGS.slice(0, 9)), fc.string({ maxLength: 6 })),
});

function applyEdit(doc: Json, e: Edit): Json {
  const all = paths(doc);
  const path = all[e.at % all.length];
  const get = (p: Path) => p.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k], doc);
  const old = get(path);
  let next: Json | undefined;
  switch (e.op) {
    case 0:
      next = e.value;
      break;
    case 1:
      next = undefined; // removed
      break;
    case 2:
      next = old !== null && typeof old === 'object' && !Array.isArray(old) ? { ...old, [e.key]: e.value } : [old];
      break;
    case 3:
      next = STRINGS[e.n % STRINGS.length];
      break;
    case 4:
      next = NUMBERS[e.n % NUMBERS.length];
      break;
    case 5:
      next = typeof old === 'string' ? Number(old) || old.length : typeof old === 'number' ? String(old) : JSON.stringify(old);
      break;
    case 6:
      next = `${NEST}${[1, 8, 64, 1000, 100_000][e.n % 5]}`; // nested arrays, written into the text by nestedText
      break;
    case 7:
      next = Array.isArray(old) ? [...old, ...Array.from({ length: (e.n % 16) + 1 }, () => structuredClone(old[0] ?? null))] : [];
      break;
    case 8:
      next = structuredClone(get(all[e.n % all.length]));
      break;
    default:
      next = Array.isArray(old) ? [] : {};
  }
  if (path.length === 0) return next ?? null;
  const parent = get(path.slice(0, -1)) as Record<string | number, Json>;
  const k = path[path.length - 1];
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(k as number, 1);
    else delete parent[k];
  } else parent[k] = next;
  return doc;
}

const NEST = '\u0001nest:';
/** The document's text with each NEST marker written as that many nested arrays (as text: JSON.stringify would recurse). */
function nestedText(doc: Json): string {
  return JSON.stringify(doc).replace(/"\\u0001nest:(\d+)"/g, (_, n: string) => '['.repeat(Number(n)) + ']'.repeat(Number(n)));
}

/** Mutations of a JSON document's text: structural edits, and edits of the text itself. */
function jsonMutation(valid: Json): fc.Arbitrary<string> {
  const text = JSON.stringify(valid, null, 1);
  const n = text.length;
  const clone = () => JSON.parse(text) as Json;
  return fc.oneof(
    { weight: 6, arbitrary: fc.array(editArb, { minLength: 1, maxLength: 3 }).map((es) => nestedText(es.reduce(applyEdit, clone()))) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: n - 1 }).map((k) => text.slice(0, k)) },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.tuple(fc.nat(n - 1), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 4 })
        .map((rs) => rs.reduce((t, [i, s]) => t.slice(0, i) + s + t.slice(i + 1), text)),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.nat(n), fc.nat(n), fc.nat(n)).map(([a, b, c]) => {
        const piece = text.slice(Math.min(a, b), Math.max(a, b));
        return text.slice(0, c) + piece + text.slice(c);
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('"__proto__"', '"constructor"', '"kind"', '"\\u005f_proto__"'), fc.jsonValue({ maxDepth: 1 }))
        .map(([k, v]) => text.replace('{', `{${k}:${JSON.stringify(v)},`)),
    },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
  );
}

/** Mutations of a binary file: truncations, byte flips, splices, and its 8-byte length prefix rewritten. */
function byteMutation(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = valid.length;
  return fc.oneof(
    fc.nat(n - 1).map((k) => valid.slice(0, k)),
    fc.array(fc.tuple(fc.nat(n - 1), fc.nat(255)), { minLength: 1, maxLength: 6 }).map((fs) => {
      const c = valid.slice();
      for (const [i, b] of fs) c[i] = b;
      return c;
    }),
    fc.tuple(fc.nat(n), fc.nat(n), fc.nat(n)).map(([a, b, c]) => {
      const piece = valid.slice(Math.min(a, b), Math.min(Math.max(a, b), Math.min(a, b) + 64));
      return Uint8Array.from([...valid.subarray(0, c), ...piece, ...valid.subarray(c)]);
    }),
    fc.tuple(fc.nat(), fc.constantFrom(0, 1, 2 ** 31)).map(([lo, hi]) => {
      const c = valid.slice();
      new DataView(c.buffer).setUint32(0, lo % (n * 2), true);
      new DataView(c.buffer).setUint32(4, hi, true);
      return c;
    }),
  );
}

/* ------------------------------------------------------------------ the stage */

type ErrorClass = abstract new (...args: never[]) => Error;
/** What an engine error says: a refusal that carries one is a crash caught and re-worded. */
const ENGINE =
  /Maximum call stack|Cannot read propert|is not a function|is not iterable|Invalid array length|of undefined|of null|is not defined/;

/** A refusal is an error of exactly one of `kinds` (a TypeError is an Error, so classes are compared exactly), in one line. */
function crashOf(e: unknown, kinds: readonly ErrorClass[]): string | null {
  if (!(e instanceof Error)) return `threw a non-error: ${String(e)}`;
  if (!kinds.some((k) => e.constructor === k)) return `${e.name}: ${e.message}\n${e.stack}`;
  if (/[\n\r]/.test(e.message)) return `a refusal of several lines: ${e.message}`;
  if (ENGINE.test(e.message)) return `an engine error re-worded: ${e.message}`;
  // eslint-disable-next-line no-control-regex -- what a refusal must not print raw
  if (/[\u0000-\u001f\u007f]/.test(e.message)) return `control characters printed raw: ${JSON.stringify(e.message)}`;
  return null;
}

interface Stage {
  parser: string;
  mutations: string;
  row: FuzzRow;
  /** The first crash, to show. */
  crashes: string[];
}

function stage(parser: string, mutations: string): Stage {
  const row: FuzzRow = {
    parser,
    inputs: 0,
    accepted: 0,
    refused: 0,
    crashes: 0,
    writesChecked: 0,
    partialWrites: 0,
    mutations,
    test: 'cli/fuzz.test.ts',
  };
  rows.push(row);
  return { parser, mutations, row, crashes: [] };
}

/** Parse every input; count acceptances, refusals and crashes (timed: a slow refusal is a hang). */
async function parseAll<T>(s: Stage, inputs: readonly T[], parse: (x: T) => unknown, kinds: readonly ErrorClass[]): Promise<void> {
  for (const x of inputs) {
    s.row.inputs++;
    const t0 = performance.now();
    let crash: string | null = null;
    try {
      await parse(x);
      s.row.accepted++;
    } catch (e) {
      crash = crashOf(e, kinds);
      if (!crash) s.row.refused++;
    }
    const ms = performance.now() - t0;
    if (!crash && ms > HANG_MS) crash = `took ${ms.toFixed(0)} ms (a hang)`;
    if (crash) {
      s.row.crashes++;
      if (s.row.refused + s.row.accepted + s.row.crashes === s.row.inputs)
        s.crashes.push(`${crash}\ninput: ${String(JSON.stringify(x)).slice(0, 400)}`);
    }
  }
}

/**
 * Run `garden ARGS` in-process on one input: a refusal is exit 1 with one line and no stack, and
 * leaves `watch` as it was; an accepted input's outputs are removed by `cleanup`.
 */
async function throughCli(s: Stage, args: string[], watch: string, cleanup: () => void): Promise<void> {
  const before = snapshotTree(watch);
  const r = await runGarden(...args);
  if (r.code === 0) {
    cleanup();
    return;
  }
  const lost = before.diffBytes(snapshotTree(watch));
  s.row.writesChecked++;
  if (lost > 0) {
    s.row.partialWrites++;
    s.crashes.push(`${args.join(' ')}: refused but left ${lost} bytes in ${watch}: ${r.err}`);
  }
  if (r.code !== 1 || r.err.split('\n').length !== 1 || /\bat .*\.[jt]s:\d+/.test(r.err) || ENGINE.test(r.err)) {
    s.row.crashes++;
    s.crashes.push(`${args.join(' ')}: exit ${r.code}: ${r.err}`);
  }
}

function expectClean(s: Stage, minRefused: number, minAccepted = 1): void {
  expect(s.crashes.slice(0, 3), s.crashes[0]).toEqual([]);
  expect(s.row.crashes).toBe(0);
  expect(s.row.partialWrites).toBe(0);
  expect(s.row.inputs).toBeGreaterThanOrEqual(RUNS);
  // The mutations reach past the first check: some inputs are accepted, most refused.
  expect(s.row.refused).toBeGreaterThan(minRefused);
  expect(s.row.accepted).toBeGreaterThanOrEqual(minAccepted);
}

const sample = <T>(arb: fc.Arbitrary<T>, seed: number) => fc.sample(arb, { numRuns: RUNS, seed });
const STRUCT =
  'structural JSON edits (values replaced, removed, retyped, nested up to 100k deep, repeated, moved; ../, absolute, control-character and 4 KB strings; 2^53, 1e308, -0), truncations, character replacements, splices, duplicate and __proto__ keys, random JSON';

/* ------------------------------------------------------------------ parsers */

// 10,000 inputs per parser is CPU-bound work: the ledger's took 96 s alone at load 6.7 on 2 cores, so
// the default 120 s guard failed it once beside other test files. A guard against a hang, not a speed figure.
describe('fuzz stage: 10,000 inputs per parser, 0 crashes, 0 partial writes', { timeout: 360_000 }, () => {
  it('recipe: refused with its one-line error (schema, registry, parameters, paths) or valid; breed writes nothing on refusal', async () => {
    const valid: Json = {
      kind: 'recipe',
      schemaVersion: 1,
      operator: 'dare_ties',
      params: { drop: 0.4, weights: [0.6, 0.4] },
      seed: 11,
      base: { path: 'digits/base.slm' },
      parents: [{ path: 'digits/rotated.slm' }, { path: 'digits/thick.slm' }],
      output: { path: 'out/cand.slm' },
    };
    const inputs = sample(jsonMutation(valid), 32);
    const s = stage('recipe', STRUCT);
    await parseAll(
      s,
      inputs,
      (text) => {
        const r = validateRecipe(parseStrictJson(text, 'recipe'));
        for (const ref of [...(r.base ? [r.base] : []), ...r.parents]) if (ref.path) confinedPath(garden, garden, ref.path, 'parent path');
        if (r.output.path) confinedPath(garden, garden, r.output.path, 'output.path');
      },
      [Error, ManifestError, ConfineError],
    );
    mkdirSync(join(garden, 'out'), { recursive: true });
    for (const text of inputs.slice(0, CLI_SAMPLE)) {
      // Inside the garden, so its relative paths mean what they say; written before the snapshot.
      const path = join(garden, 'fuzz-recipe.json');
      writeFileSync(path, text);
      await throughCli(s, ['breed', path, '--threads', '0', '--root', garden], garden, () =>
        rmSync(join(garden, 'out'), { recursive: true, force: true }),
      );
      mkdirSync(join(garden, 'out'), { recursive: true });
    }
    expectClean(s, RUNS * 0.5);
  });

  it('round: refused with its one-line error (schema, policy, catalog path) or valid; lab writes nothing on refusal', async () => {
    const valid = oneHotBlendRound(pins) as Json;
    const inputs = sample(jsonMutation(valid), 33);
    const s = stage('round', STRUCT);
    await parseAll(
      s,
      inputs,
      async (text) => {
        const round = parseLabRound(text);
        confinedPath(garden, garden, round.catalog, 'catalog');
        await PolicyZone.open(await Ledger.open(new MemoryLedgerStore()), round.policy);
        for (const r of round.recipes)
          validateRecipe({ kind: 'recipe', schemaVersion: 1, ...r, parents: r.parents.map((p) => ({ path: p })), output: {} });
      },
      [Error, ManifestError, ConfineError, PolicyError, LedgerError],
    );
    for (const [k, text] of inputs.slice(0, CLI_SAMPLE).entries()) {
      const path = join(garden, `fuzz-round-${k}.json`);
      writeFileSync(path, text);
      const out = join(dir, 'rounds', `out${k}`);
      mkdirSync(out, { recursive: true });
      await throughCli(s, ['lab', path, '--out', out, '--ledger', join(out, 'ledger.json'), '--json'], out, () =>
        rmSync(out, { recursive: true }),
      );
      rmSync(path);
    }
    expectClean(s, RUNS * 0.5);
  });

  it('bundle: every mutation, signed again or not, gets a verdict with its reason; none throws', async () => {
    const { slm, records } = await bredCandidate(join(dir, 'bundle'));
    const key = await generateKey();
    const trusted = [publicJwk(key)];
    const documents = (JSON.parse(readFileSync(records, 'utf8')) as { manifests: Record<string, unknown> }).manifests;
    const bytes = new Uint8Array(readFileSync(slm));
    const docs = Object.values(documents).map((d) => validateManifest(d)) as Manifest[];
    const bundle = await makeBundle({ model: { name: 'child.slm', bytes }, documents: docs, withModel: true }, key);
    const statement = JSON.parse(dec.decode(fromBase64(bundle.envelope.payload))) as {
      subject: { name: string; digest: { sha256: string } }[];
    };
    const fileNames = Object.keys(bundle.files);
    /** The bundle with `files` changed and the statement's digests kept true to them, signed again. */
    const resigned = async (stmt: string, files: Record<string, string>): Promise<string> => {
      const envelope = await signEnvelope(PAYLOAD_TYPE, enc.encode(stmt), key);
      return JSON.stringify({ ...bundle, envelope, files } satisfies Bundle);
    };
    type Plan = { kind: 'outer'; text: string } | { kind: 'statement'; text: string } | { kind: 'file'; name: string; bytes: Uint8Array };
    const plans = sample(
      fc.oneof(
        jsonMutation(bundle as unknown as Json).map((text): Plan => ({ kind: 'outer', text })),
        jsonMutation(statement as unknown as Json).map((text): Plan => ({ kind: 'statement', text })),
        fc.nat(fileNames.length - 1).chain((i) => {
          const name = fileNames[i];
          const raw = fromBase64(bundle.files[name]);
          const m = name.endsWith('.json')
            ? jsonMutation(JSON.parse(dec.decode(raw)) as Json).map((t) => enc.encode(t))
            : byteMutation(raw);
          return m.map((b): Plan => ({ kind: 'file', name, bytes: b }));
        }),
      ),
      34,
    );
    const s = stage(
      'bundle',
      `the bundle's JSON mutated as sent (${STRUCT}); or its signed statement mutated and signed again; or one document or the model mutated, its digest updated and the statement signed again`,
    );
    const texts: string[] = [];
    for (const p of plans) {
      if (p.kind === 'outer') texts.push(p.text);
      else if (p.kind === 'statement') texts.push(await resigned(p.text, bundle.files));
      else {
        const stmt = structuredClone(statement);
        for (const sub of stmt.subject) if (sub.name === p.name) sub.digest.sha256 = sha256Hex(p.bytes);
        texts.push(await resigned(JSON.stringify(stmt), { ...bundle.files, [p.name]: toBase64(p.bytes) }));
      }
    }
    await parseAll(
      s,
      texts,
      async (text) => {
        const v = await openBundle(parseStrictJson(text, 'bundle'), trusted);
        if (!v.ok) throw new BundleRefusal(v.reason);
      },
      [ManifestError, BundleRefusal],
    );
    expectClean(s, RUNS * 0.5);
  });

  it('ledger: parsed, chained, signatures, anchor and replay checked as garden ledger verify does; every problem names its index', async () => {
    const ledgerPath = join(dir, 'ledgers', 'ledger.json');
    mkdirSync(dirname(ledgerPath), { recursive: true });
    const round = join(garden, 'fuzz-ledger-round.json');
    writeFileSync(round, JSON.stringify(oneHotBlendRound(pins)));
    const made = await runGarden('lab', round, '--ledger', ledgerPath, '--json');
    expect(made.code, made.err).toBe(0);
    const valid = JSON.parse(readFileSync(ledgerPath, 'utf8')) as LedgerFile;
    const ring = loadKeyring(ledgerPath)!;
    const anchor = readAnchor(ledgerPath) as Json;
    /** Every index, link and hash recomputed after the edit: the chain is whole, so signatures and replay are reached. */
    const rechain = (text: string): string => {
      try {
        const f = JSON.parse(text) as LedgerFile;
        let prev = '0'.repeat(64);
        f.records.forEach((rec, i) => {
          rec.entry = { ...rec.entry, index: i, prev };
          rec.hash = manifestHash(rec.entry);
          prev = rec.hash;
        });
        f.head = { length: f.records.length, hash: prev };
        return JSON.stringify(f);
      } catch {
        return text;
      }
    };
    type Plan = { ledger: string; anchor: unknown };
    const intact = JSON.stringify(valid);
    const inputs = sample(
      fc.oneof(
        jsonMutation(valid as unknown as Json).map((t): Plan => ({ ledger: t, anchor })),
        jsonMutation(valid as unknown as Json).map((t): Plan => ({ ledger: rechain(t), anchor })),
        jsonMutation(anchor).map((t): Plan => ({ ledger: intact, anchor: t })),
      ),
      35,
    );
    const s = stage(
      'ledger',
      `the ledger file mutated (${STRUCT}), as sent or re-chained (every index, link, hash and the head recomputed); or its anchor mutated`,
    );
    const kinds = [ManifestError, LedgerError, PolicyError, ReleaseError, SigningError, CanonicalJsonError, LedgerRefusal];
    await parseAll(
      s,
      inputs,
      async ({ ledger, anchor: a }) => {
        const file = parseLedgerFile(ledger);
        const chain = verifyLedger(file.records, file.head);
        const authority = await verifyAuthority(file.records, {
          trusted: rootKeys(ring),
          anchor: typeof a === 'string' ? parseStrictJson(a, 'anchor') : a,
          requireSigned: true,
        });
        const problems = [...chain.problems, ...authority.problems];
        for (const p of problems) {
          expect(Number.isInteger(p.index) && p.index >= 0, p.message).toBe(true);
          expect(LEDGER_CHECKS).toContain(p.check);
        }
        // The replay garden ledger verify runs on an intact chain: its refusals are the lab's own errors.
        if (chain.ok) {
          const l = await Ledger.open(new MemoryLedgerStore(file.records, file.head));
          if (PolicyZone.fromLedger(l)) ReleaseController.open(l);
        }
        // garden ledger verify prints each problem through printable(), one per line.
        if (problems.length) throw new LedgerRefusal(problems.map((p) => printable(p.message)).join(' / '));
      },
      kinds,
    );
    // garden lab --ledger on a mutated ledger: refused, the ledger file and the output folder unchanged.
    for (const [k, p] of inputs.slice(0, CLI_SAMPLE).entries()) {
      const d = join(dir, 'ledgers', `l${k}`);
      mkdirSync(join(d, 'out'), { recursive: true });
      const path = join(d, 'ledger.json');
      writeFileSync(path, p.ledger);
      writeFileSync(`${path}.keys.json`, readFileSync(`${ledgerPath}.keys.json`));
      writeFileSync(`${path}.anchor.json`, typeof p.anchor === 'string' ? p.anchor : JSON.stringify(p.anchor));
      await throughCli(s, ['lab', round, '--ledger', path, '--out', join(d, 'out'), '--json'], d, () => rmSync(d, { recursive: true }));
    }
    expectClean(s, RUNS * 0.5);
  });

  it('slot contract: refused with a ContractError naming its line, or parsed into checks that never throw', async () => {
    const valid = ['digits', 'mail', 'lm'].map((slot) => readFileSync(join(STARTER_CONTRACTS_DIR, `${slot}.contract`), 'utf8'));
    const TOKENS = [
      '-',
      ':',
      'float[',
      'int[0]',
      'in [1, 0]',
      '± -1',
      '1e999',
      '== NaN',
      'over 0 requests',
      'verb',
      'slot:',
      '\t',
      '  ',
      '#',
      'argmax(',
      ')',
      '[',
      'length(x) == 99999999999999999999',
    ];
    const lineEdit = fc
      .tuple(
        fc.nat(2),
        fc.array(fc.tuple(fc.nat(5), fc.nat(), fc.nat(), fc.constantFrom(...TOKENS), fc.string({ maxLength: 6 })), {
          minLength: 1,
          maxLength: 4,
        }),
      )
      .map(([v, edits]) => {
        const lines = valid[v].split('\n');
        for (const [op, i, j, tok, str] of edits) {
          const at = i % lines.length;
          const l = lines[at];
          if (op === 0) lines.splice(at, 1);
          else if (op === 1) lines.splice(at, 0, l);
          else if (op === 2) [lines[at], lines[j % lines.length]] = [lines[j % lines.length], l];
          else if (op === 3) lines[at] = ' '.repeat(j % 7) + l.trimStart();
          else if (op === 4) {
            const words = l.split(' ');
            words[j % words.length] = tok;
            lines[at] = words.join(' ');
          } else lines[at] = l.slice(0, j % (l.length + 1)) + str + l.slice(j % (l.length + 1));
        }
        return lines.join('\n');
      });
    const textEdit = fc.tuple(fc.nat(2), fc.nat(), fc.string({ maxLength: 4 })).map(([v, i, str]) => {
      const t = valid[v];
      const at = i % t.length;
      return i % 2 ? t.slice(0, at) : t.slice(0, at) + str + t.slice(at + 1);
    });
    const inputs = sample(
      fc.oneof(
        { weight: 8, arbitrary: lineEdit },
        { weight: 2, arbitrary: textEdit },
        { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
      ),
      36,
    );
    const s = stage(
      'slot contract',
      'the three starter contracts with lines removed, repeated, swapped, re-indented (tabs too), a word replaced by a hostile token, characters inserted; truncations; random text',
    );
    const r = fc.sample(fc.array(fc.double(), { maxLength: 12 }), { numRuns: 8, seed: 37 });
    await parseAll(
      s,
      inputs,
      (text) => {
        for (const verb of parseContract(text, 'fuzz.contract').verbs) {
          registryContract(verb);
          const check = requestCheck(verb);
          for (const x of [...r, new Float64Array(Math.min(verb.takes.length, 4096)).fill(0.5)]) {
            const inMsg = check.input(x);
            const outMsg = check.output(x, new Float64Array(Math.min(verb.gives.length, 4096)).fill(0.25));
            for (const m of [inMsg, outMsg]) if (m !== null) expect(typeof m).toBe('string');
          }
        }
      },
      [ContractError],
    );
    expectClean(s, RUNS * 0.3);
  });

  it('HF folder (config.json, index, shards, tokenizer): refused with a FormatError or imported whole', async () => {
    const valid = hfFolderFiles(tinyCheckpoint(), { shards: 2 });
    const names = [...valid.keys()];
    const fileEdit = fc.oneof(
      ...names.map((name) => {
        const bytes = valid.get(name)!;
        const m = name.endsWith('.json')
          ? jsonMutation(JSON.parse(dec.decode(bytes)) as Json).map((t) => enc.encode(t))
          : byteMutation(bytes);
        return m.map((b) => new Map([...valid, [name, b]]));
      }),
    );
    const setEdit = fc.tuple(fc.nat(names.length - 1), fc.constantFrom('remove', 'extra', 'rename', 'single')).map(([i, op]) => {
      const files = new Map(valid);
      const name = names[i];
      if (op === 'remove') files.delete(name);
      else if (op === 'extra') files.set('model-00003-of-00003.safetensors', valid.get(names.find((n) => n.endsWith('.safetensors'))!)!);
      else if (op === 'rename') {
        files.delete(name);
        files.set(`${name}.bak`, valid.get(name)!);
      } else files.set('model.safetensors', valid.get(name)!);
      return files;
    });
    // Drawn in chunks: 10,000 folders held at once would be gigabytes of copied shards.
    const arb = fc.oneof({ weight: 9, arbitrary: fileEdit }, { weight: 1, arbitrary: setEdit });
    const chunk = (k: number) => fc.sample(arb, { numRuns: RUNS / 20, seed: 3100 + k });
    const folder = (files: Map<string, Uint8Array>): HfFolder => ({
      files: [...files.keys()].sort(),
      open: async (f) => bytesSource(files.get(f)!),
      readText: async (f) => {
        try {
          return new TextDecoder('utf-8', { fatal: true }).decode(files.get(f));
        } catch {
          throw new FormatError('config', `${f} is not valid UTF-8`);
        }
      },
    });
    const s = stage(
      'HF folder',
      `one file of a 2-shard Llama folder mutated (JSON files: ${STRUCT}; shards: truncations, byte flips, splices, length prefixes), or a file removed, renamed or added`,
    );
    for (let k = 0; k < 20; k++)
      await parseAll(
        s,
        chunk(k),
        async (files) => {
          const lm = await importHfFolder(folder(files));
          for (const t of lm.model.tensors) await lm.model.read(t.name);
        },
        [FormatError],
      );
    for (const [k, files] of chunk(0).slice(0, CLI_SAMPLE).entries()) {
      const src = join(dir, 'hf', `in${k}`);
      mkdirSync(src, { recursive: true });
      for (const [name, b] of files) writeFileSync(join(src, name), b);
      const out = join(dir, 'hf', `out${k}`);
      mkdirSync(out);
      await throughCli(s, ['import', src, '--out', join(out, 'm.slm')], out, () => rmSync(out, { recursive: true }));
    }
    expectClean(s, RUNS * 0.5);
  });
});

/** A verdict's refusal, thrown so that a bundle's and a ledger's reasons are counted as refusals. */
class BundleRefusal extends Error {}
class LedgerRefusal extends Error {}

describe('what the fuzz stage found, each fixed', () => {
  it('JSON documents nesting 100k deep are refused before parsing, not by a stack overflow (recipe, round, bundle documents)', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(() => parseStrictJson(`{"kind":"recipe","params":${deep}}`, 'recipe')).toThrow(
      new ManifestError('recipe nests deeper than 64 levels'),
    );
    expect(() => parseLabRound(`{"kind":"lab-round","policy":${deep}}`)).toThrow(/^lab round nests deeper than 64 levels$/);
    // 64 levels are still read
    expect(parseStrictJson('['.repeat(64) + ']'.repeat(64))).toBeInstanceOf(Array);
  });

  it('a key with a newline and escape codes is printed escaped in a schema refusal: one line', () => {
    const text = JSON.stringify({
      kind: 'recipe',
      schemaVersion: 1,
      operator: 'linear',
      params: {},
      seed: 1,
      parents: [{ path: 'a', 'x\n\u001b[2J': 1 }],
      output: {},
    });
    let msg = '';
    try {
      validateRecipe(parseStrictJson(text, 'recipe'));
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('unknown key "x\\n\\x1b[2J"');
    // eslint-disable-next-line no-control-regex -- what must not be printed
    expect(msg).not.toMatch(/[\u0000-\u001f]/);
  });

  it('a refused round with a new --ledger leaves no keyring behind', async () => {
    const path = join(garden, 'refused-round.json');
    writeFileSync(path, JSON.stringify({ ...oneHotBlendRound(pins), champion: 'no-such-model' }));
    const out = join(dir, 'refused-ledger');
    mkdirSync(out, { recursive: true });
    const r = await runGarden('lab', path, '--ledger', join(out, 'ledger.json'));
    expect(r.code).toBe(1);
    expect(readdirSync(out)).toEqual([]);
  });
});
