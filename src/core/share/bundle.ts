/**
 * Signed bundles: a candidate's documents (lineage template, operator receipt, candidate manifest,
 * compatibility report, evaluation sidecars), optionally with its `.slm`, shaped as the OpenSSF
 * model-signing format: a DSSE envelope (dsse.ts) over an in-toto Statement v1 (intoto.ts) whose
 * subjects are the files by name and SHA-256. The lineage inside says how to reproduce the
 * candidate: operator@version, resolved parameters, seed and the parents' hashes (base first).
 *
 *   makeBundle   → the bundle, after checking the documents belong to the model's bytes;
 *   openBundle   → the signature, every hash, and the documents' cross-references, or the reason;
 *   reproduce    → breed again from the lineage with the parents found by hash: identical hash,
 *                  or the first tensor that differs.
 * Node-free, DOM-free: the app and the CLI (cli/commands/bundle.ts, verify.ts) call the same code.
 */
import { sha256Hex, type Sha256Hex } from '../hash.ts';
import { manifestHash, manifestJson, parseStrictJson, validateManifest } from '../manifest/index.ts';
import type {
  CandidateManifest,
  CompatibilityReport,
  EvaluationSidecar,
  LineageTemplate,
  Manifest,
  OperatorReceipt,
} from '../manifest/kinds.ts';
import { checkSlmMetadata, readSlm, type SlmFile } from '../format/slm.ts';
import { breed, type BreedRequest, type BreedResult } from '../operators/breed.ts';
import { cpuBackend, type KernelBackend } from '../operators/backend.ts';
import { candidateSlm, lineageKey } from '../operators/candidate.ts';
import { getOperator, OPERATORS } from '../operators/registry.ts';
import { TRAIN_OPERATOR } from '../train/trained.ts';
import {
  checkEnvelope,
  fromBase64,
  signEnvelope,
  toBase64,
  verifyEnvelope,
  type DsseEnvelope,
  type PrivateJwk,
  type PublicJwk,
  type SealedKey,
} from './dsse.ts';
import { checkStatement, makeStatement, PAYLOAD_TYPE, type Statement, type Subject } from './intoto.ts';

export const BUNDLE_FORMAT = 'slm-garden-bundle' as const;

export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  version: 1;
  envelope: DsseEnvelope;
  /** Subject name → the file's bytes, standard base64. The model only with `--with-model`. */
  files: Record<string, string>;
}

export class BundleError extends Error {
  override name = 'BundleError';
}
const refuse = (msg: string): never => {
  throw new BundleError(msg);
};

/** The documents a breed leaves (recordBreed's `manifests`), plus the candidate's sidecars. */
export type BundleDocument = CompatibilityReport | LineageTemplate | OperatorReceipt | CandidateManifest | EvaluationSidecar;
const BUNDLED_KINDS = Object.freeze([
  'compatibility-report',
  'lineage-template',
  'operator-receipt',
  'candidate-manifest',
  'evaluation-sidecar',
]);

const RELEASE_KINDS = Object.freeze(['selector-registry', 'admission-record', 'promotion-template', 'ledger-entry']);

