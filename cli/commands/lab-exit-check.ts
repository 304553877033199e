/**
 * garden lab exit-check --ledger L.json [--json]: the exit check of src/core/lab/exit-check.ts on
 * a garden on disk — the ledger, the catalog's models and suites, and the candidates `garden lab
 * --out DIR` wrote. Exit 0 only when all five criteria hold.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError } from '../command.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { checkSlmMetadata, readSlm } from '../../src/core/format/slm.ts';
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts';
import type { ParentInfo } from '../../src/core/operators/candidate.ts';
import { EXIT_CRITERIA, exitCheck, exitOk, type GardenCandidate } from '../../src/core/lab/exit-check.ts';
import { parseLedgerFile } from '../../src/core/lab/ledger.ts';
import { DEFAULT_CATALOG, catalogFile, loadCatalog } from '../../src/node/catalog.ts';
import { LIMITS, readRegularSync, readTextSync } from '../../src/node/confine.ts';

export const exitCheckUsage = `garden lab exit-check --ledger L.json [options]

Answer five questions about the garden, each with its evidence: can it reproduce every admitted
candidate from its lineage (bit for bit), reject known-bad candidates (a seeded regression set
made from each slot's champion), explain every decision in the ledger, verify every hash, and
roll back every promoted artifact (a drill on a copy; the ledger file is never written).

  --ledger FILE      the garden's ledger (required)
  --catalog FILE     the catalog holding the parents, champion and suites
                     (default: public/starter/catalog.json)
  --candidates DIR   the folder garden lab --out wrote: <sha256>.slm and <sha256>.manifests.json
  --seed N           seed of the regression set (default 1)
  --json             print {"reproduce": {"ok", "summary", "evidence"}, "reject": …, "explain": …,
                     "verify": …, "rollback": …}

Exit status 0 only when all five hold, 1 otherwise.`;

export async function runExitCheck(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ledger: { type: 'string' },
      catalog: { type: 'string' },
      candidates: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length)
    throw new CliError(`garden lab exit-check takes no positional argument, got ${positionals.join(' ')}; see garden lab --help`);
  if (!values.ledger) throw new CliError('garden lab exit-check needs --ledger FILE');
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new CliError(`--seed must be a non-negative integer, got ${values.seed}`);
  let ledger;
  try {
    ledger = parseLedgerFile(readTextSync(resolve(values.ledger), 'ledger', LIMITS.ledger));
  } catch (e) {
    throw new CliError(`${values.ledger}: ${(e as Error).message}`);
  }

  // Every model and suite of the catalog, by id and by hash.
  const catalogPath = resolve(values.catalog ?? DEFAULT_CATALOG);
  const catalog = loadCatalog(catalogPath);
  const models = new Map<string, ParentInfo>();
  const suites = new Map<string, Uint8Array>();
  for (const f of catalog.families) {
    for (const m of f.models) {
      const b = catalogFile(catalogPath, m.file, `model ${m.id}`, LIMITS.model);
      if (sha256Hex(b) !== m.hash) throw new CliError(`model ${m.id} (${m.file}) does not hash to the catalog's ${m.hash}`);
      const slm = readSlm(b);
      const info: ParentInfo = { ...checkSlmMetadata(slm.metadata), hash: slm.hash, tensors: slm.tensors };
      models.set(m.id, info);
      models.set(slm.hash, info);
    }
    for (const s of f.suites) {
      const b = catalogFile(catalogPath, s.file, `suite ${s.id}`, LIMITS.suite);
      suites.set(sha256Hex(b), b);
    }
  }

  const candidates = new Map<string, GardenCandidate>();
  if (values.candidates) {
    const dir = resolve(values.candidates);
    if (!existsSync(dir)) throw new CliError(`--candidates ${values.candidates}: no such folder`);
    for (const name of readdirSync(dir)) {
      const m = /^([0-9a-f]{64})\.(slm|manifests\.json)$/.exec(name);
      if (!m) continue;
      const c = candidates.get(m[1]) ?? {};
      if (m[2] === 'slm') c.bytes = readRegularSync(join(dir, name), `candidate ${name}`, LIMITS.model);
      else c.manifests = parseStrictJson(readTextSync(join(dir, name), `documents ${name}`, LIMITS.json), name) as unknown[];
      candidates.set(m[1], c);
    }
  }

  const report = await exitCheck({ ledger, models, suites, candidates, seed });
  const ok = exitOk(report);
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const k of EXIT_CRITERIA) {
      const r = report[k];
      console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${k.padEnd(9)} ${r.summary}`);
      for (const e of r.evidence.filter((x) => x.ok === false)) console.log(`       - ${String(e.reason ?? JSON.stringify(e))}`);
    }
    console.log(ok ? 'exit check passed: all five hold' : `exit check failed: ${EXIT_CRITERIA.filter((k) => !report[k].ok).join(', ')}`);
  }
  return ok ? 0 : 1;
}
