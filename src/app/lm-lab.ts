/**
 * The language-model family's lab (the page of the switcher's "lm" family, src/app/family.ts
 * LM_FAMILY, loaded with the text playground): the stored text models are its pool. Two or more of them are bred with a core operator in the text worker (from
 * the LM store into it chunk by chunk on the CPU reference, the file `garden breed` writes for the same recipe), the candidate
 * is scored by perplexity on the starter family's frozen text suites against its parents and the
 * slot's champion, judged by the viability controller under the LM slot's policy, admitted
 * through the lab's gates (admission documents, admitToShadow) and released (canary, champion) in
 * a ledger of its own; a prompt is routed by the selector, and the model it picked streams the
 * answer. A candidate is exported as a Hugging Face folder and read back, tensor hash by hash.
 *
 * Its garden keeps the zones the classifier garden keeps: the breed's documents (lineage template,
 * operator receipt, candidate manifest) with the candidate in the tensor store; the evaluator's
 * evidence (runtime smoke, evaluation sidecars) in an evaluation database of its own, read back
 * on open, so a reload keeps the scores and the smoke; and a ledger whose entries are signed by
 * their zone's key (the core's Ledger with the keyring's signer, as src/app/repo.ts opens the
 * classifier garden's). A ledger begun before signing stays unsigned and says so.
 */
import * as Comlink from 'comlink';
import { create } from 'zustand';
import { tensorHashes, type ImportedModel } from '../core/format/model.ts';
import { checkSlmMetadata } from '../core/format/slm.ts';
import { streamsFromStore } from '../store/stored-breed.ts';
import { causalLmFromModel } from '../core/format/hf.ts';
import { getOperator } from '../core/operators/registry.ts';
import type { BreedProgress, BreedResult } from '../core/operators/breed.ts';
import type { RecipeParams } from '../core/operators/types.ts';
import { sha256Hex } from '../core/hash.ts';
import { makeManifest, manifestHash, type Policy, type RuntimeSmoke } from '../core/manifest/index.ts';
import type { EvaluationSidecar } from '../core/manifest/kinds.ts';
import { Ledger } from '../core/lab/ledger.ts';
import { knownOperatorIds, PolicyZone } from '../core/lab/policy.ts';
import { ReleaseController } from '../core/lab/release.ts';
import { SelectorRouter, type RouteResult } from '../core/lab/router.ts';
import { noopBaseline, viability, type Scored, type ViabilityVerdict } from '../core/lab/viability.ts';
import { evidencePromotionCheck } from '../core/lab/fitness.ts';
import { admitToShadow } from '../core/lab/admission.ts';
import { GuardedRelease, checkStages } from '../core/lab/blast-radius.ts';
import { contractVerb, parseContract, registryContract, requestCheck } from '../core/lab/contract.ts';
import { admissionDocuments, recordBreed } from '../core/lab/records.ts';
import { bindSidecar } from '../core/eval/sidecar.ts';
import { IdbLedgerStore } from '../lab-store/idb-ledger.ts';
import { candidateName } from './naming.ts';
import { evidenceFor, openEvaluationDb, putEvidence } from './repo.ts';
import { LM_FAMILY, lmSlotName } from './family.ts';
import { openKeyring } from '../lab-store/keyring.ts';
import { createSigner, type LedgerSigner } from '../core/lab/signing.ts';
import { storageDraft, verifyAuthority } from '../core/lab/ledger.ts';
import type { IDBPDatabase } from 'idb';
import type { Manifest } from '../core/manifest/index.ts';
import {
  deleteTextModel,
  folderOfFiles,
  listTextModels,
  refreshTextModels,
  runText,
  starterSuiteText,
  starterTextManifest,
  storeTextModel,
  summarize,
  textStore,
  textWorker,
  useText,
  type TextModelEntry,
} from './text.ts';
import type { HfExportedFile, LmWorkProgress } from '../../workers/text.worker.ts';
import { importHfFolder } from '../core/format/hf.ts';
import { concatBytes } from '../core/bytes.ts';

/**
 * The slot's contract (src/core/lab/contracts/lm.contract): the routed input's and the logits'
 * shapes, the timeout, the shadow comparison, the blast-radius class and the checks at every request.
 */
export const LM_VERB = contractVerb(parseContract(LM_FAMILY.contract.text, LM_FAMILY.contract.file));
export const LM_RISK = LM_VERB.risk;
/**
 * The registry's name for the slot the selector routes prompts for, chosen when the lab opens
 * (family.ts lmSlotName): lm.contract's "lm", or "text" in a garden whose ledger created the slot
 * under that name before the family existed (its admissions and release stages keep counting).
 */
let lmSlot = LM_FAMILY.slot;
/**
 * The slot's primary suite: the Moby-Dick suite and the mixed suite together (a Moby-Dick voice
 * that keeps general English), pinned as the SHA-256 of the two files' bytes in that order and
 * scored as both texts are (each from an empty cache): exp(Σ nll / Σ tokens).
 */
