/**
 * The app's actions: the walking path of a breeding round, from the parent pool to a routed
 * answer. Each action reads stores, hands plain data to a worker, and records what happened.
 * The kernel worker breeds inside the candidate zone's tensor store (it opens no other zone) or,
 * for operators that need whole tensors, gets tensors as data; the evaluator gets suite bytes checked against the
 * policy pin; policy, the selector registry and the ledger are the lab core's (src/core/lab).
 */
import * as Comlink from 'comlink';
import { useGarden, type Evidence, type LedgerLine, type ModelEntry, type Receipt, type Task } from './state.ts';
import { kernelWorker, evalWorker } from './workers.ts';
import { openRepo, type Repo } from './repo.ts';
import { readSlm } from '../core/format/slm.ts';
import { candidateSlm, type CandidateFile } from '../core/operators/candidate.ts';
import { whenShellCached } from './offline.ts';
import { familySpeciesOf } from '../core/models/quantized-graph.ts';
import { STATISTICS_FOR, getOperator, type OperatorId } from '../core/operators/registry.ts';
import type { BreedProgress, BreedRequest, BreedResult } from '../core/operators/breed.ts';
import { streamsFromStore } from '../store/stored-breed.ts';
import type { StoredTensorInput } from '../store/tensor-store.ts';
import type { Tensor } from '../core/tensor.ts';
import { sha256Hex } from '../core/hash.ts';
import { makeManifest, manifestHash, type Manifest, type ManifestOf, type Policy, type RuntimeSmoke } from '../core/manifest/index.ts';
import { PolicyZone, isAllowed, knownOperatorIds } from '../core/lab/policy.ts';
import { ReleaseController } from '../core/lab/release.ts';
import { SelectorRouter, type RouterStats } from '../core/lab/router.ts';
import { parseStrictJson } from '../core/manifest/strict-json.ts';
import { noopBaseline, viability, type Scored } from '../core/lab/viability.ts';
import { evidencePromotionCheck, type PromotionCheck } from '../core/lab/fitness.ts';
import { admitToShadow } from '../core/lab/admission.ts';
import { admissionDocuments, parentCompatibility, recordBreed } from '../core/lab/records.ts';
import { toImage28 } from '../core/image28.ts';
import type { EvaluationResult } from '../core/eval/types.ts';
import { sidecarBody, sidecarChecksumOk } from '../core/eval/sidecar.ts';
import { EVALUATOR_VERSION } from '../core/eval/evaluate.ts';
import { smokeReport } from '../core/eval/smoke.ts';
import type { ModelPayload } from '../../workers/eval.worker.ts';
import type { BreedCalibration } from '../../workers/kernel.worker.ts';
import type { DataInformedStat } from '../core/operators/data-informed.ts';
import { checkCatalog, type CatalogFamily } from '../core/models/catalog.ts';
import { compatibilityReport, type CompatReport } from '../core/compat.ts';
import { candidateName } from './naming.ts';
import { BREED_LOCK, breedWaiting, cancelBreedWait, cutOffBreed, deviceLostNote, withBreedLock } from './breed-guard.ts';
import { scanNonFinite, toSlm, type ImportedModel, type ImportOptions } from '../core/format/model.ts';
import { noteRequest, recordConvergence, recordImmediate, requireBenefit } from './lab.ts';
import { chosenFamily, familyPolicy } from './family.ts';
import { mailBody } from '../core/models/mail-import.ts';
import { mailFeatures } from '../core/models/mail-features.ts';
import { parseContract } from '../core/lab/contract.ts';
import { GuardedRelease, checkStages } from '../core/lab/blast-radius.ts';
import { promotionPaused } from '../core/lab/proposal.ts';
import { evidenceOf } from '../core/lab/temporal-fitness.ts';
import { concatBytes } from '../core/bytes.ts';

const set = useGarden.setState;
const get = useGarden.getState;

function task(t: Task, progress: { done: number; total: number; model?: string } | null): void {
  set((s) => {
    const tasks = { ...s.tasks };
    if (progress) tasks[t] = { ...progress, startedAt: s.tasks[t]?.startedAt ?? performance.now() };
    else delete tasks[t];
    return { tasks };
  });
}

type Family = CatalogFamily;

/** The family this page runs (the user's choice, family.ts): its slot, and the suites its policy pins. */
export const APP_FAMILY = chosenFamily();
export const SLOT = APP_FAMILY.slot;

let repo: Repo;
let family: Family;
let graph: Uint8Array;
let policy: PolicyZone;
let release: ReleaseController;
let router: SelectorRouter;
/** The release steps the user takes, behind the slot's blast-radius class (its contract's `risk`). */
let guarded: GuardedRelease;
const SLOT_VERB = parseContract(APP_FAMILY.contract.text, APP_FAMILY.contract.file).verbs[0];
const SLOT_RISK = SLOT_VERB.risk;

function initialPolicy(): Policy {
  // Every operator, and "lora-merge": a candidate trained here (train.ts) records that pseudo-operator.
  return familyPolicy(APP_FAMILY, family, knownOperatorIds());
}

let opening: Promise<void> | null = null;

/** Open the garden once per page (React may mount twice in development). */
export function initGarden(): Promise<void> {
  opening ??= openGarden();
  return opening;
}

