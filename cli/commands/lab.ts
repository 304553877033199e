/**
 * garden lab ROUND.json: run one lab round headless on the CPU (reference operators, CPU MLP
 * forward through the evaluator) and print the decision and its reasons.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, type Command } from '../command.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { checkSlmMetadata, readSlm } from '../../src/core/format/slm.ts';
import type { ParentInfo } from '../../src/core/operators/candidate.ts';
import { checkCatalog, type CatalogFamily } from '../../src/core/models/catalog.ts';
import { checkFamilySpecies } from '../../src/node/catalog.ts';
import { parseLabRound } from '../../src/core/manifest/validate.ts';
import { manifestHash } from '../../src/core/manifest/index.ts';
import type { LabRoundFile, Policy } from '../../src/core/manifest/kinds.ts';
import { cpuLab } from '../../src/core/lab/cpu-deps.ts';
import { Ledger, MemoryLedgerStore, parseLedgerFile } from '../../src/core/lab/ledger.ts';
import { createSigner, generateKeyring, type Keyring, type LedgerSigner } from '../../src/core/lab/signing.ts';
import { keyringPath, ledgerAuthority, loadKeyring, saveKeyring, writeLedgerFiles } from '../../src/node/ledger-files.ts';
import { PolicyZone, policyHash } from '../../src/core/lab/policy.ts';
import { ReleaseController } from '../../src/core/lab/release.ts';
import { applyRound, runLabRound, type LabRoundResult } from '../../src/core/lab/round.ts';
import { exitCheckUsage, runExitCheck } from './lab-exit-check.ts';
import {
  ConfineError,
  LIMITS,
  cleanLeftovers,
  confinedPath,
  declaredRoot,
  readRegularSync,
  readTextSync,
  writeFileAtomicSync,
} from '../../src/node/confine.ts';

const usage = `garden lab ROUND.json [options]

Run one lab round headless: breed the round's recipes from approved parents with allowlisted
operators (CPU reference kernels), evaluate every model on the policy's pinned suites, compare
each candidate with the champion and with no-op (the best parent unchanged), and print the
decision: promote the best viable candidate to shadow, or no-op with every candidate's numbers.

  --ledger FILE   record the round in a ledger file (created if missing): the policy as a
                  policy change (or the ledger's own policy is used), and on promotion an
                  admission entry plus a release entry putting the winner in shadow
  --out DIR       write each bred candidate as DIR/<sha256>.slm and its documents (compatibility
                  report, lineage, receipt, candidate manifest) as DIR/<sha256>.manifests.json
                  (nothing when admission is refused)
  --root DIR      the folder the round's catalog path must stay in (default: the working
                  directory when the round file is inside it, else the round file's folder);
                  the catalog's own files must stay in the catalog's folder
  --json          print the full result as JSON

Every file is read only if it is a regular file under its size ceiling (models: the policy's
ceilings.maxBytes when set); a refused round writes nothing.

Example: garden lab examples/digits-round.json

${exitCheckUsage}`;

/** A file the catalog names: inside the catalog's folder (after realpath), a regular file, under `max` bytes. */
function readCatalogFile(catalogDir: string, rel: string, what: string, max: number): Uint8Array {
  return readRegularSync(confinedPath(catalogDir, catalogDir, rel, `catalog ${what} path`), what, max);
}

function readText(path: string, what: string, max: number, hint = ''): string {
  try {
    return readTextSync(path, what, max);
  } catch (e) {
    if (e instanceof ConfineError && /^cannot read/.test(e.message)) throw new CliError(`${e.message}${hint}`);
    throw e;
  }
}

/** Write a file whole or not at all: a temp file in the same directory, then a rename over the target. */
export function writeFileAtomic(path: string, text: string): void {
  writeFileAtomicSync(path, text);
}

const f4 = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(4));

export function formatResult(res: LabRoundResult, policy: Policy, names: Map<string, string>): string {
  const name = (id: string | null) => (id === null ? '—' : (names.get(id) ?? id.slice(0, 16)));
  const lines: string[] = [];
  lines.push(`decision: ${res.decision}${res.winner ? ` → ${name(res.winner)} (${res.winner})` : ''}`);
  lines.push(
    `policy ${res.policyHash.slice(0, 16)}…: primary ${policy.primary.metric} on ${policy.primary.suite} (${policy.primary.direction}, margin ${policy.primary.margin}); guardrails ${policy.guardrails.map((g) => `${g.metric}@${g.suite}±${g.tolerance}`).join(', ') || 'none'}`,
  );
  const suites = Object.keys(policy.suites);
  const row = (label: string, s: { metrics: Record<string, Record<string, number>>; bytes?: number } | null) =>
    `  ${label.padEnd(30)} ${suites.map((n) => `${n} acc ${f4(s?.metrics[n]?.accuracy)} ece ${f4(s?.metrics[n]?.ece)}`).join(' | ')}`;
  lines.push('baselines:');
  lines.push(row(`champion ${name(res.baselines.champion?.id ?? null)}`, res.baselines.champion));
  lines.push(row(`no-op ${name(res.baselines.noop?.id ?? null)}`, res.baselines.noop));
  lines.push('candidates:');
  for (const c of res.candidates) {
    const label = `${c.status.padEnd(8)} ${c.recipe.operator}(${c.recipe.parents.map((p) => name(p)).join(', ')})`;
    lines.push(row(label, c.scored));
    for (const r of c.reasons) lines.push(`      - ${r}`);
    if (c.id) lines.push(`      id ${c.id}`);
  }
  lines.push('reasons:');
  for (const r of res.reasons) lines.push(`  ${r}`);
  return lines.join('\n');
}