export const PRIMARY_SUITE = 'moby+mixed';
const GUARDRAIL_SUITE = 'mixed';
/** The frozen suites of the starter family (public/starter/lm/suites) that make the policy's two. */
const SUITE_PARTS: Record<string, string[]> = { [PRIMARY_SUITE]: ['moby', 'mixed'], [GUARDRAIL_SUITE]: ['mixed'] };
/** Each frozen file is scored once; the policy's suites are sums over their parts. */
const PARTS = [...new Set(Object.values(SUITE_PARTS).flat())];
/** What the pool shows: the primary suite, the guardrail, then the frozen files that are no policy suite of their own. */
export const SCORE_COLUMNS: readonly { name: string; label: string }[] = [
  { name: PRIMARY_SUITE, label: `${PRIMARY_SUITE} (primary)` },
  { name: GUARDRAIL_SUITE, label: `${GUARDRAIL_SUITE} (guardrail)` },
  ...PARTS.filter((id) => !(id in SUITE_PARTS)).map((id) => ({ name: id, label: id })),
];
/** Perplexity windows, as `garden eval --text` scores (512 tokens, stride 256). */
const WINDOW = 512;
/** The routed input: the prompt's last tokens as ids, left-padded with −1 (the contract's `takes`). */
export const ROUTE_CONTEXT = LM_VERB.takes.length;
const EVALUATOR = { id: 'lm-perplexity', version: '1' } as const;
const SMOKE_STEPS = 8;

/** The LM slot's policy: perplexity (lower is better) on the primary suite by a margin, the mixed suite as a guardrail. */
export function lmPolicy(pins: Record<string, string>): Policy {
  return {
    kind: 'policy',
    schemaVersion: 1,
    // Every operator, and lora-merge: a candidate trained here (lm-train.ts) records that pseudo-operator.
    allowlist: knownOperatorIds(),
    primary: { suite: PRIMARY_SUITE, metric: 'perplexity', direction: 'min', margin: 0.5 },
    guardrails: [{ suite: GUARDRAIL_SUITE, metric: 'perplexity', direction: 'min', tolerance: 5 }],
    ceilings: { maxBytes: 64 * 1024 * 1024 },
    suites: { ...pins },
  };
}

export interface LmScore {
  tokens: number;
  bytes: number;
  perplexity: number;
  bitsPerByte: number;
  ms: number;
  /** Hash of the evaluation sidecar that records it. */
  sidecar: string;
}

export interface LmTask {
  kind: 'breed' | 'evaluate' | 'export';
  done: number;
  total: number;
  label: string;
  startedAt: number;
}

export interface LmSmoke {
  passed: boolean;
  reasons: string[];
  /** Greedy steps the smoke decoded. */
  probes: number;
  /** Hash of the runtime-smoke manifest kept in the evaluation zone. */
  hash: string;
}

export interface LmRoute {
  prompt: string;
  answeredBy: string;
  answeredName: string;
  canary: boolean;
  fellBack: string[];
  shadow: { model: string; agreed: boolean | null } | null;
  ms: number;
}

export interface LmExport {
  model: string;
  files: { name: string; bytes: number; sha256: string; url: string }[];
  /** The read-back: the exported files imported again, tensor hashes compared with the stored model's. */
  readBack: { ok: boolean; text: string } | null;
  savedTo?: string;
}

export interface LedgerLine {
  index: number;
  type: string;
  summary: string;
}

interface LmState {
  phase: 'closed' | 'opening' | 'ready' | 'error';
  error: string | null;
  notice: string | null;
  task: LmTask | null;
  /** Model id → policy suite name → score. */
  scores: Record<string, Record<string, LmScore>>;
  /** Model id → its latest runtime smoke (stored as evidence: kept across reloads). */
  smoke: Record<string, LmSmoke>;
  verdicts: Record<string, ViabilityVerdict>;
  admitted: Record<string, string>;
  registry: { champion: string | null; canary: { model: string; share: number } | null; shadow: string | null } | null;
  ledger: LedgerLine[];
  ledgerOk: string;
  /** Who wrote the entries: every signature checked against the zone keys the ledger pins (and the keyring's). */
  ledgerSigned: { ok: boolean; signed: boolean; text: string } | null;
  /** The slot's registry name (lm, or text in a garden begun before lm.contract). */
  slot: string;
  route: LmRoute | null;
  exported: LmExport | null;
  policy: Policy | null;
  set(p: Partial<Omit<LmState, 'set'>>): void;
}

export const useLm = create<LmState>()((set) => ({
  phase: 'closed',
  error: null,
  notice: null,
  task: null,
  scores: {},
  smoke: {},
  verdicts: {},
  admitted: {},
  registry: null,
  ledger: [],
  ledgerOk: '',
  ledgerSigned: null,
  slot: LM_FAMILY.slot,
  route: null,
  exported: null,
  policy: null,
  set: (p) => set(p),
}));

const get = () => useLm.getState();
const set = (p: Partial<Omit<LmState, 'set'>>) => useLm.getState().set(p);

let ledger: Ledger;
let signer: LedgerSigner;
/** The lab's evaluation zone: runtime smokes and evaluation sidecars, by stored model id. */
let evaluation: IDBPDatabase;
let policy: PolicyZone;
let release: ReleaseController;
/** The canary and champion steps, behind the contract's blast-radius class. */
let guarded: GuardedRelease;
let router: SelectorRouter;
/** Frozen suite id → its text and pin (each file checked against the starter manifest's SHA-256). */
const partTexts: Record<string, { text: string; hash: string }> = {};
let opening: Promise<void> | null = null;

/** Open the lab once per page: the suites, the ledger (its own database) and the zones replayed from it. */
export function openLmLab(): Promise<void> {
  opening ??= open().catch((e: Error) => {
    opening = null;
    set({ phase: 'error', error: `The language-model lab could not open: ${e.message}` });
  });
  return opening;
}