async function openGarden(): Promise<void> {
  let models: ModelEntry[] = [];
  try {
    repo = await openRepo(APP_FAMILY.dbPrefix);
    // On a first visit the starter files and onnxruntime's wasm are read once the precache that
    // holds them controls the page: each crosses the wire once.
    await whenShellCached();
    const catalog = checkCatalog(await fetchJson('/starter/catalog.json'));
    const chosen = catalog.families.find((f) => f.id === APP_FAMILY.id);
    if (!chosen)
      throw new Error(`the starter catalog has no "${APP_FAMILY.id}" family; it has ${catalog.families.map((f) => f.id).join(', ')}`);
    family = chosen;
    graph = await fetchBytes(`/starter/${family.graph}`, family.graphHash);
    await seedStarter();
    policy = await PolicyZone.open(repo.ledger, initialPolicy());
    release = ReleaseController.open(repo.ledger);
    if (!release.slots().includes(SLOT)) {
      const base = family.models.find((m) => m.role === 'base')!;
      await release.createSlot(
        SLOT,
        { inputLength: family.input.shape[0], outputLength: family.output.labels.length, timeoutMs: 10_000, compare: 'argmax' },
        base.id,
        [],
        `the starter base answers the ${SLOT} slot`,
      );
    }
    router = openRouter();
    guarded = new GuardedRelease(repo.ledger, release, { classOf: () => SLOT_RISK, resilienceWindowMs: 0 });
    models = await repo.listModels();
    set({ models, phase: 'ready', policy: policy.current() });
    void cutOffBreed().then(async (cut) => {
      if (!cut) return;
      // A streamed breed cut off mid-write left tensors no model lists: swept before the user is told.
      await sweepCutOff().catch(() => undefined);
      set({ notice: `A breed (${cut}) was cut off when the page closed or reloaded: nothing of it was stored. Breed again.` });
    });
    syncLab();
    void kernelWorker()
      .probe()
      .then((backend) => set({ backend }));
    void refreshStorage();
    // Scores shown on open are recomputed and not persisted: only an explicit evaluation writes
    // the sidecars that an admission binds.
    for (const m of models)
      await evaluateModel(m, { persist: false }).catch((e) => set({ notice: `Could not evaluate ${m.name}: ${(e as Error).message}` }));
    await championImmediate().catch((e) => set({ notice: `Could not record the champion's runtime smoke: ${(e as Error).message}` }));
  } catch (e) {
    set({ phase: 'error', error: `The garden could not open: ${(e as Error).message}` });
    return;
  }
  // Only the candidates stored before this page opened: one bred while the pool was being scored
  // has this session's evidence, which the recorded summary must not replace.
  await restoreEvidence(models).catch((e) => set({ notice: `Could not restore the candidates' evidence: ${(e as Error).message}` }));
}

/**
 * Copy into the garden every starter model and policy suite it does not hold yet (by hash), so an
 * interrupted first run completes on the next open.
 */
async function seedStarter(): Promise<void> {
  const held = new Map((await repo.listModels()).map((m) => [m.id, m]));
  // A starter model whose stored bytes no longer hash to its tensors' hashes is restored from the starter garden.
  const restored: string[] = [];
  for (const m of family.models.filter((x) => held.get(x.id)?.hash === x.hash)) {
    const corrupt = await repo.getTensors(m.id).then(
      () => null,
      (e: Error) => e.message,
    );
    if (!corrupt) continue;
    await repo.deleteModel(m.id);
    held.delete(m.id);
    restored.push(`${m.name} (${corrupt})`);
  }
  if (restored.length)
    set({ notice: `Restored from the starter garden (the stored copy failed its content hashes): ${restored.join('; ')}.` });
  const changed = family.models.filter((x) => held.has(x.id) && held.get(x.id)!.hash !== x.hash);
  if (changed.length)
    set({
      notice: `This version of the app ships other starter weights for ${changed.map((m) => m.name).join(', ')}; the garden keeps the ones it holds.`,
    });
  for (const m of family.models.filter((x) => !held.has(x.id))) {
    const bytes = await fetchBytes(`/starter/${m.file}`, m.hash);
    const slm = readSlm(bytes);
    const source = makeManifest('source', {
      name: m.name,
      model: { hash: m.hash, format: 'slm', bytes: bytes.length },
      species: slm.species,
      license: APP_FAMILY.license,
      origin: { kind: 'starter', description: m.description },
      data: { description: APP_FAMILY.data },
    });
    const entry: ModelEntry = {
      id: m.id,
      name: m.name,
      role: m.role === 'base' ? 'base' : 'specialist',
      family: family.id,
      hash: m.hash,
      species: slm.species,
      bytes: bytes.length,
      description: m.description,
      metadata: slm.metadata,
    };
    await repo.putModel(entry, slm.tensors, graph, family.output.labels, [source]);
  }
  for (const id of APP_FAMILY.suites.map((x) => x.suite)) {
    const s = family.suites.find((x) => x.id === id);
    if (!s) throw new Error(`the starter catalog has no suite "${id}"`);
    if (!(await repo.hasSuite(s.hash))) await repo.putSuite(await fetchBytes(`/starter/${s.file}`, s.hash));
  }
}

/** What the lab panels (src/app/lab.ts) act on: the garden's stores and controllers, once open. */
export function labHandles() {
  return { repo, family, graph, policy, release, router, modelById, syncLab, scored, verb: SLOT_VERB, invoke };
}

/** Mirror the lab core's registry and ledger into UI state. */
function syncLab(): void {
  const entries = repo.ledger.entries();
  const ledger: LedgerLine[] = entries.map((e) => ({
    index: e.index,
    type: e.type,
    at: e.at,
    summary: describeEntry(e.type, e.payload),
    hash: manifestHash(e),
  }));
  const verdict = repo.ledger.verify();
  set({
    registry: release.current(SLOT),
    registryVersions: release.versions(SLOT).length,
    canRollback: release.canRollback(SLOT),
    ledger,
    ledgerOk: { ok: verdict.ok, message: verdict.ok ? `${entries.length} entries, chain intact` : verdict.problems[0].message },
    shadow: router.shadowSummary(SLOT),
    championGate: championGate(),
  });
}

