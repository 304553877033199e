/**
 * garden ledger verify FILE | garden ledger show FILE: check a promotion ledger's hash chain, or
 * list its entries.
 */
import { parseArgs } from 'node:util';
import { CliError, type Command } from '../command.ts';
import {
  Ledger,
  MemoryLedgerStore,
  parseLedgerFile,
  verifyLedger,
  type LedgerFile,
  type LedgerProblem,
} from '../../src/core/lab/ledger.ts';
import { PolicyZone } from '../../src/core/lab/policy.ts';
import { ReleaseController } from '../../src/core/lab/release.ts';
import { ledgerAuthority, loadKeyring } from '../../src/node/ledger-files.ts';
import { LIMITS, readTextSync } from '../../src/node/confine.ts';
import { printable } from '../../src/core/format/printable.ts';

const SUBCOMMANDS = Object.freeze(['verify', 'show'] as const);

const usage = `garden ledger verify FILE [--json] [--keys KEYRING]
garden ledger show FILE

verify: check every entry of a promotion ledger file: its schema, that it hashes to the hash it
        was recorded under, that its index is its position, that it links to the hash of the
        entry before it, and that the last entry matches the file's head. Any edited, removed or
        reordered entry is reported with its index. Exit status 0 when intact, 1 otherwise.
        Then who wrote it: each entry signed by the zone that may write its type, with that
        zone's key pinned by the ledger's policy changes (a rotated or unknown key is refused);
        the pinned keys against the garden's keyring (--keys, default FILE.keys.json); the
        signed anchor FILE.anchor.json (count and head: a truncation is caught); and the lab's
        replay of the policy and the release registry.
show:   list the entries (index, time, type, summary).`;

function load(path: string) {
  return parseLedgerFile(readTextSync(path, 'ledger', LIMITS.ledger));
}

const short = (v: unknown) => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? `${v.slice(0, 16)}…` : printable(String(v)));

/**
 * One line per entry. Admission entries carry the payload admitToShadow writes (src/core/lab/admission.ts):
 * {slot, model, candidate, admission, admissionHash, promotionTemplate, policyHash}.
 */
function summary(payload: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const k of ['slot', 'action', 'model', 'reason', 'suite'])
    if (typeof payload[k] === 'string') parts.push(`${k}=${short(payload[k])}`);
  if (typeof payload.candidate === 'string') parts.push(`candidate=${short(payload.candidate)}`);
  if (typeof payload.admissionHash === 'string') parts.push(`admission=${short(payload.admissionHash)}`);
  const gates = (payload.promotionTemplate as { gates?: { id: string; status: string }[] } | undefined)?.gates;
  if (Array.isArray(gates)) parts.push(`gates=${gates.map((g) => `${g.id}:${g.status}`).join(',')}`);
  const basis = (payload.evidence as { basis?: unknown } | undefined)?.basis;
  if (typeof basis === 'string') parts.push(`basis=${basis}`);
  if (typeof payload.policyHash === 'string') parts.push(`policy=${short(payload.policyHash)}`);
  return parts.join(' ');
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, keys: { type: 'string' } },
  });
  const [sub, file, ...rest] = positionals;
  if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub))
    throw new CliError(`unknown subcommand ${JSON.stringify(sub ?? '')}; valid: ${SUBCOMMANDS.join(', ')}`);
  if (!file || rest.length) throw new CliError(`expected one ledger FILE; see garden ledger --help`);
  const ledger = load(file);
  if (sub === 'show') {
    for (const r of ledger.records) {
      const e = r.entry;
      console.log(
        printable(
          `${String(e?.index).padStart(4)}  ${e?.at}  ${String(e?.type).padEnd(13)} ${String(r.hash).slice(0, 12)}  ${e?.payload ? summary(e.payload) : ''}`,
        ),
      );
    }
    return 0;
  }
  const chain = verifyLedger(ledger.records, ledger.head);
  const authority = await ledgerAuthority(file, ledger.records, values.keys ? loadKeyring(file, values.keys) : undefined);
  const problems = [...chain.problems, ...authority.problems];
  // The lab's replay: the policy zone and the release registry as the lab would rebuild them.
  if (chain.ok) problems.push(...(await replay(ledger.records, ledger.head)));
  const v = { ...chain, ok: problems.length === 0, problems, authority: { signed: authority.signed, keys: authority.keys } };
  if (values.json) {
    console.log(JSON.stringify(v, null, 2));
    return v.ok ? 0 : 1;
  }
  if (v.ok) {
    console.log(`ok: ${v.length} entries, hash chain intact, head ${v.head}`);
    console.log(
      authority.signed
        ? `signed: every entry by its zone's pinned key (${Object.entries(authority.keys ?? {})
            .map(([z, k]) => `${z} ${k}`)
            .join(', ')})`
        : 'unsigned: the chain is intact but no entry proves who wrote it',
    );
    return 0;
  }
  console.log(
    `BROKEN: ${v.problems.length} problem${v.problems.length > 1 ? 's' : ''} in ${v.length} entries (first at index ${v.problems[0].index})`,
  );
  for (const p of v.problems) console.log(`  entry ${p.index} [${p.check}]: ${printable(p.message)}`);
  return 1;
}

/** Replay the ledger as the lab does (PolicyZone, ReleaseController); a refusal names its entry. */
async function replay(records: LedgerFile['records'], head: LedgerFile['head']): Promise<LedgerProblem[]> {
  try {
    const ledger = await Ledger.open(new MemoryLedgerStore(records, head));
    if (PolicyZone.fromLedger(ledger)) ReleaseController.open(ledger);
    return [];
  } catch (e) {
    const msg = (e as Error).message;
    const index = Number(/entry (\d+)/.exec(msg)?.[1] ?? records.length - 1);
    return [{ index, check: 'replay', message: msg }];
  }
}

const command: Command = { usage, run };
export default command;