async function open(): Promise<void> {
  set({ phase: 'opening' });
  const manifest = await starterTextManifest();
  if (!manifest) throw new Error('this build has no starter text family (public/starter/lm/manifest.json; run `npm run starter`)');
  const parts: Record<string, Uint8Array> = {};
  for (const id of PARTS) {
    const s = manifest.suites.find((x) => x.id === id);
    if (!s) throw new Error(`the starter text family has no suite "${id}"`);
    const r = await starterSuiteText(s);
    parts[id] = r.bytes;
    partTexts[id] = { text: r.text, hash: s.hash };
  }
  const pins: Record<string, string> = {};
  for (const [name, ids] of Object.entries(SUITE_PARTS)) pins[name] = sha256Hex(concatBytes(ids.map((id) => parts[id])));
  signer = await createSigner(await openKeyring(LM_FAMILY.databases.keys));
  ledger = await Ledger.open(await IdbLedgerStore.open(LM_FAMILY.databases.ledger), { signer });
  evaluation = await openEvaluationDb(LM_FAMILY.databases.evaluation);
  policy = await PolicyZone.open(ledger, lmPolicy(pins));
  await policy.allowTrainedCandidates();
  const held = policy.current().suites;
  const moved = Object.keys(pins).filter((n) => held[n] !== pins[n]);
  if (moved.length) throw new Error(`the frozen suites ${moved.join(', ')} differ from the ones this lab's policy pins`);
  release = ReleaseController.open(ledger);
  lmSlot = lmSlotName(release.slots());
  guarded = new GuardedRelease(ledger, release, { classOf: () => LM_RISK, resilienceWindowMs: 0 });
  router = new SelectorRouter({ invoke, release, contracts: { [lmSlot]: requestCheck(LM_VERB) } });
  set({ phase: 'ready', policy: policy.current(), slot: lmSlot, ...(await loadEvidence()) });
  sync();
}

/** Score name → pin: the policy's suites and the frozen parts they are made of. */
function scorePins(): Record<string, string> {
  return { ...Object.fromEntries(PARTS.map((id) => [id, partTexts[id].hash])), ...policy.current().suites };
}

/** A stored evaluation sidecar as the pool's score, when it is this evaluator's on a suite the lab scores. */
function scoreOf(m: Manifest, pins: Record<string, string>): [string, LmScore] | null {
  if (m.kind !== 'evaluation-sidecar' || m.evaluator.id !== EVALUATOR.id || m.evaluator.version !== EVALUATOR.version) return null;
  const name = Object.keys(pins).find((n) => pins[n] === m.suite);
  const x = m.metrics;
  if (!name || ![x.perplexity, x.bitsPerByte, x.tokens, x.bytes, x.ms].every(Number.isFinite)) return null;
  return [
    name,
    { tokens: x.tokens, bytes: x.bytes, perplexity: x.perplexity, bitsPerByte: x.bitsPerByte, ms: x.ms, sidecar: manifestHash(m) },
  ];
}

function smokeOf(m: Manifest): LmSmoke | null {
  return m.kind === 'runtime-smoke' ? { passed: m.passed, reasons: [...m.reasons], probes: m.probes, hash: manifestHash(m) } : null;
}

/**
 * The evaluator's evidence of every stored model, read back from the evaluation zone: its latest
 * score on each suite (observations of fixed bytes on pinned suites) and its latest runtime smoke.
 */
async function loadEvidence(): Promise<Pick<LmState, 'scores' | 'smoke'>> {
  const pins = scorePins();
  const scores: LmState['scores'] = {};
  const smoke: LmState['smoke'] = {};
  for (const m of await listTextModels())
    for (const e of await evidenceFor(evaluation, m.id)) {
      const s = scoreOf(e, pins);
      if (s) (scores[m.id] ??= {})[s[0]] = s[1];
      const k = smokeOf(e);
      if (k) smoke[m.id] = k;
    }
  return { scores, smoke };
}

function models(): TextModelEntry[] {
  return useText.getState().models;
}

function entry(id: string): TextModelEntry {
  const m = models().find((x) => x.id === id);
  if (!m) throw new Error(`no stored text model ${id.slice(0, 12)}…`);
  return m;
}

const nameOf = (id: string) => models().find((m) => m.id === id)?.name ?? `${id.slice(0, 12)}…`;

function sync(): void {
  const slot = release.slots().includes(lmSlot) ? release.current(lmSlot) : null;
  const verdict = ledger.verify();
  set({
    registry: slot ? { champion: slot.champion, canary: slot.canary, shadow: slot.shadow } : null,
    ledger: ledger.entries().map((e) => ({ index: e.index, type: e.type, summary: describe(e.type, e.payload) })),
    ledgerOk: verdict.ok
      ? `${ledger.entries().length} ${ledger.entries().length === 1 ? 'entry' : 'entries'}, chain intact`
      : verdict.problems[0].message,
    slot: lmSlot,
    admitted: Object.fromEntries(
      ledger
        .entries()
        .filter((e) => e.type === 'admission')
        .map((e) => [String(e.payload.model), String(e.payload.admissionHash)]),
    ),
  });
  checkSignatures();
}

/** Check every entry's signature against the zone keys it pins and the keyring's (the core's verifyAuthority), then show it. */
function checkSignatures(): void {
  const records = ledger.records();
  void verifyAuthority(records, { trusted: signer.root }).then(
    (a) => {
      // A later write already asked again: this answer is stale.
      if (ledger.records().length !== records.length) return;
      const keys = a.keys ? Object.entries(a.keys).map(([z, k]) => `${z} ${k.slice(0, 10)}…`) : [];
      const text = !a.signed
        ? 'unsigned: the ledger was begun before the lab signed its entries'
        : a.ok
          ? `every entry signed by its zone's key (${keys.join(', ')})`
          : `signature check failed: ${a.problems[0].message}`;
      set({ ledgerSigned: { ok: a.ok && a.signed, signed: a.signed, text } });
    },
    (e: Error) => set({ ledgerSigned: { ok: false, signed: false, text: `signature check failed: ${e.message}` } }),
  );
}

