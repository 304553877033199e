/**
 * The promotion ledger (audit zone): an append-only, hash-chained list of ledger-entry manifests.
 * Entry i carries index i and prev = hash of entry i−1 (64 zeros for the first); the ledger's head
 * is the hash of its last entry. verifyLedger finds any edited, removed or reordered entry and names
 * its index. The only write is append(); there is no update or delete, in memory or in a store.
 */
import type { Sha256Hex } from '../hash.ts';
import { LEDGER_ENTRY_TYPES, type LedgerEntry, type LedgerEntryType } from '../manifest/kinds.ts';
import { deepFreeze, makeManifest, manifestHash, structuredCloneJson } from '../manifest/index.ts';
import { ManifestError, parseStrictJson } from '../manifest/strict-json.ts';
import { validateManifest } from '../manifest/validate.ts';
import {
  ANCHOR_FORMAT,
  anchorMessage,
  checkZoneKeys,
  entryMessage,
  keyId,
  verifySignature,
  zoneOf,
  type LedgerAnchor,
  type LedgerSigner,
  type RecordSignature,
  type ZoneKeys,
} from './signing.ts';

export const GENESIS: Sha256Hex = '0'.repeat(64);
export const LEDGER_FILE_FORMAT = 'slm-garden-ledger' as const;

/** An entry with the hash it was recorded under. */
export interface LedgerRecord {
  hash: Sha256Hex;
  entry: LedgerEntry;
  /** The writing zone's signature over the hash (src/core/lab/signing.ts); absent in an unsigned ledger. */
  sig?: RecordSignature;
}

export interface LedgerHead {
  length: number;
  /** Hash of the last entry; GENESIS when empty. */
  hash: Sha256Hex;
}

/** A ledger as a downloadable file. */
export interface LedgerFile {
  format: typeof LEDGER_FILE_FORMAT;
  version: 1;
  head: LedgerHead;
  records: LedgerRecord[];
}

/** Persistence for the audit zone. Implementations offer no update or delete. */
/** An entry to append: its type and payload (index, link, time and signature are the ledger's). */
export interface LedgerDraft {
  type: LedgerEntryType;
  payload: Record<string, unknown>;
}

/** What a storage decision does to a model: out of the pool (tensors kept), back in it, or gone from the store. */
export const STORAGE_ACTIONS = Object.freeze(['archive', 'restore', 'delete'] as const);
export type StorageAction = (typeof STORAGE_ACTIONS)[number];

/** A storage decision of the user, ledgered (type "storage", written by the release zone) before it is carried out. */
export interface StorageDecision {
  action: StorageAction;
  /** The model's id in the garden. */
  model: string;
  /** SHA-256 of the model's .slm. */
  modelHash: Sha256Hex;
  /** Its display name, when it has one. */
  name?: string;
  reason: string;
}

/** The ledger draft of a storage decision (its payload is checked by ledger-entry.schema.json when appended and when verified). */
export function storageDraft(d: StorageDecision): LedgerDraft {
  const { action, model, modelHash, name, reason } = d;
  return { type: 'storage', payload: { action, model, modelHash, ...(name === undefined ? {} : { name }), reason } };
}

export interface LedgerStore {
  load(): Promise<LedgerRecord[]>;
  /** Persist one record; must reject if a record with the same index exists. */
  append(record: LedgerRecord): Promise<void>;
  /** Persist consecutive records in one write: all of them or, on failure, none. */
  appendAll?(records: readonly LedgerRecord[]): Promise<void>;
  /** The head as last persisted, when the store keeps one apart from the records (catches a truncated tail). */
  head?(): Promise<LedgerHead | null>;
}

export const LEDGER_CHECKS = Object.freeze(['schema', 'hash', 'index', 'link', 'head', 'signature', 'key', 'anchor', 'replay'] as const);
export type LedgerCheck = (typeof LEDGER_CHECKS)[number];

