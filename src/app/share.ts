/**
 * Sharing by file in the app (docs/SHARING.md), on the core's bundles (src/core/share): the same
 * format, signature and checks as `garden bundle` / `garden verify`.
 *
 *   - The signing key: one ECDSA P-256 pair whose private half is a non-extractable CryptoKey,
 *     kept in IndexedDB (`<garden>-share`, apart from the ledger's keyring; a garden reset deletes it), named by the user;
 *     its public JWK is exported as a file (what `garden verify --trust` and another garden take).
 *   - Trusted keys: the public JWKs the user keeps, each with a name, by key id.
 *   - Export: a candidate's documents (lineage template, operator receipt, candidate manifest,
 *     compatibility report, evaluation sidecars), optionally its `.slm`, signed into one bundle.
 *   - Import: `openBundle` (signature by a trusted key, every hash, the documents' references),
 *     then the breed again from the lineage on the app's breed path (the kernel worker, as a breed
 *     in panel 2 runs) with the parents found by hash in the pool, and the core's verdict. Only a
 *     reproduced candidate is stored, in one transaction with the bundle's documents; a refusal
 *     writes nothing. An import never writes the ledger or the selector registry: the candidate
 *     enters as a plain candidate and is evaluated and admitted here like any other.
 */
import * as Comlink from 'comlink';
import { openDB } from 'idb';
import { useGarden, type ModelEntry } from './state.ts';
import { labHandles } from './garden.ts';
import { readModelFile } from './export-progress.ts';
import { kernelWorker } from './workers.ts';
import { gardenDatabases } from './repo.ts';
import { candidateName } from './naming.ts';
import { cancelBreedWait, withBreedLock } from './breed-guard.ts';
import { readSlm, type SlmFile } from '../core/format/slm.ts';
import { manifestHash, validateManifest, type Manifest } from '../core/manifest/index.ts';
import type { CandidateManifest, EvaluationSidecar, LineageTemplate } from '../core/manifest/kinds.ts';
import { parseStrictJson } from '../core/manifest/strict-json.ts';
import { candidateSlm } from '../core/operators/candidate.ts';
import { getOperator } from '../core/operators/registry.ts';
import type { BreedProgress } from '../core/operators/breed.ts';
import { isAllowed } from '../core/lab/policy.ts';
import { makeBundle, openBundle, reproductionPlan, reproductionVerdict, type OpenedBundle } from '../core/share/bundle.ts';
import { checkJwk, checkSealedKey, generateSealedKey, publicJwk, type PublicJwk, type SealedKey } from '../core/share/dsse.ts';

const get = useGarden.getState;
const set = useGarden.setState;

/** The largest bundle file the app reads (a bundle with the model is its .slm in base64 and the documents). */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

export interface SigningKeyInfo {
  name: string;
  public: PublicJwk;
}
export interface TrustedKey {
  name: string;
  jwk: PublicJwk;
  addedAt: string;
}

interface StoredKey {
  name: string;
  key: SealedKey;
}

function shareDb() {
  return openDB(gardenDatabases().share, 1, {
    upgrade(d) {
      d.createObjectStore('key');
      d.createObjectStore('trusted');
    },
    blocking: (_cur, _next, e) => (e.target as IDBDatabase).close(),
  });
}

async function withShareDb<T>(fn: (db: Awaited<ReturnType<typeof shareDb>>) => Promise<T>): Promise<T> {
  const db = await shareDb();
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}

/** This garden's signing key, made (non-extractable) on first use. */
async function storedKey(): Promise<StoredKey> {
  return withShareDb(async (db) => {
    const held = (await db.get('key', 'signing')) as StoredKey | undefined;
    if (held) return { name: String(held.name), key: checkSealedKey(held.key) };
    const made: StoredKey = { name: 'my garden key', key: await generateSealedKey() };
    // add, never put: two tabs making a key at once keep the first one's.
    try {
      await db.add('key', made, 'signing');
      return made;
    } catch {
      const first = (await db.get('key', 'signing')) as StoredKey;
      return { name: first.name, key: checkSealedKey(first.key) };
    }
  });
}