export interface BundleInput {
  /** The candidate's file name in the bundle (e.g. its basename) and bytes. */
  model: { name: string; bytes: Uint8Array };
  documents: readonly Manifest[];
  withModel: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function docName(d: Manifest, taken: Set<string>): string {
  let name = `${d.kind}.json`;
  if (taken.has(name)) name = `${d.kind}-${manifestHash(d).slice(0, 12)}.json`;
  taken.add(name);
  return name;
}

interface Documents {
  lineage: LineageTemplate;
  receipt: OperatorReceipt;
  candidate: CandidateManifest;
  sidecars: EvaluationSidecar[];
  compatibility?: CompatibilityReport;
}

function one<K extends string>(docs: readonly Manifest[], kind: K): Manifest[] {
  return docs.filter((d) => d.kind === kind);
}

/** The documents' references to each other and to the model's hash; throws the first that fails. */
function crossCheck(docs: readonly Manifest[], modelHash: Sha256Hex): Documents {
  for (const d of docs) {
    // Release state is each garden's own, replayed from its own ledger: a bundle never carries it,
    // so an old registry version (or an admission, a ledger entry) cannot be replayed into another garden.
    if (RELEASE_KINDS.includes(d.kind))
      refuse(
        `a bundle carries no ${d.kind}: release state (registry versions, admissions, ledger entries) is never imported, so none can be replayed`,
      );
    if (!BUNDLED_KINDS.includes(d.kind)) refuse(`a ${d.kind} is not one of a candidate's documents (${BUNDLED_KINDS.join(', ')})`);
  }
  for (const k of ['lineage-template', 'operator-receipt', 'candidate-manifest', 'compatibility-report'])
    if (one(docs, k).length > 1) refuse(`more than one ${k}`);
  const [lineage] = one(docs, 'lineage-template') as LineageTemplate[];
  const [receipt] = one(docs, 'operator-receipt') as OperatorReceipt[];
  const [candidate] = one(docs, 'candidate-manifest') as CandidateManifest[];
  const [compatibility] = one(docs, 'compatibility-report') as CompatibilityReport[];
  if (!lineage || !receipt || !candidate) refuse('the lineage template, operator receipt and candidate manifest are all needed');
  if (candidate.candidate !== modelHash) refuse(`the candidate manifest is of ${candidate.candidate}, not of this model (${modelHash})`);
  if (candidate.lineage !== manifestHash(lineage)) refuse('the candidate manifest names another lineage template');
  if (candidate.receipt !== manifestHash(receipt)) refuse('the candidate manifest names another operator receipt');
  if (receipt.output !== modelHash) refuse(`the operator receipt's output is ${receipt.output}, not this model (${modelHash})`);
  if (receipt.lineage !== manifestHash(lineage)) refuse('the operator receipt names another lineage template');
  if (receipt.inputs.join() !== lineage.parents.join()) refuse("the operator receipt's inputs are not the lineage's parents");
  if (lineage.compatibilityReport !== undefined && (!compatibility || manifestHash(compatibility) !== lineage.compatibilityReport))
    refuse('the lineage binds a compatibility report the bundle does not carry');
  const sidecars = one(docs, 'evaluation-sidecar') as EvaluationSidecar[];
  for (const s of sidecars) if (s.candidate !== modelHash) refuse(`an evaluation sidecar is of ${s.candidate}, not of this model`);
  return { lineage, receipt, candidate, sidecars, compatibility };
}

/** The lineage key the candidate's `.slm` carries (metadata garden.lineage), from the lineage template. */
export function lineageKeyOf(l: LineageTemplate): Sha256Hex {
  return lineageKey(
    { operator: l.operator, params: l.params, seed: l.seed },
    l.parents.map((hash) => ({ hash })),
  );
}

function checkModelLineage(slm: SlmFile, l: LineageTemplate): void {
  const carried = slm.metadata['garden.lineage'];
  if (carried !== undefined && carried !== lineageKeyOf(l))
    refuse(`the model's lineage key ${carried} is not the lineage template's ${lineageKeyOf(l)}`);
}

/** Build and sign a bundle; refuses documents that do not belong to the model's bytes. */
export async function makeBundle(input: BundleInput, key: PrivateJwk | SealedKey): Promise<Bundle> {
  const modelHash = sha256Hex(input.model.bytes);
  const docs = crossCheck(input.documents, modelHash);
  checkModelLineage(readSlm(input.model.bytes), docs.lineage);
  const taken = new Set<string>([input.model.name]);
  const named = input.documents.map((d) => ({ name: docName(d, taken), bytes: enc.encode(manifestJson(d)) }));
  const subject: Subject[] = [
    { name: input.model.name, digest: { sha256: modelHash } },
    ...named.map((f) => ({ name: f.name, digest: { sha256: sha256Hex(f.bytes) } })),
  ];
  const lineageName = named[input.documents.indexOf(docs.lineage)].name;
  const statement = makeStatement(subject, {
    serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
    candidate: input.model.name,
    lineage: lineageName,
    withModel: input.withModel,
  });
  const envelope = await signEnvelope(PAYLOAD_TYPE, enc.encode(JSON.stringify(statement)), key);
  const files: Record<string, string> = {};
  if (input.withModel) files[input.model.name] = toBase64(input.model.bytes);
  for (const f of named) files[f.name] = toBase64(f.bytes);
  return { format: BUNDLE_FORMAT, version: 1, envelope, files };
}

export interface OpenedBundle {
  keyid: string;
  statement: Statement;
  documents: Documents;
  /** The candidate's hash as signed. */
  candidate: Sha256Hex;
  /** The model's bytes, when the bundle carries them (or the caller gave them). */
  model?: Uint8Array;
}

export type OpenVerdict = { ok: true; bundle: OpenedBundle } | { ok: false; reason: string };

/**
 * Check a bundle: its signature by a trusted key, every file against its signed digest, no file
 * unsigned, and the documents' references. `model` supplies the .slm when the bundle does not
 * carry it. Never throws on a bad bundle: the verdict says why.
 */
export async function openBundle(json: unknown, trusted: readonly PublicJwk[], model?: Uint8Array): Promise<OpenVerdict> {
  try {
    return { ok: true, bundle: await open(json, trusted, model) };
  } catch (e) {
    if (e instanceof BundleError) return { ok: false, reason: e.message };
    return { ok: false, reason: (e as Error).message };
  }
}

async function open(json: unknown, trusted: readonly PublicJwk[], given?: Uint8Array): Promise<OpenedBundle> {
  const b = json as Partial<Bundle> | null;
  if (!b || typeof b !== 'object' || b.format !== BUNDLE_FORMAT || b.version !== 1 || !b.files || typeof b.files !== 'object')
    refuse(`not a bundle (format "${BUNDLE_FORMAT}", version 1, envelope, files)`);
  const env = checkEnvelope((b as Bundle).envelope);
  if (env.payloadType !== PAYLOAD_TYPE) refuse(`the envelope's payloadType is ${JSON.stringify(env.payloadType)}, not ${PAYLOAD_TYPE}`);
  const v = await verifyEnvelope(env, trusted);
  if (!v.ok) return refuse(v.reason);
  let statement: Statement;
  try {
    statement = checkStatement(parseStrictJson(dec.decode(v.body), 'statement'));
  } catch (e) {
    return refuse(`the signed payload: ${(e as Error).message}`);
  }
  const digests = new Map(statement.subject.map((s) => [s.name, s.digest.sha256]));
  const files = (b as Bundle).files;
  const bytes = new Map<string, Uint8Array>();
  for (const [name, data] of Object.entries(files)) {
    const want = digests.get(name);
    if (want === undefined) refuse(`file ${name} is not among the signed subjects`);
    if (typeof data !== 'string') refuse(`file ${name} is not base64 text`);
    let raw: Uint8Array;
    try {
      raw = fromBase64(data);
    } catch (e) {
      return refuse(`file ${name} is ${(e as Error).message}`);
    }
    const got = sha256Hex(raw);
    if (got !== want) refuse(`file ${name} has sha256 ${got}, the signed statement says ${want}`);
    bytes.set(name, raw);
  }
  const { candidate: modelName, withModel } = statement.predicate;
  const candidateHash = digests.get(modelName) as Sha256Hex;
  if (withModel && !bytes.has(modelName)) refuse(`the model ${modelName} was signed as carried but is missing`);
  let model = bytes.get(modelName);
  if (!model && given) {
    const got = sha256Hex(given);
    if (got !== candidateHash) refuse(`the model given has sha256 ${got}, the signed statement says ${candidateHash}`);
    model = given;
  }
  const docs: Manifest[] = [];
  for (const s of statement.subject) {
    if (s.name === modelName) continue;
    const raw = bytes.get(s.name) ?? refuse(`the signed document ${s.name} is missing from the bundle`);
    try {
      docs.push(validateManifest(parseStrictJson(dec.decode(raw), s.name)));
    } catch (e) {
      return refuse(`document ${s.name}: ${(e as Error).message}`);
    }
  }
  const documents = crossCheck(docs, candidateHash);
  if (digests.get(statement.predicate.lineage) !== manifestHash(documents.lineage))
    refuse("the predicate's lineage is not the bundle's lineage template");
  if (model) checkModelLineage(readSlm(model), documents.lineage);
  return { keyid: v.keyid, statement, documents, candidate: candidateHash, ...(model ? { model } : {}) };
}

export type Reproduction = { ok: true; verdict: 'reproduced: identical hash'; hash: Sha256Hex } | { ok: false; verdict: string };

/** What a reproduction breeds: the request (parents base first, as the lineage lists them) and those parents. */
export type ReproductionPlan = { ok: true; request: BreedRequest; parents: SlmFile[] } | { ok: false; verdict: string };

/**
 * The breed that reproduces the candidate, with `parents` (any order; picked by hash, base first
 * as the lineage lists them), or why it cannot run: a parent missing, an operator version this
 * garden does not have.
 */
export function reproductionPlan(opened: OpenedBundle, parents: readonly SlmFile[]): ReproductionPlan {
  const { lineage } = opened.documents;
  const byHash = new Map(parents.map((p) => [p.hash, p]));
  const missing = lineage.parents.filter((h) => !byHash.has(h));
  if (missing.length) return { ok: false, verdict: `not reproduced: missing parent${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` };
  if (!(lineage.operator.id in OPERATORS))
    return {
      ok: false,
      verdict:
        lineage.operator.id === TRAIN_OPERATOR.id
          ? 'not reproduced: a trained candidate (lora-merge) is reproduced by its training run, whose data never leaves its garden; its hashes are verified'
          : `not reproduced: this garden has no operator "${lineage.operator.id}"`,
    };
  const op = getOperator(lineage.operator.id);
  if (op.version !== lineage.operator.version)
    return {
      ok: false,
      verdict: `not reproduced: the bundle's operator is ${lineage.operator.id}@${lineage.operator.version}, this garden has ${op.version}`,
    };
  const models = lineage.parents.map((h) => byHash.get(h) as SlmFile);
  return {
    ok: true,
    request: { operator: lineage.operator.id, params: lineage.params, seed: lineage.seed, parents: models.map((m) => m.tensors) },
    parents: models,
  };
}

/** The verdict on a breed's file against the signed candidate: identical hash, or the first tensor that differs. */
export function reproductionVerdict(opened: OpenedBundle, result: BreedResult, file: { hash: Sha256Hex }): Reproduction {
  if (file.hash === opened.candidate) return { ok: true, verdict: 'reproduced: identical hash', hash: file.hash };
  const signed = new Map(opened.documents.receipt.tensors.map((t) => [t.name, t.outputHash]));
  const first = result.stats.find((s) => signed.get(s.name) !== s.outputHash);
  const where = first ? `first differing tensor ${first.name}` : 'every tensor is identical: the file differs in its metadata';
  return { ok: false, verdict: `not reproduced: candidate hash ${file.hash}, the bundle's ${opened.candidate}; ${where}` };
}

/**
 * Breed the candidate again from its lineage with `parents` on `backend` (the CPU reference by
 * default, bit-identical to the CLI's fast CPU path), and compare the file's hash with the signed one.
 */
export async function reproduce(
  opened: OpenedBundle,
  parents: readonly SlmFile[],
  backend: KernelBackend = cpuBackend,
): Promise<Reproduction> {
  const plan = reproductionPlan(opened, parents);
  if (!plan.ok) return plan;
  const result = await breed(plan.request, backend);
  const file = candidateSlm(
    result,
    plan.parents.map((m) => ({ ...checkSlmMetadata(m.metadata), hash: m.hash, tensors: m.tensors, metadata: m.metadata })),
  );
  return reproductionVerdict(opened, result, file);
}