export interface LedgerProblem {
  /** The index (position) of the entry found edited, removed, reordered or malformed. */
  index: number;
  check: LedgerCheck;
  message: string;
}

export interface LedgerVerdict {
  ok: boolean;
  length: number;
  head: Sha256Hex;
  problems: LedgerProblem[];
}

export class LedgerError extends Error {
  override name = 'LedgerError';
}

/** Check a chain of records (and, when given, the head it should end at). */
export function verifyLedger(records: readonly unknown[], expectedHead?: LedgerHead | null): LedgerVerdict {
  const problems: LedgerProblem[] = [];
  const hashes: (Sha256Hex | null)[] = [];
  records.forEach((raw, i) => {
    const rec = raw as Partial<LedgerRecord> | null;
    let entry: LedgerEntry;
    try {
      if (!rec || typeof rec !== 'object' || typeof rec.hash !== 'string') throw new ManifestError('a record must be {hash, entry}');
      entry = validateManifest(rec.entry, 'ledger-entry');
    } catch (e) {
      problems.push({ index: i, check: 'schema', message: `entry ${i} is malformed: ${(e as Error).message}` });
      hashes.push(null);
      return;
    }
    const actual = manifestHash(entry);
    hashes.push(actual);
    if (actual !== rec.hash) {
      problems.push({
        index: i,
        check: 'hash',
        message: `entry ${i} was edited: its content hashes to ${short(actual)} but it was recorded as ${short(rec.hash)}`,
      });
    }
    if (entry.index !== i) {
      problems.push({
        index: i,
        check: 'index',
        message:
          entry.index > i
            ? `entry at position ${i} says index ${entry.index}: ${entry.index - i === 1 ? 'an entry was' : 'entries were'} removed or reordered before it`
            : `entry at position ${i} says index ${entry.index}: entries were reordered or duplicated`,
      });
    }
    const prevHash = i === 0 ? GENESIS : hashes[i - 1];
    // A wrong index already explains a broken link at this position (removed or reordered entries).
    if (entry.index === i && prevHash !== null && entry.prev !== prevHash) {
      problems.push({
        index: i === 0 ? 0 : i - 1,
        check: 'link',
        message:
          i === 0
            ? `entry 0 links to ${short(entry.prev)} instead of the genesis hash: entries before it were removed`
            : `entry ${i} links to ${short(entry.prev)} but entry ${i - 1} hashes to ${short(prevHash)}: entry ${i - 1} was edited, removed or moved`,
      });
    }
  });
  const head = records.length ? (hashes[records.length - 1] ?? '') : GENESIS;
  if (expectedHead) {
    if (expectedHead.length !== records.length) {
      problems.push({
        index: Math.min(expectedHead.length, records.length),
        check: 'head',
        message: `the ledger head records ${expectedHead.length} entries but ${records.length} are present: ${
          expectedHead.length < records.length
            ? 'entries were added without the head'
            : problems.length
              ? `${expectedHead.length - records.length} missing`
              : `entries from index ${records.length} were removed`
        }`,
      });
    } else if (expectedHead.hash !== head) {
      problems.push({
        index: Math.max(0, records.length - 1),
        check: 'head',
        message: `entry ${records.length - 1} was edited: the head is ${short(expectedHead.hash)} but the last entry hashes to ${short(head)}`,
      });
    }
  }
  return { ok: problems.length === 0, length: records.length, head, problems };
}

function short(h: unknown): string {
  return typeof h === 'string' ? h.slice(0, 12) : JSON.stringify(h);
}