export async function signingKey(): Promise<SigningKeyInfo> {
  const k = await storedKey();
  return { name: k.name, public: k.key.public };
}

/** A key's name as the user gave it: trimmed, one line, at most 80 characters; refused when empty. */
function keyName(name: string): string {
  const n = name.replace(/[\p{Cc}\p{Cf}]/gu, ' ').trim();
  if (!n) throw new Error('give the key a name');
  return n.slice(0, 80);
}

export async function renameSigningKey(name: string): Promise<SigningKeyInfo> {
  const k = await storedKey();
  const renamed = { ...k, name: keyName(name) };
  await withShareDb((db) => db.put('key', renamed, 'signing'));
  return { name: renamed.name, public: renamed.key.public };
}

const fileStem = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'key';

/** The public JWK as a file: what another garden trusts, and what `garden verify --trust` reads. */
export async function publicKeyFile(): Promise<{ name: string; bytes: Uint8Array }> {
  const k = await signingKey();
  return { name: `${fileStem(k.name)}.pub.jwk`, bytes: new TextEncoder().encode(`${JSON.stringify(publicJwk(k.public), null, 2)}\n`) };
}

export async function trustedKeys(): Promise<TrustedKey[]> {
  return withShareDb(async (db) => {
    const all = (await db.getAll('trusted')) as TrustedKey[];
    return all.map((t) => ({ ...t, jwk: checkJwk(t.jwk, 'public') })).sort((a, b) => a.addedAt.localeCompare(b.addedAt));
  });
}

/** Trust a public JWK (pasted or read from a file), by name; a text that is not one is refused with the reason. */
export async function trustKey(name: string, text: string): Promise<TrustedKey> {
  let jwk: PublicJwk;
  try {
    jwk = checkJwk(parseStrictJson(text, 'key'), 'public');
  } catch (e) {
    throw new Error(`not a public key: ${(e as Error).message}`);
  }
  const t: TrustedKey = { name: keyName(name), jwk, addedAt: new Date().toISOString() };
  await withShareDb((db) => db.put('trusted', t, jwk.kid));
  return t;
}

export async function untrustKey(kid: string): Promise<void> {
  await withShareDb((db) => db.delete('trusted', kid));
}

/* ------------------------------------------------------------------ export */

/** The candidate's own documents, as one consistent set: its manifest, the lineage and receipt it names, the compatibility report the lineage binds, its sidecars. */
async function candidateDocuments(m: ModelEntry): Promise<Manifest[]> {
  const { repo } = labHandles();
  const stored = (await repo.manifestsOf(m.id)).map((x) => validateManifest(x));
  const byHash = new Map(stored.map((d) => [manifestHash(d), d]));
  const cm = stored.find((d): d is CandidateManifest => d.kind === 'candidate-manifest' && d.candidate === m.hash);
  if (!cm) throw new Error(`${m.name} has no candidate manifest: only a bred candidate can be bundled`);
  const lineage = byHash.get(cm.lineage) as LineageTemplate | undefined;
  const receipt = byHash.get(cm.receipt);
  if (!lineage || !receipt) throw new Error(`${m.name}'s lineage template or receipt is not stored with it`);
  const docs: Manifest[] = [lineage, receipt, cm];
  if (lineage.compatibilityReport) {
    const compat = byHash.get(lineage.compatibilityReport);
    if (!compat) throw new Error(`${m.name}'s compatibility report is not stored with it`);
    docs.unshift(compat);
  }
  // The last sidecar per suite: what the candidate's evaluation says now.
  const sidecars = new Map<string, EvaluationSidecar>();
  for (const e of await repo.evidenceFor(m.id)) if (e.kind === 'evaluation-sidecar' && e.candidate === m.hash) sidecars.set(e.suite, e);
  return [...docs, ...sidecars.values()];
}

/**
 * A signed bundle of a candidate, with its .slm when `withModel`, as a file to download. The .slm
 * is read from the store tensor by tensor (export-progress.ts): `onRead` hears its bytes so far,
 * and `stop` cancels before the next tensor (ExportCancelled).
 */