function describe(type: string, p: Record<string, unknown>): string {
  if (type === 'release') return `${String(p.action)} (slot ${String(p.slot)}): ${String(p.reason ?? '')}`;
  if (type === 'rollback') return `rolled back: ${String(p.reason ?? '')}`;
  if (type === 'admission') return `admitted ${nameOf(String(p.model))} (admission ${String(p.admissionHash).slice(0, 10)}…)`;
  if (type === 'policy-change') return `policy: ${String(p.reason ?? '')}`;
  if (type === 'storage') return `${String(p.action)} ${String(p.name ?? p.model)}: ${String(p.reason)}`;
  return type;
}

/**
 * Delete a stored text model, from either page's playground. Refused, with the reason, for what the
 * slot routes to or an admission binds; otherwise the lab's ledger records the decision (a signed
 * storage entry, as the classifier gardens' storage panel does) before the bytes go.
 */
export async function deleteLmModel(m: TextModelEntry): Promise<string | null> {
  await openLmLab();
  if (get().task) return `${m.name} was not deleted: the lab is busy (${get().task!.label})`;
  const r = get().registry;
  if (r && (r.champion === m.id || r.shadow === m.id || r.canary?.model === m.id))
    return `${m.name} was not deleted: the ${lmSlot} slot routes to it`;
  if (get().admitted[m.id]) return `${m.name} was not deleted: it is admitted, and its admission record binds it`;
  const hash = await modelHash(m);
  await ledger.appendAll([
    storageDraft({ action: 'delete', model: m.id, modelHash: hash, name: m.name, reason: 'deleted by the user from the text playground' }),
  ]);
  await deleteTextModel(m.id);
  await refreshTextModels();
  sync();
  return null;
}