/** Whether "Make champion" can act now, and why not (shown beside the button). */
function championGate(): { ok: boolean; reason: string } {
  const reg = release.current(SLOT);
  const m = reg.canary?.model ?? reg.shadow;
  if (!m) return { ok: false, reason: 'needs a candidate in shadow or canary: admit one first' };
  const paused = promotionPaused(repo.ledger.entries(), m);
  if (paused.paused) return { ok: false, reason: `its promotion is paused: ${paused.reasons.join('; ')}` };
  const stages = checkStages(repo.ledger.entries(), SLOT, m, SLOT_RISK, 'champion', 0);
  if (!stages.allowed)
    return {
      ok: false,
      reason: `the slot is ${SLOT_RISK} blast radius (${stages.required.join(' → ')} before champion): ${stages.reasons.join('; ')}`,
    };
  try {
    const c = championCheck(m);
    return { ok: c.eligible, reason: c.reason };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

function describeEntry(type: string, p: Record<string, unknown>): string {
  const name = (id: unknown) => get().models.find((m) => m.id === id)?.name ?? String(id);
  if (type === 'release') return `${String(p.action)}: ${String(p.reason ?? '')}`;
  if (type === 'rollback') return `rolled back: ${String(p.reason ?? '')}`;
  if (type === 'admission')
    return `admitted ${name(p.model)} to the pool (admission ${String(p.admissionHash ?? p.admission ?? '').slice(0, 10)})`;
  if (type === 'policy-change') return `policy: ${String(p.reason ?? '')}`;
  if (type === 'storage') return `${String(p.action)} ${String(p.name ?? p.model)}: ${String(p.reason)}`;
  if (type === 'fitness-evidence')
    return `${String(p.kind)} evidence of ${name(p.model)}: ${p.passed ? 'passed' : 'failed'}, temporal fitness ${Number(p.fitnessBefore).toFixed(4)} → ${Number(p.fitnessAfter).toFixed(4)}`;
  return String(p.reason ?? type);
}

/** A model as the evaluator worker is handed it: its tensors and its own graph (data, never a store). */
async function payload(m: ModelEntry): Promise<ModelPayload> {
  const tensors = await repo.getTensors(m.id);
  const g = m.graphHash && m.graphHash !== family.graphHash ? await repo.getGraph(m.graphHash) : graph;
  return {
    hash: m.hash,
    species: m.species,
    graph: g,
    tensors,
    featureSize: family.input.shape[0],
    classes: family.output.labels.length,
    ep: get().inference,
  };
}

/**
 * The species a suite of this family may score: the family's, or, for a quantized candidate, its
 * own species once its dequantized tensors prove it is of the family.
 */
function evaluableSpecies(m: ModelPayload): string {
  if (m.species === family.species) return family.species;
  return familySpeciesOf(m.tensors, family.graphHash, family.output.labels) === family.species ? m.species : family.species;
}

function modelById(id: string): ModelEntry {
  const m = get().models.find((x) => x.id === id);
  if (!m) throw new Error(`no model "${id}" in the garden`);
  return m;
}

/** The router's invoke: a warm session gets the input alone; a cold one gets the model too. */
const invoke = async (modelId: string, input: Float32Array) => {
  const m = modelById(modelId);
  const ep = get().inference;
  if (await evalWorker().hasSession(m.hash, ep)) {
    const light: ModelPayload = {
      hash: m.hash,
      species: m.species,
      graph: new Uint8Array(0),
      tensors: [],
      featureSize: family.input.shape[0],
      classes: family.output.labels.length,
      ep,
    };
    try {
      return await evalWorker().predict(light, input);
    } catch (e) {
      // Evicted between the two calls: send the model itself (any other error is the model's).
      if (!/no session for model/.test((e as Error).message)) throw e;
    }
  }
  return evalWorker().predict(await payload(m), input);
};

function setEvidence(hash: string, patch: Partial<Evidence>): void {
  set((s) => {
    const prev = s.evidence[hash] ?? { evaluations: {}, sidecars: {} };
    return {
      evidence: {
        ...s.evidence,
        [hash]: {
          ...prev,
          ...patch,
          evaluations: { ...prev.evaluations, ...patch.evaluations },
          sidecars: { ...prev.sidecars, ...patch.sidecars },
        },
      },
    };
  });
}

/**
 * Evaluate a model on every suite policy pins. With `persist`, each suite's sidecar is written to
 * the evaluation zone as soon as it is computed and becomes the model's evidence; without, the
 * scores are only shown.
 */
async function evaluateModel(
  m: ModelEntry,
  opts: { persist: boolean; signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
): Promise<void> {
  const { persist, onProgress, signal } = opts;
  const pins = policy.current().suites;
  const model = await payload(m);
  const species = evaluableSpecies(model);
  const suites = Object.entries(pins);
  for (const [i, [name, pin]] of suites.entries()) {
    if (signal?.aborted) throw new Error('evaluation cancelled');
    const bytes = await repo.getSuite(pin);
    // Progress in thousandths of the whole evaluation (every suite), so one bar and its ETA span it.
    const whole = (done: number, rows: number) => onProgress?.(Math.round((1000 * (i + done / rows)) / suites.length), 1000);
    const evaluation: EvaluationResult = await evalWorker().evaluate(
      model,
      bytes,
      { suiteHash: pin, species, family: family.id },
      onProgress ? Comlink.proxy(whole) : undefined,
      persist ? 'candidate' : 'pool',
    );
    // A Cancel that came while the worker finished this suite still cancels: no verdict from it.
    if (signal?.aborted) throw new Error('evaluation cancelled');
    if (persist) {
      const sidecar = makeManifest('evaluation-sidecar', sidecarBody(m.hash, evaluation));
      await repo.putEvidence(m.id, [sidecar]);
      setEvidence(m.hash, { evaluations: { [name]: evaluation }, sidecars: { [name]: manifestHash(sidecar) } });
    } else {
      setEvidence(m.hash, { evaluations: { [name]: evaluation } });
    }
  }
}

function scored(m: ModelEntry): Scored {
  const ev = get().evidence[m.hash];
  const metrics: Scored['metrics'] = {};
  for (const [name, r] of Object.entries(ev?.evaluations ?? {}))
    metrics[name] = { accuracy: r.metrics.accuracy, ece: r.metrics.ece, latencyMs: r.metrics.medianLatencyPerRowMs };
  return { id: m.id, metrics, bytes: m.bytes };
}

/** What a data-informed merge fits on, for an operator and its parameters (train.ts breedCalibration: null for the others). */
export type CalibrationSource = (operator: string, params: Readonly<Record<string, unknown>>) => Promise<BreedCalibration | null>;

/**
 * Breed the selected parents, one breed at a time across this garden's tabs (breed-guard.ts).
 * RegMean and Fisher take their calibration rows from `calibrate` (the breed panel passes train.ts's).
 */
export async function breedSelected(calibrate?: CalibrationSource): Promise<void> {
  if (get().tasks.breed || breedWaiting()) return;
  const wait = () =>
    set({ notice: 'Another tab of this garden is breeding: this breed waits until it has finished (Cancel stops waiting).' });
  await withBreedLock(getOperator(get().operator).name, wait, () => breedNow(calibrate)).catch((e: unknown) =>
    set({
      notice:
        (e as Error).name === 'AbortError'
          ? 'Stopped waiting for the other tab: nothing was bred.'
          : `Breeding failed: ${(e as Error).message}`,
    }),
  );
}

async function breedNow(calibrate?: CalibrationSource): Promise<void> {
  const s = get();
  const op = getOperator(s.operator);
  if (!isAllowed(policy.current(), op.id)) {
    set({ notice: `Policy does not allow the operator "${op.id}"; allowed: ${policy.current().allowlist.join(', ')}` });
    return;
  }
  const parents = s.selected.map(modelById);
  if (s.tasks.breed) return;
  task('breed', { done: 0, total: 1 });
  set({ progress: null, receipt: null });
  let discard: () => Promise<unknown> = async () => undefined;
  try {
    const params = { ...s.params };
    const n = parents.length - (op.needsBase ? 1 : 0);
    // Weights set for another choice of parents no longer apply: the sliders show 1 each, the default.
    if (Array.isArray(params.weights) && params.weights.length !== n) delete params.weights;
    const req = { operator: op.id, params, seed: s.seed };
    const calibration = (await calibrate?.(op.id, params)) ?? null;
    if (!calibration && STATISTICS_FOR[op.id as OperatorId]) throw new Error(`${op.name} needs a calibration split`);
    // Every operator that streams breeds IndexedDB → IndexedDB in the kernel worker (breedFromStore);
    // layouts, quantize, whole-model pre-passes and the data-informed merges breed whole.
    const bred = streamsFromStore(op.id) ? await breedFromStore(req, parents) : await breedWhole(req, parents, calibration ?? undefined);
    if ('refused' in bred) {
      set({ notice: `${op.name} refuses these parents: ${bred.refused}. Nothing was bred.` });
      return;
    }
    discard = bred.discard;
    const { result, file, compat } = bred;
    const hash = file.hash;
    const species = file.species;
    const records = recordBreed({
      result,
      file,
      parents: parents.map((p) => p.hash),
      requested: params,
      budget: policy.current().ceilings,
      compatibility: compat,
    });
    const count = s.models.filter((m) => m.role === 'candidate').length + 1;
    const entry: ModelEntry = {
      id: `candidate-${hash.slice(0, 8)}`,
      name: candidateName(count, op, result.params, s.seed),
      createdAt: new Date().toISOString(),
      role: 'candidate',
      family: family.id,
      hash,
      species,
      bytes: file.size,
      description: `${op.name} of ${parents.map((p) => p.name).join(', ')}, seed ${s.seed}`,
      parents: parents.map((p) => p.id),
      operator: op.id,
      metadata: bred.metadata,
      ...(file.graph ? { graphHash: sha256Hex(file.graph) } : {}),
    };
    const put = await repo.putModel(entry, bred.tensors, file.graph ?? graph, family.output.labels, records.manifests);
    const view: Receipt = {
      hash: manifestHash(records.receipt),
      operator: op.id,
      params,
      seed: s.seed,
      backend: result.backend,
      inputs: records.receipt.inputs,
      output: hash,
      ms: result.ms,
      tensors: result.stats,
      ...(calibration ? { calibration: calibrationNote(result, calibration) } : {}),
    };
    set({
      models: await repo.listModels(),
      candidateId: put.stored.id,
      receipt: view,
      notice: put.created
        ? deviceLostNote(result.backend.adapter)
        : `This candidate has exactly the tensors of ${put.stored.name}: no tensor was stored again; its lineage and receipt were added to ${put.stored.name}.`,
    });
    void refreshStorage();
  } catch (e) {
    // The candidate's tensors a streamed breed stored, unlisted: dropped (a Cancel or a failure in the worker dropped them already).
    await discard().catch(() => undefined);
    set({
      progress: null,
      notice: `Breeding ${(e as Error).name === 'BreedCancelled' ? 'cancelled' : `failed: ${(e as Error).message}`}. Nothing was stored.`,
    });
  } finally {
    task('breed', null);
  }
}

/** The receipt's line for a data-informed merge: the split (by id) and what each tensor's statistics said. */
function calibrationNote(result: BreedResult, c: BreedCalibration): NonNullable<Receipt['calibration']> {
  const notes = (result.stats as (BreedResult['stats'][number] & DataInformedStat)[]).flatMap((t) => {
    const parts = [
      t.conditionNumber !== undefined ? `κ ${t.conditionNumber.toExponential(1)}` : '',
      t.unseenInputs ? `${t.unseenInputs} inputs no row reached` : '',
      t.fisherMean ? `mean Fisher ${t.fisherMean.map((f) => f.toExponential(1)).join(', ')}` : '',
    ].filter(Boolean);
    return parts.length ? [`${t.name}: ${parts.join('; ')}`] : [];
  });
  return { split: c.split, rows: c.rows[0].count, kind: c.kind, notes };
}

/** A breed's outcome, whichever way it ran: the candidate's identity, its tensors for putModel, and how to drop them. */
interface Bred {
  /** The breed's result (streamed: no tensors in it). */
  result: BreedResult;
  file: Pick<CandidateFile, 'hash' | 'species' | 'lineageKey' | 'graph'> & { size: number };
  compat: ReturnType<typeof parentCompatibility>;
  /** The candidate's `.slm` metadata. */
  metadata: Record<string, string>;
  tensors: readonly (Tensor | StoredTensorInput)[];
  /** Drop what the breed stored that no model lists, when the candidate cannot be stored. */
  discard(): Promise<unknown>;
}
type BreedInput = Pick<BreedRequest, 'operator' | 'params' | 'seed'>;
const onBreedProgress = () => Comlink.proxy((p: BreedProgress) => set({ progress: p }));
const refusal = (compat: ReturnType<typeof parentCompatibility>) =>
  compat && !compat.compatible ? { refused: compat.reasons.join('; ') } : null;

/**
 * The kernel worker breeds the stored parents into the store chunk by chunk (breedStored): no
 * model is held on either thread; the candidate's tensors come back as hashes.
 */
async function breedFromStore(req: BreedInput, parents: readonly ModelEntry[]): Promise<Bred | { refused: string }> {
  const specs = await Promise.all(
    parents.map((p) =>
      repo.modelTensors(p.id).then(
        (m) => m.tensors,
        (e: Error) => {
          throw new Error(`the parent “${p.name}” cannot be read: ${e.message}`);
        },
      ),
    ),
  );
  // Merge-style operators refuse parents without a passing compatibility report (it reads names, dtypes and shapes).
  const compat = parentCompatibility(parents.map((p, i) => ({ id: p.hash, species: p.species, tensors: specs[i] })));
  const refused = refusal(compat);
  if (refused) return refused;
  const stored = await Promise.all(
    parents.map(async (p, i) => ({
      id: await repo.storeModelId(p.id),
      header: { hash: p.hash, species: p.species, tensors: specs[i], family: { graph, vocabulary: family.output.labels } },
    })),
  );
  const r = await kernelWorker()
    .breedStored(repo.candidatesDb, { ...req, parents: stored }, true, onBreedProgress())
    .catch(async (e: Error) => {
      // A worker terminated mid-breed dropped nothing of what it wrote: swept (this tab holds the breed lock).
      await kernelWorker()
        .sweep(repo.candidatesDb)
        .catch(() => undefined);
      throw await parentNamed(e, parents);
    });
  return {
    result: { ...r.result, tensors: [] },
    file: { ...r.candidate },
    compat,
    metadata: r.candidate.metadata,
    tensors: r.tensors,
    discard: () =>
      kernelWorker().discard(
        repo.candidatesDb,
        r.tensors.map((t) => t.hash),
      ),
  };
}

/** A stored tensor of a parent that failed its hash, said of that parent (as breedWhole's reads say it). */
async function parentNamed(e: Error, parents: readonly ModelEntry[]): Promise<Error> {
  const prefix = /stored tensor ([0-9a-f]{12}) (is corrupt|lacks)/.exec(e.message)?.[1];
  if (!prefix) return e;
  const refs = await repo.tensorRefs().catch(() => new Map<string, { hash: string }[]>());
  const p = parents.find((x) => refs.get(x.id)?.some((t) => t.hash.startsWith(prefix)));
  return p ? new Error(`the parent “${p.name}” cannot be read: ${e.message}`) : e;
}

/** After a breed cut off by a reload or a closed page: drop what its worker wrote that no model lists, holding the breed lock (else another tab breeds, and it sweeps). */
async function sweepCutOff(): Promise<void> {
  if (!navigator.locks) return;
  await navigator.locks.request(BREED_LOCK, { ifAvailable: true }, (lock) => (lock ? kernelWorker().sweep(repo.candidatesDb) : null));
}

/** The operators that need whole tensors (layouts, quantize, whole-model pre-passes): parents and candidate in memory. */
async function breedWhole(
  req: BreedInput,
  parents: readonly ModelEntry[],
  calibration?: BreedCalibration,
): Promise<Bred | { refused: string }> {
  const parentTensors = await Promise.all(
    parents.map((p) =>
      repo.getTensors(p.id).catch((e: Error) => {
        throw new Error(`the parent “${p.name}” cannot be read: ${e.message}`);
      }),
    ),
  );
  const compat = parentCompatibility(parents.map((p, i) => ({ id: p.hash, species: p.species, tensors: parentTensors[i] })));
  const refused = refusal(compat);
  if (refused) return refused;
  const result = await kernelWorker().breed({ ...req, parents: parentTensors }, true, onBreedProgress(), calibration);
  const file = candidateSlm(
    result,
    parents.map((p, i) => ({
      hash: p.hash,
      species: p.species,
      tensors: parentTensors[i],
      family: { graph, vocabulary: family.output.labels },
    })),
  );
  const slm = readSlm(file.bytes);
  return {
    result,
    file: { ...file, size: file.bytes.length },
    compat,
    metadata: slm.metadata,
    tensors: slm.tensors,
    discard: async () => undefined,
  };
}

/**
 * A model brought by the user, checked before anything is stored: imported by the core's format
 * readers (the family's graph and labels given for weights-only files), scanned for non-finite
 * weights, and compared with the pool's base. `refused` is its one-line reason; null when it may join.
 */
export interface ImportCheck {
  name: string;
  format: string;
  tensors: number;
  species: string;
  joins: string | null;
  report: CompatReport | null;
  refused: string | null;
  model: ImportedModel | null;
}

export async function checkImport(name: string, open: (opts: ImportOptions) => Promise<ImportedModel>): Promise<ImportCheck> {
  const none = { name, format: '?', tensors: 0, species: '', joins: null, report: null, model: null };
  let model: ImportedModel;
  try {
    model = await open({ graph, vocabulary: family.output.labels });
  } catch (e) {
    return { ...none, refused: (e as Error).message };
  }
  const base = get().models.find((m) => m.role === 'base') ?? get().models[0];
  const report = compatibilityReport([
    { id: base.hash, species: base.species, tensors: await repo.getTensors(base.id) },
    { id: name, species: model.species, tensors: model.tensors },
  ]);
  const flagged = (await scanNonFinite(model)).flagged;
  const joins = model.species === family.species ? `${family.id} (species ${family.species.slice(0, 10)})` : null;
  const refused = !report.compatible
    ? report.reason
    : flagged.length
      ? `${flagged.length} tensor(s) hold NaN or infinite weights, first ${flagged[0].name}`
      : !joins
        ? `its species ${model.species.slice(0, 10)} is not the ${family.id} family's ${family.species.slice(0, 10)} (another graph or label set)`
        : null;
  return { name, format: model.format, tensors: model.tensors.length, species: model.species, joins, report, refused, model };
}

/** Store a checked import as one model of the pool (one putModel: all of it, or nothing). */
export async function storeImport(check: ImportCheck): Promise<ModelEntry> {
  if (check.refused || !check.model) throw new Error(`${check.name} was refused: ${check.refused ?? 'not checked'}`);
  const chunks: Uint8Array[] = [];
  for await (const c of toSlm(check.model)) {
    if (c.shards !== 1)
      throw new Error(`${check.name} is too large for one .slm file (${c.shards} shards); the app keeps single-file models`);
    chunks.push(c.bytes);
  }
  const bytes = concatBytes(chunks);
  const slm = readSlm(bytes);
  const hash = sha256Hex(bytes);
  const label = check.name.replace(/\.(slm|safetensors|onnx|json)$/i, '');
  const source = makeManifest('source', {
    name: label,
    model: { hash, format: 'slm', bytes: bytes.length },
    species: slm.species,
    license: 'as given by the user (not checked)',
    origin: { kind: 'imported', description: `imported from ${check.name} (${check.format})` },
    data: { description: 'unknown: brought by the user' },
  });
  const entry: ModelEntry = {
    id: `imported-${hash.slice(0, 8)}`,
    name: `${label} (imported)`,
    role: 'specialist',
    family: family.id,
    hash,
    species: slm.species,
    bytes: bytes.length,
    description: `Imported from ${check.name} (${check.format}, ${check.tensors} tensors)`,
    metadata: slm.metadata,
    createdAt: new Date().toISOString(),
  };
  const put = await repo.putModel(entry, slm.tensors, graph, family.output.labels, [source]);
  set({ models: await repo.listModels() });
  void refreshStorage();
  await evaluateModel(put.stored, { persist: false }).catch((e) =>
    set({ notice: `Could not evaluate ${put.stored.name}: ${(e as Error).message}` }),
  );
  return put.stored;
}

/** A model's stored tensors, for views that recompute from them (the operator visuals). */
export function modelTensors(modelId: string) {
  return repo.getTensors(modelById(modelId).id);
}

export function cancelBreed(): void {
  cancelBreedWait();
  void kernelWorker().cancel();
}

/** The viability verdict of a scored candidate against the slot's champion and its best parent (no-op). */
async function judge(cand: ModelEntry): Promise<void> {
  const reg = release.current(SLOT);
  // The baselines must be scored on the same pinned suites before any verdict (they are scored in
  // the background on open; a fast user can get here first).
  for (const b of [reg.champion, ...(cand.parents ?? [])].filter((x): x is string => !!x && x !== cand.id).map(modelById)) {
    const have = get().evidence[b.hash]?.evaluations ?? {};
    if (Object.keys(policy.current().suites).some((n) => !have[n])) await evaluateModel(b, { persist: false });
  }
  const champion = reg.champion && reg.champion !== cand.id ? scored(modelById(reg.champion)) : null;
  const noop = noopBaseline(
    (cand.parents ?? []).map((id) => scored(modelById(id))),
    policy.current(),
  );
  setEvidence(cand.hash, { viability: viability(scored(cand), { champion, noop }, policy.current()), judgedAgainst: reg.champion });
}

/** Judge again when the champion changed since the verdict (a verdict is against one champion). */
async function freshVerdict(cand: ModelEntry) {
  const ev = get().evidence[cand.hash];
  if (ev?.viability && ev.judgedAgainst !== release.current(SLOT).champion && release.current(SLOT).champion !== cand.id) await judge(cand);
  return get().evidence[cand.hash]?.viability;
}

/** Policy suite name → hash of the last recorded sidecar for `candidate` on that suite's pin, when it still verifies. */
function restoredSidecars(candidate: string, evidence: readonly Manifest[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, pin] of Object.entries(policy.current().suites)) {
    const last = evidence
      .filter((x): x is ManifestOf<'evaluation-sidecar'> => x.kind === 'evaluation-sidecar')
      .filter(
        (x) =>
          x.candidate === candidate &&
          x.suite === pin &&
          x.evaluator.version === EVALUATOR_VERSION &&
          sidecarChecksumOk({ ...x, count: x.count ?? 0 }),
      )
      .pop();
    if (last) out[name] = manifestHash(last);
  }
  return out;
}

/**
 * After a reload: the recorded smoke result and admission of each candidate come back from the
 * evaluation zone and the ledger; each whose smoke passed is judged again on fresh scores.
 */
async function restoreEvidence(models: ModelEntry[]): Promise<void> {
  const admissions = new Map(
    repo.ledger
      .entries()
      .filter((e) => e.type === 'admission')
      .map((e) => [String(e.payload.model), String(e.payload.admissionHash ?? e.payload.admission)]),
  );
  for (const m of models.filter((x) => x.role === 'candidate')) {
    if (get().evidence[m.hash]?.smoke) continue; // evaluated again in this session meanwhile
    const smoke = (await repo.evidenceFor(m.id)).filter((x) => x.kind === 'runtime-smoke').pop();
    if (smoke?.kind === 'runtime-smoke') {
      const detail = smoke.passed ? `recorded: ${smoke.probes} probe rows, ${smoke.runtime}` : smoke.reasons.join('; ');
      setEvidence(m.hash, {
        smoke: {
          ok: smoke.passed,
          checks: [{ name: 'recorded runtime smoke', ok: smoke.passed, detail }],
          probeRows: smoke.probes,
          ms: 0,
          message: smoke.passed ? 'passed' : (smoke.reasons[0] ?? 'failed'),
        },
      });
    }
    // The sidecars an explicit evaluation wrote bind the candidate to the pinned suites: they come
    // back too (when their checksum and evaluator still hold), so admission needs no new evaluation.
    const sidecars = restoredSidecars(m.hash, await repo.evidenceFor(m.id));
    if (Object.keys(sidecars).length) setEvidence(m.hash, { sidecars });
    const admitted = admissions.get(m.id);
    if (admitted) setEvidence(m.hash, { admitted });
    // An admitted one too: Make champion needs its verdict (a reload between canary and champion).
    if (smoke?.kind === 'runtime-smoke' && smoke.passed) await judge(m);
  }
  syncLab(); // the champion gate reads the verdicts
}

/** Run a model's runtime smoke and record it in the evaluation zone. */
async function runSmoke(m: ModelEntry) {
  const smoke = await evalWorker().smoke(await payload(m));
  const runtime = `onnxruntime-web (${get().inference === 'webgpu' ? 'webgpu execution provider, wasm fallback' : 'wasm'})`;
  const manifest = makeManifest('runtime-smoke', { candidate: m.hash, ...smokeReport(smoke, runtime, family.output.labels.length) });
  await repo.putEvidence(m.id, [manifest]);
  return { smoke, manifest };
}

/**
 * The champion's immediate evidence (temporal fitness), when its release has none yet: the starter
 * base's runtime smoke on the garden's first open. A candidate's is recorded when it is admitted.
 */
async function championImmediate(): Promise<void> {
  const champ = release.current(SLOT).champion;
  if (!champ || evidenceOf(repo.ledger.entries(), SLOT, champ).some((e) => e.kind === 'immediate')) return;
  await recordImmediate(champ, (await runSmoke(modelById(champ))).manifest);
  syncLab();
}

export async function evaluateCandidate(): Promise<void> {
  const s = get();
  const cand = s.models.find((m) => m.id === s.candidateId);
  if (!cand) return;
  if (s.tasks.evaluate) return;
  task('evaluate', { done: 0, total: 1, model: cand.id });
  const ctl = (evaluation = new AbortController());
  // A new run replaces the old evidence: nothing of the last run stays beside the new numbers.
  set((st) => ({ evidence: { ...st.evidence, [cand.hash]: { evaluations: st.evidence[cand.hash]?.evaluations ?? {}, sidecars: {} } } }));
  try {
    const { smoke } = await runSmoke(cand);
    setEvidence(cand.hash, { smoke });
    if (smoke.ok) {
      await evaluateModel(cand, {
        persist: true,
        signal: ctl.signal,
        // Progress comes on its own port, so its last message can land after the run has ended
        // (then it would start the bar again): only the run in progress moves it.
        onProgress: (done, total) => {
          if (evaluation === ctl && !ctl.signal.aborted) task('evaluate', { done, total, model: cand.id });
        },
      });
      if (ctl.signal.aborted) throw new Error('evaluation cancelled');
      await judge(cand);
    }
  } catch (e) {
    if (/evaluation cancelled/.test((e as Error).message)) {
      // The suites finished before Cancel keep their sidecars (each is whole evidence); the verdict needs them all.
      set((st) => ({ evidence: { ...st.evidence, [cand.hash]: { evaluations: {}, sidecars: {} } } }));
      set({ notice: 'Evaluation cancelled: no verdict was given. Run it again to judge this candidate.' });
    } else set({ notice: `Evaluation failed: ${(e as Error).message}` });
  } finally {
    if (evaluation === ctl) evaluation = null;
    task('evaluate', null);
  }
}

let evaluation: AbortController | null = null;

/** Cancel the candidate's evaluation: before its next suite, or between two batches of the one running (the pool's own scoring runs on). */
export function cancelEvaluation(): void {
  if (!get().tasks.evaluate) return;
  evaluation?.abort();
  void evalWorker().cancelEvaluations('candidate');
}

/** Admit an evidence-passed candidate to the pool and put it in shadow beside the champion. */
export async function admitCandidate(): Promise<void> {
  const s = get();
  const cand = s.models.find((m) => m.id === s.candidateId);
  if (!cand || s.tasks.evaluate) return;
  try {
    const verdict = await freshVerdict(cand);
    const ev = get().evidence[cand.hash];
    if (!ev?.smoke?.ok || !verdict?.viable) {
      set({
        notice:
          verdict && !verdict.viable
            ? `Not admitted: ${verdict.reasons.join('; ')}`
            : 'Not admitted: run the smoke test and the evaluation first.',
      });
      return;
    }
    // The evaluation zone's record of the smoke is the gate's evidence.
    const smoke = (await repo.evidenceFor(cand.id)).filter((x): x is RuntimeSmoke => x.kind === 'runtime-smoke').pop();
    const { template, admission } = admissionDocuments(
      {
        candidate: cand.hash,
        slot: SLOT,
        operator: cand.operator ?? '',
        policy: policy.current(),
        smoke,
        sidecars: ev.sidecars,
        viability: verdict,
      },
      { admittedAt: new Date().toISOString(), reasons: verdict.checks.map((c) => c.text) },
    );
    // The documents first: when they cannot be stored (quota), nothing is admitted; a ledger entry
    // that fails after them leaves only content-addressed evidence that a retry writes again.
    await repo.putEvidence(cand.id, [template, admission]);
    const { admissionHash } = await admitToShadow(
      { ledger: repo.ledger, release },
      {
        slot: SLOT,
        model: cand.id,
        candidate: cand.hash,
        admission,
        promotionTemplate: template,
        policyHash: policy.hash,
        reason: `${cand.name} admitted; runs in shadow beside the champion`,
      },
    );
    setEvidence(cand.hash, { admitted: admissionHash });
    syncLab();
    if (smoke)
      await recordImmediate(cand.id, smoke).catch((e: Error) =>
        set({ notice: `Admitted to shadow, but its runtime smoke could not be recorded as immediate evidence: ${e.message}` }),
      );
    syncLab();
  } catch (e) {
    set({ notice: `Admission failed: ${(e as Error).message.replace(/\.$/, '')}. Nothing was admitted; try again.` });
  }
}

/** Release steps the user takes from the registry panel; each one is a ledger entry. */
export async function releaseStep(step: 'canary' | 'champion' | 'rollback'): Promise<void> {
  try {
    const reg = release.current(SLOT);
    if (step === 'canary') {
      const m = reg.shadow ?? reg.canary?.model;
      if (!m) throw new Error('there is no shadow to promote');
      await guarded.toCanary(SLOT, 0.1, `${modelById(m).name} answers 10 % of requests`, m);
    } else if (step === 'champion') {
      const m = reg.canary?.model ?? reg.shadow;
      if (!m) throw new Error('there is no canary or shadow to promote');
      await freshVerdict(modelById(m));
      const benefit = await requireBenefit(modelById(m), reg.champion ? modelById(reg.champion) : null);
      const check = championCheck(m);
      await recordConvergence([m, ...(reg.champion ? [reg.champion] : [])]);
      await guarded.toChampion(SLOT, check, `${modelById(m).name} becomes champion (${benefit})`, m);
    } else {
      await release.rollback(SLOT, 'rolled back by the user');
    }
    syncLab();
  } catch (e) {
    set({ notice: `Release step failed: ${(e as Error).message.replace(/\.$/, '')}. The registry is unchanged; try again.` });
  }
}

/**
 * Promotion to champion: the router's fitness rule when it is met, else the evaluation evidence
 * (a viable verdict on the pinned suites, routed in shadow or canary without a failure). The
 * check, with its basis, is recorded in the ledger entry.
 */
function championCheck(model: string): PromotionCheck {
  const fit = router.promotionCheck(SLOT, model);
  if (fit.eligible) return fit;
  const verdict = get().evidence[modelById(model).hash]?.viability;
  if (!verdict) return { ...fit, reason: `no evaluation verdict for ${modelById(model).name}; ${fit.reason}` };
  return evidencePromotionCheck(verdict, router.stats(SLOT)[model], fit);
}

export async function routeDrawing(gray: Uint8ClampedArray, width: number, height: number): Promise<void> {
  const input = toImage28(gray, width, height);
  if (input.every((v) => v === 0)) {
    set({ notice: 'Draw a digit on the pad first.' });
    return;
  }
  await routeInput(input);
}

/** Route one e-mail (pasted, or the text of a dropped .eml or .txt) through the mail slot, as its model reads it (mail-features.ts). */
export async function routeEmail(text: string): Promise<void> {
  const input = mailFeatures(mailBody(text));
  if (input.every((v) => v === 0)) {
    set({ notice: 'The message has no words the mail model reads: paste or drop an e-mail first.' });
    return;
  }
  await routeInput(input);
}

/** One request through the slot's selector registry: the answer, who gave it, and the shadow's verdict once it comes. */
async function routeInput(input: Float32Array): Promise<void> {
  if (get().tasks.route) return;
  task('route', { done: 0, total: 1 });
  const t0 = performance.now();
  const requestId = crypto.randomUUID();
  try {
    const r = await router.route(SLOT, requestId, input);
    noteRequest({ requestId, input, answeredBy: r.answeredBy, stackFailed: false });
    const probabilities = softmax(Array.from(r.output));
    const best = probabilities.indexOf(Math.max(...probabilities));
    const m = modelById(r.answeredBy);
    const fellBack = r.attempts.filter((a) => !a.ok).map((a) => `${modelById(a.model).name} (${a.failure})`);
    set({
      route: {
        label: family.output.labels[best],
        probabilities,
        modelId: m.id,
        modelName: m.name,
        fellBack,
        canary: r.canary,
        shadow: null,
        ms: performance.now() - t0,
      },
    });
    task('route', null);
    // The shadow's verdict arrives after the answer; its failure is the shadow's, not the answer's.
    try {
      const shadow = await r.shadow;
      if (shadow)
        set((st) => ({ route: st.route && { ...st.route, shadow: { model: modelById(shadow.model).name, agreed: shadow.agreed } } }));
    } catch (e) {
      set({ notice: `The shadow model could not be compared: ${(e as Error).message}` });
    }
  } catch (e) {
    noteRequest({ requestId, input, answeredBy: null, stackFailed: true });
    set({ route: null, notice: `No model in the ${SLOT} slot could answer: ${(e as Error).message}` });
  } finally {
    // Counts (the shadow's included) and any demotion the request caused reach storage and the panels.
    task('route', null);
    saveRouterStats();
    syncLab();
  }
}

/**
 * The router's fitness counts (successes, failures per model) survive a reload in localStorage:
 * they are observations of routed requests, not artifacts, and a lost copy only restarts them.
 */
const ROUTER_STATS_KEY = `${APP_FAMILY.dbPrefix}-router-stats`;

/** The router, with the counts this garden saved (a snapshot of another garden or a bad one is dropped). */
function openRouter(): SelectorRouter {
  const genesis = repo.ledger.records()[0]?.hash ?? '';
  try {
    const text = localStorage.getItem(ROUTER_STATS_KEY);
    const saved = text ? (parseStrictJson(text, 'router stats') as { genesis?: string; stats?: RouterStats }) : null;
    if (saved?.genesis === genesis && saved.stats) return new SelectorRouter({ invoke, release, initialStats: saved.stats });
  } catch {
    localStorage.removeItem(ROUTER_STATS_KEY);
  }
  return new SelectorRouter({ invoke, release });
}

function saveRouterStats(): void {
  try {
    localStorage.setItem(
      ROUTER_STATS_KEY,
      JSON.stringify({ genesis: repo.ledger.records()[0]?.hash ?? '', stats: router.snapshotStats() }),
    );
  } catch {
    // Storage full or disabled: the counts restart on the next open.
  }
}

function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const exp = logits.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}

async function refreshStorage(): Promise<void> {
  set({ storage: await repo.usage() });
}

/** A starter file by URL, checked against its pinned SHA-256 when one is given. */
export async function fetchBytes(url: string, expectedHash?: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (expectedHash && sha256Hex(bytes) !== expectedHash) throw new Error(`${url} does not match its catalog hash`);
  return bytes;
}

async function fetchJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} (run \`npm run starter\` to build the starter garden)`);
  return r.json();
}