export async function exportBundle(
  modelId: string,
  withModel: boolean,
  onRead?: (done: number) => void,
  stop?: () => boolean,
): Promise<{ name: string; bytes: Uint8Array; kid: string }> {
  const { repo, modelById } = labHandles();
  const m = modelById(modelId);
  if (m.graphHash) throw new Error(`${m.name} is quantized: its own inference graph does not travel in a bundle yet`);
  const model = await readModelFile(repo, m, onRead, stop);
  const documents = await candidateDocuments(m);
  const { key } = await storedKey();
  const bundle = await makeBundle({ model, documents, withModel }, key);
  return { name: `${m.id}.bundle.json`, bytes: new TextEncoder().encode(`${JSON.stringify(bundle, null, 2)}\n`), kid: key.public.kid };
}

/* ------------------------------------------------------------------ import */

export type ImportVerdict =
  | { kind: 'refused'; reason: string }
  | {
      kind: 'verified';
      /** The trusted key's name and id. */
      signer: string;
      keyid: string;
      candidate: string;
      operator: string;
      subjects: number;
      carriesModel: boolean;
      /** "reproduced: identical hash", or "not reproduced: …". */
      verdict: string;
      reproduced: boolean;
      /** What became of the candidate in this garden. */
      stored: string;
    };

export interface ImportProgress {
  progress: BreedProgress | null;
  startedAt: number;
  /** Another tab of this garden is breeding: the reproduction waits for it (Cancel stops waiting). */
  waiting?: boolean;
}

let importing = false;
/** Set by Cancel: a breed that ends anyway (Cancel came before its first tensor, or after its last) is discarded. */
let cancelled = false;

class ReproductionCancelled extends Error {
  override name = 'BreedCancelled';
}

/** Stop a running reproduction (after the tensor in progress); nothing is stored. */
export function cancelReproduction(): void {
  cancelled = true;
  cancelBreedWait();
  void kernelWorker().cancel();
}

/** Read, verify and reproduce a bundle file; never throws on a bad bundle: the verdict says why. */
export async function importBundle(file: { name: string; size: number; text(): Promise<string> }, onProgress: (p: ImportProgress) => void) {
  if (importing) return null;
  importing = true;
  cancelled = false;
  try {
    return await importNow(file, onProgress);
  } catch (e) {
    const err = e as Error;
    return {
      kind: 'refused',
      reason: err.name === 'BreedCancelled' || err.name === 'AbortError' ? 'the reproduction was cancelled' : err.message,
    } as const;
  } finally {
    importing = false;
  }
}

async function importNow(
  file: { name: string; size: number; text(): Promise<string> },
  onProgress: (p: ImportProgress) => void,
): Promise<ImportVerdict> {
  const refused = (reason: string): ImportVerdict => ({ kind: 'refused', reason });
  if (file.size > MAX_BUNDLE_BYTES)
    return refused(`${file.name} is ${file.size} bytes, over the ${MAX_BUNDLE_BYTES}-byte ceiling for a bundle`);
  let json: unknown;
  try {
    json = parseStrictJson(await file.text(), 'bundle');
  } catch (e) {
    return refused(`${file.name} is not a bundle: ${(e as Error).message}`);
  }
  const trusted = await trustedKeys();
  const v = await openBundle(
    json,
    trusted.map((t) => t.jwk),
  );
  if (!v.ok) return refused(v.reason);
  const b = v.bundle;
  const signer = trusted.find((t) => t.jwk.kid === b.keyid)!.name;
  const lineage = b.documents.lineage;
  const base = {
    kind: 'verified' as const,
    signer,
    keyid: b.keyid,
    candidate: b.candidate,
    operator: `${lineage.operator.id}@${lineage.operator.version}`,
    subjects: b.statement.subject.length,
    carriesModel: !!b.model,
  };
  const { policy } = labHandles();
  if (!isAllowed(policy.current(), lineage.operator.id))
    return {
      ...base,
      verdict: `not reproduced: this garden's policy does not allow the operator "${lineage.operator.id}"`,
      reproduced: false,
      stored: 'nothing stored',
    };
  if (get().tasks.breed) return refused('a breed is running in this tab: import the bundle when it has finished');
  return withBreedLock(
    `reproducing ${file.name}`,
    () => onProgress({ progress: null, startedAt: performance.now(), waiting: true }),
    () => reproduceAndStore(b, base, file.name, onProgress),
  );
}