/** Hand a stored model's tensors to the text worker once (a restarted worker is handed them again). */
async function ensureHeld(m: TextModelEntry): Promise<void> {
  const w = textWorker();
  if (await w.holds(m.id)) return;
  const tensors = await (await textStore()).loadModel(m.id);
  const buffers = [...new Set(tensors.map((t) => t.data.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  await w.hold(Comlink.transfer({ id: m.id, species: m.species, graphHash: m.graphHash, metadata: m.metadata, tensors }, buffers));
}

function startTask(kind: LmTask['kind'], total: number, label: string): boolean {
  if (get().task) return false;
  set({ task: { kind, done: 0, total, label, startedAt: performance.now() }, notice: null });
  // Before any of the task's calls: the worker takes messages in order, so a later Cancel applies to this task.
  void textWorker().beginWork();
  return true;
}

const progress = (p: Partial<LmTask>) => {
  const t = get().task;
  if (t) set({ task: { ...t, ...p } });
};

export interface LmBreedForm {
  operator: string;
  params: RecipeParams;
  seed: number;
  /** The base (for an operator that takes one) and the other parents, as stored ids. */
  base: string | null;
  parents: string[];
}

/** The parents in breed order: the base first when the operator takes one. */
export function breedOrder(f: Pick<LmBreedForm, 'operator' | 'base' | 'parents'>): string[] {
  const op = getOperator(f.operator);
  return op.needsBase ? [f.base!, ...f.parents.filter((p) => p !== f.base)] : f.parents;
}

/** Why a breed form cannot run, or null. */
export function breedProblem(f: LmBreedForm): string | null {
  const op = getOperator(f.operator);
  if (op.needsBase && !f.base) return `${op.name} needs a base`;
  const n = breedOrder(f).length - (op.needsBase ? 1 : 0);
  if (n < op.parents.min || n > op.parents.max)
    return `${op.name} takes ${op.parents.min === op.parents.max ? op.parents.min : `${op.parents.min} to ${op.parents.max}`} parent${op.parents.max === 1 ? '' : 's'}${op.needsBase ? ' besides the base' : ''}; ${n} chosen`;
  const species = new Set(breedOrder(f).map((id) => entry(id).species));
  if (species.size > 1) return 'the chosen models are of different species (names, shapes, dtypes, config and tokenizer must agree)';
  return null;
}

/**
 * Breed in the text worker from the LM store into it, chunk by chunk (breedStored), with progress
 * and Cancel; the candidate's header is checked as any .slm is read (its species against its
 * tensors, config and tokenizer) and the candidate listed with its documents, or its tensors dropped.
 */
export async function breedLm(f: LmBreedForm): Promise<TextModelEntry | null> {
  const problem = breedProblem(f);
  if (problem) {
    set({ notice: `Not bred: ${problem}.` });
    return null;
  }
  const op = getOperator(f.operator);
  if (!streamsFromStore(op.id)) {
    set({ notice: `Not bred: ${op.name} does not breed from the store chunk by chunk.` });
    return null;
  }
  const ids = breedOrder(f);
  if (!startTask('breed', 1, 'reading the parents')) return null;
  const db = LM_FAMILY.databases.models;
  let unlisted: string[] = [];
  try {
    const onProgress = (p: BreedProgress) =>
      progress({ done: p.bytesDone, total: p.bytesTotal, label: `tensor ${p.tensor} of ${p.tensors}: ${p.name}` });
    const parents = ids.map((id) => {
      const m = entry(id);
      return { id, species: m.species, graphHash: m.graphHash, metadata: m.metadata };
    });
    const r = await textWorker().breedStored(db, { operator: op.id, params: f.params, seed: f.seed, parents }, Comlink.proxy(onProgress));
    unlisted = r.tensors.map((t) => t.hash);
    const c = r.candidate;
    progress({ label: 'checking and storing the candidate' });
    // Read as importSlm reads the file's header (its garden keys set aside), the tensors left in the store.
    const info = checkSlmMetadata(c.metadata);
    const model: ImportedModel = {
      format: 'slm',
      tensors: r.tensors
        .map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      read: () => Promise.reject(new Error('the candidate is in the store, not in memory')),
      graph: null,
      graphHash: info.graph ?? '',
      vocabulary: info.vocabulary ?? [],
      metadata: Object.fromEntries(Object.entries(c.metadata).filter(([k]) => !k.startsWith('slm.'))),
      species: c.species,
    };
    const lm = causalLmFromModel(model);
    const number = models().filter((m) => m.lineage).length + 1;
    const name = `${candidateName(number, op, r.result.params, f.seed)} · ${ids.map(nameOf).join(' + ')}`;
    const result: BreedResult = { ...r.result, tensors: [] };
    const backend = r.result.backend.adapter;
    const records = recordBreed({
      result,
      file: c,
      parents: r.parentHashes,
      requested: f.params as never,
    });
    const stored = await storeTextModel(
      { summary: summarize(lm, name, []), refused: null, lm },
      {
        operator: r.result.operator,
        params: r.result.params,
        seed: f.seed,
        parents: ids,
        parentHashes: r.parentHashes,
        hash: c.hash,
        lineageKey: c.lineageKey,
        receipt: manifestHash(records.receipt),
        breedMs: r.result.ms,
        backend,
      },
      records.manifests,
      r.tensors,
    );
    unlisted = [];
    await refreshTextModels();
    set({
      notice: `Bred ${stored.name}: candidate ${c.hash.slice(0, 12)}…, ${r.result.stats.length} tensors in ${(r.result.ms / 1000).toFixed(1)} s.`,
    });
    return stored;
  } catch (e) {
    const msg = (e as Error).message;
    // The candidate's tensors no model lists go (the worker already dropped them on its own failure or a Cancel).
    if (unlisted.length)
      await textWorker()
        .discardStored(db, unlisted)
        .catch(() => undefined);
    set({ notice: /cancelled/.test(msg) ? 'Breed cancelled: nothing was stored.' : `Breed failed: ${msg}. Nothing was stored.` });
    return null;
  } finally {
    set({ task: null });
  }
}

export function cancelLmWork(): void {
  if (get().task) void textWorker().cancelWork();
}

/** The .slm hash that names a model in lineage and evidence: a candidate's file hash, else its one-shard import's. */
async function modelHash(m: TextModelEntry): Promise<string> {
  if (m.lineage) return m.lineage.hash;
  await ensureHeld(m);
  return textWorker().slmHash(m.id);
}

function scored(m: TextModelEntry): Scored {
  const s = get().scores[m.id] ?? {};
  return {
    id: m.id,
    metrics: Object.fromEntries(Object.entries(s).map(([n, v]) => [n, { perplexity: v.perplexity, bitsPerByte: v.bitsPerByte }])),
    bytes: m.bytes,
    ...(m.lineage ? { breedMs: m.lineage.breedMs } : {}),
  };
}

/** The models a candidate is judged against: its parents and the slot's champion. */
function baselinesOf(c: TextModelEntry): string[] {
  const champ = release.slots().includes(lmSlot) ? release.current(lmSlot).champion : null;
  return [...new Set([...(c.lineage?.parents ?? []), ...(champ && champ !== c.id ? [champ] : [])])];
}

/** Score the candidate (with its runtime smoke), its parents and the champion on every pinned suite, then judge it. */
export async function evaluateLm(id: string): Promise<void> {
  const cand = entry(id);
  const pinned = Object.keys(policy.current().suites);
  const todo = [cand, ...baselinesOf(cand).map(entry)].filter((m) => m.id === cand.id || pinned.some((n) => !get().scores[m.id]?.[n]));
  if (!startTask('evaluate', todo.length * 1000 + 1, `runtime smoke of ${cand.name}`)) return;
  // A new run replaces the last verdict: none stands until this one ends.
  const { [cand.id]: _old, ...verdicts } = get().verdicts;
  set({ verdicts });
  try {
    await ensureHeld(cand);
    const smoke = await textWorker().smoke(cand.id, SMOKE_STEPS);
    const reasons = [
      ...(smoke.finite ? [] : [`${smoke.nonFinite} non-finite logits`]),
      ...(smoke.eosReachable ? [] : ['no end-of-sequence token is reachable']),
      ...(smoke.lengthLimitHonoured ? [] : ['the length limit was not honoured']),
    ];
    const smokeManifest: RuntimeSmoke = makeManifest('runtime-smoke', {
      candidate: await modelHash(cand),
      runtime: 'onnxruntime-web (wasm), the decoder generated from config.json',
      probes: SMOKE_STEPS,
      outputShape: [cand.vocab],
      finite: smoke.finite,
      passed: smoke.passed,
      reasons,
    });
    // Kept in the evaluation zone before it is shown: what admission reads after a reload.
    await putEvidence(evaluation, cand.id, [smokeManifest]);
    set({ smoke: { ...get().smoke, [cand.id]: smokeOf(smokeManifest)! } });
    for (const [i, m] of todo.entries()) {
      await ensureHeld(m);
      const hash = await modelHash(m);
      const onProgress = (p: LmWorkProgress) =>
        progress({ done: 1 + (i + p.done / Math.max(1, p.total)) * 1000, label: `${m.name} on ${p.label}` });
      const texts = PARTS.map((id) => ({ name: id, text: partTexts[id].text }));
      const r = await textWorker().perplexity(m.id, texts, Math.min(WINDOW, m.maxPositions), Comlink.proxy(onProgress));
      const pins = scorePins();
      const mine: Record<string, LmScore> = {};
      const sidecars: EvaluationSidecar[] = [];
      const sum = (ids: string[]) => {
        const nll = ids.reduce((a, id) => a + r[id].nll, 0);
        const tokens = ids.reduce((a, id) => a + r[id].tokens, 0);
        const bytes = ids.reduce((a, id) => a + r[id].bytes, 0);
        const ms = ids.reduce((a, id) => a + r[id].ms, 0);
        return { nll, tokens, bytes, ms, perplexity: Math.exp(nll / tokens), bitsPerByte: nll / Math.LN2 / bytes };
      };
      for (const [name, ids] of [...PARTS.map((id) => [id, [id]] as const), ...Object.entries(SUITE_PARTS)]) {
        const p = sum([...ids]);
        const sidecar: EvaluationSidecar = makeManifest('evaluation-sidecar', {
          ...bindSidecar({
            candidate: hash,
            suite: pins[name],
            evaluator: { ...EVALUATOR },
            metrics: { perplexity: p.perplexity, bitsPerByte: p.bitsPerByte, nll: p.nll, tokens: p.tokens, bytes: p.bytes, ms: p.ms },
          }),
          count: p.tokens,
        });
        sidecars.push(sidecar);
        const [, score] = scoreOf(sidecar, pins)!;
        mine[name] = score;
      }
      await putEvidence(evaluation, m.id, sidecars);
      set({ scores: { ...get().scores, [m.id]: { ...get().scores[m.id], ...mine } } });
    }
    judge(cand);
  } catch (e) {
    const msg = (e as Error).message;
    set({ notice: /cancelled/.test(msg) ? 'Evaluation cancelled: no verdict was given.' : `Evaluation failed: ${msg}` });
  } finally {
    set({ task: null });
  }
}

/** The viability verdict against the slot's champion (when there is one) and the no-op baseline (the best parent unchanged). */
function judge(cand: TextModelEntry): ViabilityVerdict {
  const reg = release.slots().includes(lmSlot) ? release.current(lmSlot) : null;
  const champion = reg?.champion && reg.champion !== cand.id ? scored(entry(reg.champion)) : null;
  const noop = noopBaseline(
    (cand.lineage?.parents ?? []).map((p) => scored(entry(p))),
    policy.current(),
  );
  const v = viability(scored(cand), { champion, noop }, policy.current());
  set({ verdicts: { ...get().verdicts, [cand.id]: v } });
  return v;
}

/** After a reload: the verdict again from the kept scores, when the candidate and its baselines all have them. */
export function judgeIfScored(id: string): void {
  if (get().phase !== 'ready' || get().verdicts[id] || get().task) return;
  const cand = models().find((m) => m.id === id);
  if (!cand?.lineage || baselinesOf(cand).some((b) => !models().some((m) => m.id === b))) return;
  const pinned = Object.keys(policy.current().suites);
  if ([cand, ...baselinesOf(cand).map(entry)].every((m) => pinned.every((n) => get().scores[m.id]?.[n]))) judge(cand);
}

/** Admit an evaluated, viable candidate through the gates and put it in shadow beside the champion. */
export async function admitLm(id: string): Promise<void> {
  const cand = entry(id);
  if (get().task) return;
  try {
    if (!cand.lineage) throw new Error('only a bred candidate is admitted (an imported model has no lineage)');
    if (cand.vocab !== LM_VERB.gives.length)
      throw new Error(`its vocabulary has ${cand.vocab} tokens; the slot contract (lm.contract) gives ${LM_VERB.gives.length} logits`);
    if (!release.slots().includes(lmSlot)) {
      const base = cand.lineage.parents[0];
      await release.createSlot(
        lmSlot,
        registryContract(LM_VERB),
        base,
        [],
        `${nameOf(base)} (the candidate's first parent) answers the ${lmSlot} slot`,
      );
    }
    const pinned = Object.keys(policy.current().suites);
    const missing = [cand, ...baselinesOf(cand).map(entry)].filter((m) => pinned.some((n) => !get().scores[m.id]?.[n]));
    if (missing.length) throw new Error(`evaluate first: ${missing.map((m) => m.name).join(', ')} not scored on every pinned suite`);
    const verdict = judge(cand);
    const smoke = get().smoke[cand.id];
    if (!smoke) throw new Error('run the evaluation first (it includes the runtime smoke)');
    // The smoke and the breed's documents as the zones keep them, each checked against the candidate.
    const smokeManifest = (await evidenceFor(evaluation, cand.id)).find(
      (m): m is RuntimeSmoke => m.kind === 'runtime-smoke' && manifestHash(m) === smoke.hash,
    );
    if (!smokeManifest || smokeManifest.candidate !== cand.lineage.hash)
      throw new Error('the runtime smoke is not in the evaluation zone for this candidate file: evaluate it again');
    await checkBreedDocuments(cand);
    if (!verdict.viable || !smoke.passed) {
      set({ notice: `Not admitted: ${[...verdict.reasons, ...smoke.reasons].join('; ')}` });
      sync();
      return;
    }
    const sidecars = Object.fromEntries(pinned.map((n) => [n, get().scores[cand.id][n].sidecar]));
    const { template, admission } = admissionDocuments(
      {
        candidate: cand.lineage.hash,
        slot: lmSlot,
        operator: cand.lineage.operator.id,
        policy: policy.current(),
        smoke: smokeManifest,
        sidecars,
        viability: verdict,
      },
      { admittedAt: new Date().toISOString(), reasons: verdict.checks.map((c) => c.text) },
    );
    await admitToShadow(
      { ledger, release },
      {
        slot: lmSlot,
        model: cand.id,
        candidate: cand.lineage.hash,
        admission,
        promotionTemplate: template,
        policyHash: policy.hash,
        reason: `${cand.name} admitted; runs in shadow beside the champion`,
      },
    );
    set({ notice: `${cand.name} is admitted to the ${lmSlot} slot, in shadow beside ${nameOf(release.current(lmSlot).champion ?? '')}.` });
  } catch (e) {
    set({ notice: `Admission failed: ${(e as Error).message.replace(/\.$/, '')}. Nothing was admitted.` });
  } finally {
    sync();
  }
}

/**
 * The breed's documents stored with a candidate (lineage template, operator receipt, candidate
 * manifest), checked against its lineage: the receipt it names, the file hash and the chain
 * candidate manifest → receipt → lineage template. Throws naming the first that is missing or differs.
 */
export async function checkBreedDocuments(cand: TextModelEntry): Promise<{ lineage: string; receipt: string; candidate: string }> {
  const l = cand.lineage;
  if (!l) throw new Error(`${cand.name} is no bred candidate: it has no breed documents`);
  const stored = await (await textStore()).matchModel(cand.id);
  const docs = await Promise.all((stored?.manifests ?? []).map(async (h) => (await (await textStore()).matchManifest(h)) as Manifest));
  const byKind = (k: string) => docs.find((d) => d?.kind === k);
  const receipt = byKind('operator-receipt');
  const candidate = byKind('candidate-manifest');
  const lineage = byKind('lineage-template');
  if (!receipt || !candidate || !lineage)
    throw new Error(`${cand.name}'s breed documents are not stored with it (bred before the lab kept them): breed it again`);
  if (manifestHash(receipt) !== l.receipt) throw new Error(`the stored operator receipt is not the one ${cand.name}'s lineage names`);
  if (candidate.kind !== 'candidate-manifest' || candidate.candidate !== l.hash || candidate.receipt !== l.receipt)
    throw new Error(`the stored candidate manifest does not name ${cand.name}'s file ${l.hash.slice(0, 12)}… and its receipt`);
  if (candidate.lineage !== manifestHash(lineage)) throw new Error('the stored candidate manifest names another lineage template');
  return { lineage: manifestHash(lineage), receipt: manifestHash(receipt), candidate: manifestHash(candidate) };
}

/** Why "Make champion" cannot act now, or null. */
export function championBlocker(): string | null {
  if (get().phase !== 'ready' || !release.slots().includes(lmSlot)) return 'admit a candidate first';
  const reg = release.current(lmSlot);
  const m = reg.canary?.model ?? reg.shadow;
  if (!m) return 'needs a candidate in shadow or canary';
  const v = get().verdicts[m];
  if (!v) return 'evaluate it first';
  const stages = checkStages(ledger.entries(), lmSlot, m, LM_RISK, 'champion', 0);
  if (!stages.allowed)
    return `the slot is ${LM_RISK} blast radius (${stages.required.join(' → ')} before champion): ${stages.reasons.join('; ')}`;
  const check = evidencePromotionCheck(v, router.stats(lmSlot)[m], router.promotionCheck(lmSlot, m));
  return check.eligible ? null : check.reason;
}

export async function lmReleaseStep(step: 'canary' | 'champion' | 'rollback', share = 1): Promise<void> {
  try {
    const reg = release.current(lmSlot);
    if (step === 'canary') {
      const m = reg.shadow ?? reg.canary?.model;
      if (!m) throw new Error('there is no shadow to promote');
      await guarded.toCanary(lmSlot, share, `${nameOf(m)} answers ${Math.round(share * 100)} % of prompts`, m);
    } else if (step === 'champion') {
      const m = reg.canary?.model ?? reg.shadow;
      if (!m) throw new Error('there is no canary or shadow to promote');
      const v = get().verdicts[m] ?? judge(entry(m));
      const check = evidencePromotionCheck(v, router.stats(lmSlot)[m], router.promotionCheck(lmSlot, m));
      await guarded.toChampion(lmSlot, check, `${nameOf(m)} becomes the ${lmSlot} slot's champion`, m);
    } else await release.rollback(lmSlot, 'rolled back by the user');
  } catch (e) {
    set({ notice: `Release step failed: ${(e as Error).message.replace(/\.$/, '')}. The registry is unchanged.` });
  } finally {
    sync();
  }
}

/** The router's call: the model's next-token logits after the routed ids (the −1 padding dropped). */
async function invoke(modelId: string, input: Float32Array): Promise<Float32Array> {
  const m = entry(modelId);
  await ensureHeld(m);
  const ids = Array.from(input).filter((v) => v >= 0);
  return textWorker().nextLogits(m.id, ids);
}

/**
 * Route a prompt through the LM slot's selector: the model it picks (canary, champion or a
 * fallback) answers, and its continuation streams into the playground's output, which names it.
 */
export async function routeLm(prompt: string, maxNew: number): Promise<void> {
  if (!release.slots().includes(lmSlot)) {
    set({ notice: `The ${lmSlot} slot has no models yet: admit a candidate first.` });
    return;
  }
  const reg = release.current(lmSlot);
  const first = reg.canary?.model ?? reg.champion;
  if (!first) {
    set({ notice: `The ${lmSlot} slot has no champion or canary to answer.` });
    return;
  }
  const t0 = performance.now();
  try {
    await ensureHeld(entry(first));
    const ids = await textWorker().encodeWith(first, prompt);
    const input = new Float32Array(ROUTE_CONTEXT).fill(-1);
    const tail = ids.slice(-ROUTE_CONTEXT);
    input.set(tail, ROUTE_CONTEXT - tail.length);
    const r: RouteResult = await router.route(lmSlot, crypto.randomUUID(), input);
    set({
      route: {
        prompt,
        answeredBy: r.answeredBy,
        answeredName: nameOf(r.answeredBy),
        canary: r.canary,
        fellBack: r.attempts.filter((a) => !a.ok).map((a) => `${nameOf(a.model)} (${a.failure})`),
        shadow: null,
        ms: performance.now() - t0,
      },
    });
    void r.shadow?.then((s) => {
      const cur = get().route;
      if (s && cur) set({ route: { ...cur, shadow: { model: nameOf(s.model), agreed: s.agreed } } });
      sync();
    });
    await runText(entry(r.answeredBy), { prompt: { text: prompt }, maxNew, greedy: true });
  } catch (e) {
    set({ notice: `No model in the ${lmSlot} slot could answer: ${(e as Error).message}` });
  } finally {
    sync();
  }
}

/** Export a stored model as a Hugging Face folder (its tensors read from the store chunk by chunk; files offered for download), then import the files again and compare every tensor's hash. */
export async function exportLm(id: string, maxShardBytes: number): Promise<HfExportedFile[] | null> {
  const m = entry(id);
  if (!startTask('export', 2, `writing ${m.name} as a Hugging Face folder`)) return null;
  const old = get().exported;
  for (const f of old?.files ?? []) URL.revokeObjectURL(f.url);
  set({ exported: null });
  try {
    const s = get().scores[m.id] ?? {};
    const stored = { id: m.id, species: m.species, graphHash: m.graphHash, metadata: m.metadata };
    const files = await textWorker().exportHf(LM_FAMILY.databases.models, stored, {
      maxShardBytes,
      name: m.name,
      baseModels: m.lineage?.parentHashes ?? [],
      scores: Object.entries(s).map(
        ([n, v]) => `perplexity on ${n}: ${v.perplexity.toFixed(2)} (${v.tokens} tokens, ${v.bitsPerByte.toFixed(3)} bits per byte)`,
      ),
    });
    const exported: LmExport = {
      model: m.id,
      files: files.map((f) => ({
        name: f.name,
        bytes: f.bytes.length,
        sha256: f.sha256,
        url: URL.createObjectURL(
          new Blob([f.bytes as BlobPart], { type: f.name.endsWith('.md') ? 'text/markdown' : 'application/octet-stream' }),
        ),
      })),
      readBack: null,
    };
    set({ exported });
    progress({ done: 1, label: 'reading the exported files back' });
    set({ exported: { ...exported, readBack: await readBack(m, files) } });
    return files;
  } catch (e) {
    set({ notice: `Export failed: ${(e as Error).message}` });
    return null;
  } finally {
    set({ task: null });
  }
}

/** The exported bytes imported again (the core's importer, every check): the same species and every tensor's SHA-256. */
async function readBack(m: TextModelEntry, files: HfExportedFile[]): Promise<{ ok: boolean; text: string }> {
  try {
    const lm = await importHfFolder(folderOfFiles(files.map((f) => new File([f.bytes as BlobPart], f.name))));
    const stored = await (await textStore()).loadModel(m.id);
    const mine = new Map(stored.map((t) => [t.name, sha256Hex(t.data)]));
    const back = await tensorHashes(lm.model);
    const differ = [...mine].find(([n, h]) => back.get(n) !== h);
    if (back.size !== mine.size) return { ok: false, text: `read back ${back.size} tensors, the model has ${mine.size}` };
    if (differ) return { ok: false, text: `tensor ${differ[0]} differs after the round trip` };
    if (lm.model.species !== m.species)
      return { ok: false, text: `read back as species ${lm.model.species.slice(0, 12)}…, not ${m.species.slice(0, 12)}…` };
    return { ok: true, text: `read back: ${back.size} tensors, every SHA-256 identical; species ${m.species.slice(0, 12)}… kept` };
  } catch (e) {
    return { ok: false, text: `the exported folder does not import: ${(e as Error).message}` };
  }
}

/** Where the File System Access API is present: write the exported files into a folder the user picks. */
export async function saveExportToFolder(files: { name: string; url: string }[]): Promise<void> {
  const pick = (window as unknown as { showDirectoryPicker?: (o?: unknown) => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
  if (!pick) return;
  try {
    const dir = await pick({ mode: 'readwrite' });
    for (const f of files) {
      const h = await dir.getFileHandle(f.name, { create: true });
      const w = await (
        h as unknown as { createWritable(): Promise<WritableStream & { write(b: Blob): Promise<void>; close(): Promise<void> }> }
      ).createWritable();
      await w.write(await (await fetch(f.url)).blob());
      await w.close();
    }
    const cur = get().exported;
    if (cur) set({ exported: { ...cur, savedTo: dir.name } });
  } catch (e) {
    if ((e as Error).name !== 'AbortError') set({ notice: `Could not save into the folder: ${(e as Error).message}` });
  }
}