/** In-memory store (tests, the CLI). Holds its own copies. */
export class MemoryLedgerStore implements LedgerStore {
  #records: LedgerRecord[];
  #head: LedgerHead | null;
  constructor(records: readonly LedgerRecord[] = [], head: LedgerHead | null = null) {
    this.#records = structuredCloneJson([...records]);
    this.#head = head ? { ...head } : null;
  }
  async load(): Promise<LedgerRecord[]> {
    return structuredCloneJson(this.#records);
  }
  async append(record: LedgerRecord): Promise<void> {
    return this.appendAll([record]);
  }
  async appendAll(records: readonly LedgerRecord[]): Promise<void> {
    records.forEach((r, i) => {
      if (r.entry.index !== this.#records.length + i)
        throw new LedgerError(`ledger store: entry ${r.entry.index} cannot be appended at position ${this.#records.length + i}`);
    });
    if (!records.length) return;
    this.#records.push(...structuredCloneJson([...records]));
    this.#head = { length: this.#records.length, hash: records[records.length - 1].hash };
  }
  async head(): Promise<LedgerHead | null> {
    return this.#head ? { ...this.#head } : null;
  }
}

export interface LedgerOptions {
  /** ISO-8601 UTC clock; injectable for deterministic tests. */
  now?: () => string;
  /**
   * Signs every appended entry with the key of the zone that may write it. The first policy-change
   * appended to a ledger with no pinned keys pins the signer's public keys (payload.keys).
   */
  signer?: LedgerSigner;
}

/** The ledger: read its entries, append new ones. Opening verifies the stored chain and refuses a broken one. */
export class Ledger {
  readonly #store: LedgerStore;
  readonly #records: LedgerRecord[];
  readonly #now: () => string;
  readonly #signer: LedgerSigner | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(store: LedgerStore, records: LedgerRecord[], now: () => string, signer?: LedgerSigner) {
    this.#store = store;
    this.#records = records;
    this.#now = now;
    this.#signer = signer;
  }

  static async open(store: LedgerStore, opts: LedgerOptions = {}): Promise<Ledger> {
    const records = await store.load();
    const verdict = verifyLedger(records, store.head ? await store.head() : null);
    if (!verdict.ok)
      throw new LedgerError(
        `ledger refused: ${verdict.problems[0].message}${verdict.problems.length > 1 ? ` (and ${verdict.problems.length - 1} more problems)` : ''}`,
      );
    // A signed ledger opened with a signer: every entry must be its zone's, under keys the signer holds.
    if (opts.signer && (pinnedKeys(records) !== null || records.some((r) => r.sig !== undefined))) {
      const auth = await verifyAuthority(records, { trusted: opts.signer.root });
      if (!auth.ok)
        throw new LedgerError(
          `ledger refused: entry ${auth.problems[0].index} [${auth.problems[0].check}]: ${auth.problems[0].message}${auth.problems.length > 1 ? ` (and ${auth.problems.length - 1} more problems)` : ''}`,
        );
      const signerKeys = opts.signer.keys;
      const stale = Object.entries(signerKeys)
        .filter(([z, k]) => auth.keys?.[z] !== keyId(k))
        .map(([z]) => z);
      if (stale.length)
        throw new LedgerError(
          `ledger refused: the keys in force at its last entry are not the keyring's (${stale.join(', ')}); no entry could be signed validly`,
        );
    }
    return new Ledger(
      store,
      records.map((r) => deepFreeze(r)),
      opts.now ?? (() => new Date().toISOString()),
      opts.signer,
    );
  }

  get length(): number {
    return this.#records.length;
  }

  get head(): LedgerHead {
    const last = this.#records[this.#records.length - 1];
    return { length: this.#records.length, hash: last ? last.hash : GENESIS };
  }

  /** Frozen entries, oldest first. */
  entries(): readonly LedgerEntry[] {
    return this.#records.map((r) => r.entry);
  }

  records(): readonly LedgerRecord[] {
    return [...this.#records];
  }

  /** Append one entry; appends are serialized, so concurrent callers chain in call order. */
  append(type: LedgerEntryType, payload: Record<string, unknown>): Promise<LedgerEntry> {
    return this.appendAll([{ type, payload }]).then((e) => e[0]);
  }

  /**
   * Append consecutive entries in one store write (an admission and the release entry that puts
   * its model in shadow): all of them are stored, or, when the write fails, none.
   */
  appendAll(drafts: readonly LedgerDraft[]): Promise<LedgerEntry[]> {
    for (const { type } of drafts)
      if (!(LEDGER_ENTRY_TYPES as readonly string[]).includes(type))
        throw new LedgerError(`unknown ledger entry type "${type}"; valid: ${LEDGER_ENTRY_TYPES.join(', ')}`);
    const run = this.#queue.then(async () => {
      const records: LedgerRecord[] = [];
      for (const { type, payload } of drafts) records.push(await this.#record(type, payload, [...this.#records, ...records]));
      if (this.#store.appendAll) await this.#store.appendAll(records);
      else if (records.length === 1) await this.#store.append(records[0]);
      else throw new LedgerError('this ledger store cannot write several entries at once');
      this.#records.push(...records);
      return records.map((r) => r.entry);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The next record after `prior` (the stored records and those of the same write before it), signed by its zone. */
  async #record(type: LedgerEntryType, payload: Record<string, unknown>, prior: readonly LedgerRecord[]): Promise<LedgerRecord> {
    const last = prior[prior.length - 1];
    const head = { length: prior.length, hash: last ? last.hash : GENESIS };
    const body = structuredCloneJson(payload);
    // A ledger begun unsigned (before signing existed) stays unsigned: it pins no keys to sign under.
    const signer = this.#signer && (prior.length === 0 || pinnedKeys(prior) !== null) ? this.#signer : undefined;
    if (signer && prior.length === 0) {
      if (type !== 'policy-change')
        throw new LedgerError(`the first entry of a signed ledger is the policy change that pins its zone keys, not a ${type} entry`);
      body.keys = { ...signer.keys };
    }
    const entry = makeManifest('ledger-entry', { index: head.length, prev: head.hash, type, at: this.#now(), payload: body });
    const hash = manifestHash(entry);
    const zone = zoneOf(type);
    if (signer && !zone) throw new LedgerError(`no zone may sign a ${type} entry`);
    return deepFreeze(signer ? { hash, entry, sig: await signer.sign(zone!, entryMessage(hash)) } : { hash, entry });
  }

  verify(): LedgerVerdict {
    return verifyLedger(this.#records, this.head);
  }

  /** The signed anchor of the ledger as it is now (count and head), to be kept apart from it. */
  async anchor(): Promise<LedgerAnchor> {
    const signer = this.#signer;
    if (!signer) throw new LedgerError('an unsigned ledger has no anchor');
    const { length, hash } = this.head;
    const last = this.#records[length - 1];
    const zone = (last && zoneOf(last.entry.type)) || 'policy';
    return { format: ANCHOR_FORMAT, version: 1, length, head: hash, sig: await signer.sign(zone, anchorMessage(length, hash)) };
  }

  toFile(): LedgerFile {
    return { format: LEDGER_FILE_FORMAT, version: 1, head: this.head, records: structuredCloneJson([...this.#records]) };
  }
}

/** Serialize a ledger to its file text (pretty JSON; entry hashes are over canonical JSON, not this text). */
export function serializeLedger(ledger: Ledger): string {
  return JSON.stringify(ledger.toFile(), null, 2) + '\n';
}

/** Parse a ledger file (strict JSON) without judging the chain; pair with verifyLedger. */
export function parseLedgerFile(text: string): LedgerFile {
  const json = parseStrictJson(text, 'ledger file') as Partial<LedgerFile> | null;
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new LedgerError('ledger file is not a JSON object');
  if (json.format !== LEDGER_FILE_FORMAT)
    throw new LedgerError(`ledger file format is ${JSON.stringify(json.format ?? null)}, expected "${LEDGER_FILE_FORMAT}"`);
  if (json.version !== 1) throw new LedgerError(`ledger file version is ${JSON.stringify(json.version ?? null)}; valid: 1`);
  const extra = Object.keys(json).filter((k) => !['format', 'version', 'head', 'records'].includes(k));
  if (extra.length) throw new LedgerError(`ledger file has unknown key "${extra[0]}"; valid: format, version, head, records`);
  if (!Array.isArray(json.records)) throw new LedgerError('ledger file has no "records" array');
  const head = json.head;
  if (!head || typeof head !== 'object' || !Number.isInteger(head.length) || typeof head.hash !== 'string')
    throw new LedgerError('ledger file head must be {length, hash}');
  return json as LedgerFile;
}

/** Open a ledger from file text: parsed, verified (chain and head), and backed by a memory store. */
export async function openLedgerFile(text: string, opts: LedgerOptions = {}): Promise<Ledger> {
  const file = parseLedgerFile(text);
  return Ledger.open(new MemoryLedgerStore(file.records, file.head), opts);
}

/* ------------------------------------------------------------------ authority */

/** The zone keys the ledger's first policy change pins, or null for an unsigned ledger. */
export function pinnedKeys(records: readonly LedgerRecord[]): ZoneKeys | null {
  for (const r of records) if (r?.entry?.type === 'policy-change') return checkZoneKeys(r.entry.payload?.keys);
  return null;
}

export interface AuthorityOptions {
  /** The public keys the garden trusts (its keyring's): the first pin must be these. */
  trusted?: ZoneKeys | null;
  /** The anchor kept apart from the ledger (parsed JSON), when there is one. */
  anchor?: unknown;
  /** Refuse an unsigned ledger (a garden with a keyring signs every entry). */
  requireSigned?: boolean;
}

export interface AuthorityVerdict {
  ok: boolean;
  /** Whether the ledger pins zone keys and signs its entries. */
  signed: boolean;
  /** keyId of each zone's key in force at the end. */
  keys: Record<string, string> | null;
  problems: LedgerProblem[];
}

const sameKeys = (a: ZoneKeys, b: ZoneKeys) => a.policy === b.policy && a.release === b.release && a.evaluation === b.evaluation;

/**
 * Who wrote each entry: every entry of a signed ledger must carry a signature of the zone allowed to
 * write its type, by that zone's key in force at that point (pinned by the first policy change,
 * rotated only by a policy change signed with the policy key before it), over the entry's hash.
 * Then the anchor: its signature, and that the ledger still reaches its count and head.
 */
export async function verifyAuthority(records: readonly LedgerRecord[], opts: AuthorityOptions = {}): Promise<AuthorityVerdict> {
  const problems: LedgerProblem[] = [];
  const first = pinnedKeys(records);
  const firstPolicy = records.findIndex((r) => r?.entry?.type === 'policy-change');
  const signed = first !== null || records.some((r) => r?.sig !== undefined);
  if (!signed) {
    if (opts.requireSigned || opts.trusted)
      problems.push({
        index: 0,
        check: 'signature',
        message: 'the ledger is unsigned: no policy change pins zone keys, so no entry proves who wrote it',
      });
    return { ok: problems.length === 0, signed, keys: null, problems };
  }
  if (first === null) {
    problems.push({
      index: Math.max(0, firstPolicy),
      check: 'key',
      message:
        firstPolicy < 0
          ? 'entries are signed but no policy change pins the zone keys'
          : `entry ${firstPolicy}: the first policy change pins no valid zone keys`,
    });
    return { ok: false, signed, keys: null, problems };
  }
  if (opts.trusted && !sameKeys(first, opts.trusted)) {
    problems.push({
      index: firstPolicy,
      check: 'key',
      message: `entry ${firstPolicy} pins zone keys ${SIGNING_IDS(first)} but this garden's keyring holds ${SIGNING_IDS(opts.trusted)}: an unknown key (the ledger was re-signed)`,
    });
  }
  let current: ZoneKeys | null = null;
  const retired = new Set<string>();
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const type = r?.entry?.type;
    const zone = zoneOf(type);
    const sig = r?.sig;
    const rotates = type === 'policy-change' && checkZoneKeys(r.entry.payload?.keys);
    if (current === null && i < firstPolicy) {
      problems.push({
        index: i,
        check: 'signature',
        message: `entry ${i} (${type}) comes before the policy change that pins the zone keys`,
      });
      continue;
    }
    // The key this entry must be signed with: the pin itself for the first policy change.
    const authority: ZoneKeys = current ?? (rotates as ZoneKeys);
    if (!sig || typeof sig !== 'object') {
      problems.push({ index: i, check: 'signature', message: `entry ${i} (${type}) is not signed` });
    } else if (!zone || sig.zone !== zone) {
      problems.push({
        index: i,
        check: 'signature',
        message: `entry ${i}: a ${type} entry is signed by the ${String(sig.zone)} zone; only the ${zone ?? 'no'} zone may write it`,
      });
    } else if (sig.key !== keyId(authority[zone])) {
      problems.push({
        index: i,
        check: 'key',
        message: retired.has(sig.key)
          ? `entry ${i} (${type}) is signed with ${zone} key ${sig.key}, rotated out before it`
          : `entry ${i} (${type}) is signed with an unknown ${zone} key ${String(sig.key).slice(0, 16)}`,
      });
    } else if (!(await verifySignature(authority[zone], entryMessage(r.hash), sig))) {
      problems.push({
        index: i,
        check: 'signature',
        message: `entry ${i} (${type}): its ${zone} signature does not verify: the entry was forged or changed after signing`,
      });
    }
    if (rotates) {
      if (current)
        for (const z of Object.keys(current) as (keyof ZoneKeys)[])
          if (current[z] !== (rotates as ZoneKeys)[z]) retired.add(keyId(current[z]));
      current = rotates as ZoneKeys;
    }
  }
  if (opts.anchor !== undefined && opts.anchor !== null) await checkAnchor(records, opts.anchor, current ?? first, problems);
  const keys = current ? Object.fromEntries(Object.entries(current).map(([z, k]) => [z, keyId(k)])) : null;
  return { ok: problems.length === 0, signed, keys, problems };
}

const SIGNING_IDS = (k: ZoneKeys) =>
  Object.entries(k)
    .map(([z, v]) => `${z}:${keyId(v)}`)
    .join(',');

async function checkAnchor(records: readonly LedgerRecord[], raw: unknown, keys: ZoneKeys, problems: LedgerProblem[]): Promise<void> {
  const a = raw as Partial<LedgerAnchor> | null;
  if (
    !a ||
    typeof a !== 'object' ||
    a.format !== ANCHOR_FORMAT ||
    a.version !== 1 ||
    !Number.isSafeInteger(a.length) ||
    typeof a.head !== 'string' ||
    !a.sig
  ) {
    problems.push({ index: records.length, check: 'anchor', message: 'the anchor file is not a ledger anchor' });
    return;
  }
  const z = a.sig.zone;
  if (
    !(z in keys) ||
    a.sig.key !== keyId(keys[z as keyof ZoneKeys]) ||
    !(await verifySignature(keys[z as keyof ZoneKeys], anchorMessage(a.length!, a.head), a.sig))
  ) {
    problems.push({
      index: records.length,
      check: 'anchor',
      message: "the anchor's signature does not verify with the ledger's zone keys: the anchor was forged or rewritten",
    });
    return;
  }
  const n = a.length!;
  if (records.length < n)
    problems.push({
      index: records.length,
      check: 'anchor',
      message: `the anchor records ${n} entries but the ledger holds ${records.length}: entries from index ${records.length} were removed (truncated)`,
    });
  else if ((n === 0 ? GENESIS : records[n - 1]?.hash) !== a.head)
    problems.push({
      index: Math.max(0, n - 1),
      check: 'anchor',
      message: `entry ${n - 1} is not the anchored head ${a.head.slice(0, 12)}: the ledger was rewritten`,
    });
  // Entries after the anchored head (a write that stopped before the anchor was renewed) are
  // judged by their signatures alone, which the loop above checked.
}