async function reproduceAndStore(
  b: OpenedBundle,
  base: Omit<Extract<ImportVerdict, { kind: 'verified' }>, 'verdict' | 'reproduced' | 'stored'>,
  fileName: string,
  onProgress: (p: ImportProgress) => void,
): Promise<ImportVerdict> {
  const { repo, family, graph } = labHandles();
  const lineage = b.documents.lineage;
  // The pool's models the lineage names (by hash), read from the store, whose reads check every tensor's content hash.
  const pool = get().models.filter((m) => lineage.parents.includes(m.hash));
  const parents: { entry: ModelEntry; slm: SlmFile }[] = [];
  for (const m of pool) {
    const tensors = await repo.getTensors(m.id);
    parents.push({ entry: m, slm: { hash: m.hash, species: m.species, tensors, metadata: m.metadata ?? {}, shard: 0, shards: 1 } });
  }
  const plan = reproductionPlan(
    b,
    parents.map((p) => p.slm),
  );
  if (!plan.ok) return { ...base, verdict: plan.verdict, reproduced: false, stored: 'nothing stored' };
  const startedAt = performance.now();
  onProgress({ progress: null, startedAt });
  const result = await kernelWorker().breed(
    plan.request,
    true,
    Comlink.proxy((p: BreedProgress) => onProgress({ progress: p, startedAt })),
  );
  // As a breed in panel 2 writes its candidate (garden.ts breedNow).
  const file = candidateSlm(
    result,
    plan.parents.map((p) => ({
      hash: p.hash,
      species: p.species,
      tensors: p.tensors,
      family: { graph, vocabulary: family.output.labels },
    })),
  );
  if (cancelled) throw new ReproductionCancelled('cancelled');
  const r = reproductionVerdict(b, result, file);
  if (!r.ok) return { ...base, verdict: r.verdict, reproduced: false, stored: 'nothing stored' };
  const held = get().models.find((m) => m.hash === file.hash);
  if (held) return { ...base, verdict: r.verdict, reproduced: true, stored: `already in the pool as ${held.name}: nothing stored again` };
  const op = getOperator(lineage.operator.id);
  const byHash = new Map(parents.map((p) => [p.entry.hash, p.entry]));
  const parentEntries = lineage.parents.map((h) => byHash.get(h)!);
  const slm = readSlm(file.bytes);
  const entry: ModelEntry = {
    id: `candidate-${file.hash.slice(0, 8)}`,
    name: candidateName(get().models.filter((m) => m.role === 'candidate').length + 1, op, result.params, lineage.seed),
    createdAt: new Date().toISOString(),
    role: 'candidate',
    family: family.id,
    hash: file.hash,
    species: file.species,
    bytes: file.bytes.length,
    description: `From the bundle ${fileName}, signed by ${base.signer} (${base.keyid}), reproduced here: ${op.name} of ${parentEntries.map((p) => p.name).join(', ')}, seed ${lineage.seed}`,
    parents: parentEntries.map((p) => p.id),
    operator: op.id,
    metadata: slm.metadata,
  };
  // The bundle's lineage, receipt, candidate manifest and compatibility report go with the
  // tensors, in one transaction. Its evaluation sidecars are the sender's evidence, not this
  // garden's: they are not written to the evaluation zone (evaluate the candidate here).
  const { lineage: l, receipt, candidate, compatibility } = b.documents;
  const put = await repo.putModel(entry, slm.tensors, graph, family.output.labels, [
    ...(compatibility ? [compatibility] : []),
    l,
    receipt,
    candidate,
  ]);
  set({ models: await repo.listModels(), candidateId: put.stored.id });
  return { ...base, verdict: r.verdict, reproduced: true, stored: `added to the pool as ${put.stored.name}` };
}