async function run(args: string[]): Promise<number> {
  if (args[0] === 'exit-check') return runExitCheck(args.slice(1));
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ledger: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean', default: false }, root: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new CliError(`expected one ROUND.json, got ${positionals.length}; see garden lab --help`);
  const roundPath = resolve(positionals[0]);
  let round: LabRoundFile;
  try {
    round = parseLabRound(readText(roundPath, 'round file', LIMITS.json));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${positionals[0]}: ${(e as Error).message}`);
  }

  // The round's catalog path stays inside the round's root; the catalog's files inside its folder.
  const catalogPath = confinedPath(declaredRoot(roundPath, values.root), dirname(roundPath), round.catalog, 'catalog');
  const catalog = checkCatalog(JSON.parse(readText(catalogPath, 'catalog', LIMITS.json, ' (run "npm run starter" to build it)')));
  const root = dirname(catalogPath);

  // The policy: the ledger's when one is kept (a round file cannot change it), else the round's.
  let ledger: Ledger | null = null;
  let signer: LedgerSigner | undefined;
  let fresh: Keyring | null = null;
  let policy: Policy = round.policy;
  const notes: string[] = [];
  if (values.ledger) {
    const ledgerPath = resolve(values.ledger);
    // A new ledger is signed: its keyring (FILE.keys.json) is made first, its anchor kept beside it.
    // An existing one is obeyed only once its chain, signatures, keys and anchor check out.
    const exists = existsSync(ledgerPath);
    const stored = loadKeyring(ledgerPath);
    // A new ledger's keyring is made now and written with the ledger: a refused round writes nothing.
    fresh = stored || exists ? null : await generateKeyring();
    const ring = stored ?? fresh;
    signer = ring ? await createSigner(ring) : undefined;
    if (exists) {
      const file = parseLedgerFile(readText(ledgerPath, 'ledger', LIMITS.ledger));
      ledger = await Ledger.open(new MemoryLedgerStore(file.records, file.head), { signer }); // the chain first
      const auth = await ledgerAuthority(ledgerPath, file.records, ring);
      if (!auth.ok)
        throw new CliError(
          `ledger ${values.ledger} refused: entry ${auth.problems[0].index} [${auth.problems[0].check}]: ${auth.problems[0].message}${auth.problems.length > 1 ? ` (and ${auth.problems.length - 1} more problems)` : ''}`,
        );
      if (auth.signed && !ring)
        throw new CliError(
          `ledger ${values.ledger} is signed but its keyring ${keyringPath(values.ledger)} is missing: no entry can be added`,
        );
    } else ledger = await Ledger.open(new MemoryLedgerStore(), { signer });
    const zone = await PolicyZone.open(ledger, round.policy);
    policy = zone.current();
    if (policyHash(policy) !== policyHash(round.policy))
      notes.push(
        `note: the round file's policy differs from the ledger's; using the ledger's policy ${zone.hash.slice(0, 16)}… (change it with a ledgered policy change)`,
      );
  }
  // No model the policy would refuse to hold is read: its byte ceiling bounds every model read.
  const modelCeiling = policy.ceilings.maxBytes ?? LIMITS.model;
  const want = [...round.parents, ...(round.champion ? [round.champion] : [])];
  const family: CatalogFamily | undefined = round.family
    ? catalog.families.find((f) => f.id === round.family)
    : catalog.families.find((f) => want.every((id) => f.models.some((m) => m.id === id)));
  if (!family)
    throw new CliError(
      round.family
        ? `unknown family "${round.family}"; valid: ${catalog.families.map((f) => f.id).join(', ')}`
        : `no catalog family holds all of ${want.join(', ')}`,
    );

  // Models: the catalog's files, checked against the catalog's hashes and the family's species.
  const models = new Map<string, ParentInfo>();
  const names = new Map<string, string>();
  const bytes: Record<string, number> = {};
  for (const id of new Set(want)) {
    const m = family.models.find((x) => x.id === id);
    if (!m) throw new CliError(`model "${id}" is not in family ${family.id}; valid: ${family.models.map((x) => x.id).join(', ')}`);
    const b = readCatalogFile(root, m.file, `model ${id}`, modelCeiling);
    const h = sha256Hex(b);
    if (h !== m.hash) throw new CliError(`model ${id} (${m.file}) hashes to ${h} but the catalog says ${m.hash}`);
    const slm = readSlm(b);
    if (slm.species !== family.species) throw new CliError(`model ${id} is species ${slm.species}, not the family's ${family.species}`);
    // The claim recomputed from the tensors with the family's graph and labels, never trusted.
    checkFamilySpecies(slm, family, `model ${id}`);
    // As `garden breed` reads a parent, so candidateSlm writes the same candidate bytes.
    models.set(id, { ...checkSlmMetadata(slm.metadata), hash: slm.hash, tensors: slm.tensors });
    names.set(id, id);
    bytes[id] = b.length;
  }

  // Suites: the evaluation zone's store, keyed by the SHA-256 of their bytes.
  const suites = new Map<string, Uint8Array>();
  const hashOf: Record<string, string> = {};
  for (const [policyName, suiteId] of Object.entries(round.suites)) {
    const s = family.suites.find((x) => x.id === suiteId);
    if (!s)
      throw new CliError(
        `suite "${suiteId}" (policy name ${policyName}) is not in family ${family.id}; valid: ${family.suites.map((x) => x.id).join(', ')}`,
      );
    const b = readCatalogFile(root, s.file, `suite ${suiteId}`, LIMITS.suite);
    hashOf[policyName] = sha256Hex(b);
    suites.set(hashOf[policyName], b);
  }

  for (const [name, hash] of Object.entries(policy.suites)) {
    if (hashOf[name] !== hash) {
      const id = round.suites[name];
      throw new CliError(
        `policy pins suite "${name}" at ${hash.slice(0, 16)}…, but ${id ? `catalog suite ${id} hashes to ${hashOf[name].slice(0, 16)}…` : 'the round maps no catalog suite to it'}; a frozen suite changes only through a ledgered re-baseline`,
      );
    }
  }

  const lab = cpuLab({ models, suites, budget: policy.ceilings });
  const t0 = performance.now();
  const res = await runLabRound(
    {
      slot: round.slot,
      policy,
      approved: family.models.map((m) => m.id),
      parents: round.parents,
      champion: round.champion,
      recipes: round.recipes,
      bytes,
    },
    { ...lab.deps, log: values.json ? undefined : (l) => console.error(`  … ${l}`) },
  );
  const seconds = (performance.now() - t0) / 1000;

  // Nothing is written until the round is admitted (or is a no-op): a refused admission writes no
  // candidate and leaves the ledger file as it was. Candidates first (content-addressed, harmless
  // if the ledger write then fails), the ledger last, each through a temp file and a rename.
  let admitted: Awaited<ReturnType<typeof applyRound>> | undefined;
  if (ledger && values.ledger) {
    const release = ReleaseController.open(ledger);
    if (!release.slots().includes(round.slot)) {
      await release.createSlot(
        round.slot,
        { inputLength: family.input.shape[0], outputLength: family.output.labels.length, timeoutMs: 1000, compare: 'argmax' },
        round.champion,
        round.parents.filter((p) => p !== round.champion),
        `slot for family ${family.id}`,
      );
    }
    admitted = await applyRound(res, { ledger, release });
  }
  if (values.out) {
    cleanLeftovers(resolve(values.out));
    for (const [id, b] of lab.candidates) writeFileAtomicSync(join(resolve(values.out), `${id}.slm`), b);
    for (const [id, r] of lab.records)
      writeFileAtomicSync(join(resolve(values.out), `${id}.manifests.json`), `${JSON.stringify(r.manifests, null, 2)}\n`);
  }
  if (ledger && values.ledger) {
    const admission = admitted;
    if (fresh) saveKeyring(resolve(values.ledger), fresh);
    await writeLedgerFiles(resolve(values.ledger), ledger, signer !== undefined);
    notes.push(
      admission
        ? `ledger ${values.ledger}: admission ${manifestHash(admission).slice(0, 16)}… and ${res.winner!.slice(0, 16)}… in shadow of slot "${round.slot}" (${ledger.length} entries)`
        : res.proposals.length
          ? `ledger ${values.ledger}: no-op; ${res.proposals.length} proposal${res.proposals.length > 1 ? 's' : ''} recorded (${res.proposals.map((q) => q.subject).join(', ')}) for the policy zone to decide (${ledger.length} entries)`
          : `ledger ${values.ledger}: no-op, nothing recorded (${ledger.length} entries)`,
    );
  }
  if (values.json) {
    console.log(JSON.stringify({ ...res, seconds }, null, 2));
  } else {
    console.log(formatResult(res, policy, names));
    for (const n of notes) console.log(n);
    console.log(`(${res.candidates.length} recipes, ${res.sidecars.length} evaluations, ${seconds.toFixed(1)} s on the CPU)`);
  }
  return 0;
}

const command: Command = { usage, run };
export default command;
