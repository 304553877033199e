/**
 * "Train on your own data": the user's labelled examples (drawn digits, or messages marked spam or
 * not spam for the mail family), kept in this browser's IndexedDB (a database of the family's own,
 * `<prefix>-train`, deleted with the garden), trained into an adapter of the family's base in the
 * training worker (workers/train.worker.ts, CPU), and the result stored as a candidate (base +
 * adapter merged, its recipe the operator "lora-merge": src/core/train/trained.ts) that the normal
 * pipeline takes from there: runtime smoke, evaluation sidecars on the pinned suites, viability,
 * admission (src/app/garden.ts). The examples never leave the browser: the candidate's source
 * manifest and the training manifest hold hashes and counts only.
 */
import * as Comlink from 'comlink';
import { openDB, type IDBPDatabase } from 'idb';
import { create } from 'zustand';
import { useGarden, type ModelEntry } from './state.ts';
import { APP_FAMILY, labHandles } from './garden.ts';
import { mailBody } from '../core/models/mail-import.ts';
import { gardenDatabases } from './repo.ts';
import { trainWorker } from './workers.ts';
import { saveFile } from './save.ts';
import { toImage28 } from '../core/image28.ts';
import { sha256Hex } from '../core/hash.ts';
import { readSlm } from '../core/format/slm.ts';
import { mailFeatures } from '../core/models/mail-features.ts';
import type { ImportedMail } from '../core/models/mail-import.ts';
import { TRAIN_OPERATOR, trainedCandidateSlm, trainedParams } from '../core/train/trained.ts';
import { makeManifest } from '../core/manifest/index.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../core/train/peft.ts';
import { TRAINING_MANIFEST, type RunResult } from '../core/train/run.ts';
import type { TrainSpec } from '../core/train/spec.ts';
import { calibrationRows, readCalibration } from '../core/operators/calibration.ts';
import { STATISTICS_FOR, getOperator, type OperatorId } from '../core/operators/registry.ts';
import { readSuite, type Suite } from '../core/eval/suite.ts';
import type { BreedCalibration } from '../../workers/kernel.worker.ts';
import { federatedUpdateFile } from '../core/train/federated.ts';
import {
  DIGITS_SET,
  MAIL_SET,
  refusedExample,
  splitExamples,
  stepsPerEpoch,
  trainSpec,
  type Example,
  type TrainSettings,
} from './train-form.ts';
import type { TrainOutcome, TrainProgress } from '../../workers/train.worker.ts';

export interface TrainedAdapter {
  candidateId: string;
  candidateName: string;
  config: string;
  weights: Uint8Array;
  manifest: string;
  stepsRun: number;
  earlyStop: TrainOutcome['earlyStop'];
  ms: number;
  validation?: RunResult['validation'];
}

export type RunStatus = 'idle' | 'preparing' | 'running' | 'paused' | 'done' | 'cancelled' | 'failed';

export interface TrainState {
  examples: Example[];
  status: RunStatus;
  step: number;
  total: number;
  epoch: number;
  elapsedMs: number;
  trainLoss: { step: number; loss: number }[];
  validation: { step: number; loss: number; accuracy: number }[];
  message: string | null;
  /** The example a refusal named (a row equal to a frozen suite's), shown marked. */
  refused: string | null;
  result: TrainedAdapter | null;
  /**
   * A declared calibration split (operators/calibration.ts: the rows a RegMean or Fisher merge
   * fits on) the set is kept apart from too, as `garden train` keeps a spec's "calibration";
   * held for this session only.
   */
  calibration: { file: string; suite: Suite } | null;
}

/** A run's state before its first step (a new run starts from it). */
const FRESH_RUN = {
  step: 0,
  total: 0,
  epoch: 0,
  elapsedMs: 0,
  trainLoss: [],
  validation: [],
  message: null,
  refused: null,
  result: null,
} satisfies Partial<TrainState>;

export const useTrain = create<TrainState>()(() => ({ examples: [], status: 'idle', calibration: null, ...FRESH_RUN }));
const set = useTrain.setState;
/** What this family's training set is called (in data names, refusals and manifests). */
const TRAIN_SET = APP_FAMILY.playground === 'mail' ? MAIL_SET : DIGITS_SET;
const get = useTrain.getState;

let db: Promise<IDBPDatabase> | null = null;
function trainDb(): Promise<IDBPDatabase> {
  db ??= openDB(gardenDatabases().train, 1, {
    upgrade(d) {
      d.createObjectStore('examples', { keyPath: 'id' });
      // Per trained candidate (by its .slm hash): the PEFT files and the training manifest.
      d.createObjectStore('adapters');
    },
    blocking: (_cur, _next, e) => (e.target as IDBDatabase).close(),
  });
  return db;
}

export async function loadExamples(): Promise<void> {
  const all = (await (await trainDb()).getAll('examples')) as Example[];
  set({ examples: all.sort((a, b) => a.at - b.at) });
}

/** Add the drawing as an example of `label`; false (and a notice) when the pad is empty. */
export async function addExample(gray: Uint8ClampedArray, width: number, height: number, label: number): Promise<boolean> {
  const input = toImage28(gray, width, height);
  if (input.every((v) => v === 0)) {
    useGarden.setState({ notice: 'Draw a digit on the training pad first.' });
    return false;
  }
  const ex: Example = { id: crypto.randomUUID(), label, input, at: Date.now() };
  await (await trainDb()).put('examples', ex);
  set((s) => ({ examples: [...s.examples, ex] }));
  return true;
}

/**
 * Add messages (pasted, or read from .eml/mbox files by readMailFile) as examples of `label`
 * (0 ham, 1 spam): each is kept as the model input the mail model reads (headers stripped,
 * hashed bag of words) with its subject for the list. Returns how many were added; a message
 * without a word is skipped with a notice.
 */
export async function addMailExamples(mails: readonly ImportedMail[], label: number): Promise<number> {
  const d = await trainDb();
  const added: Example[] = [];
  const empty: string[] = [];
  const t0 = Date.now();
  for (const m of mails) {
    const input = mailFeatures(mailBody(m.message));
    if (input.every((v) => v === 0)) {
      empty.push(m.source);
      continue;
    }
    const ex: Example = {
      id: crypto.randomUUID(),
      label,
      input,
      at: t0 + added.length,
      title: `${m.subject || '(no subject)'} · ${m.source}`,
    };
    await d.put('examples', ex);
    added.push(ex);
  }
  set((s) => ({ examples: [...s.examples, ...added] }));
  if (empty.length) useGarden.setState({ notice: `Skipped ${empty.length} message(s) with no words to read: ${empty.join(', ')}.` });
  return added.length;
}

/** Mark an example with another label (spam / not spam). */
export async function relabelExample(id: string, label: number): Promise<void> {
  const ex = get().examples.find((e) => e.id === id);
  if (!ex || ex.label === label) return;
  const next = { ...ex, label };
  await (await trainDb()).put('examples', next);
  set((s) => ({ examples: s.examples.map((e) => (e.id === id ? next : e)) }));
}

export async function removeExample(id: string): Promise<void> {
  await (await trainDb()).delete('examples', id);
  set((s) => ({ examples: s.examples.filter((e) => e.id !== id) }));
}

/**
 * Keep the set apart from a calibration split too: the file must declare itself one
 * (readCalibration refuses a frozen suite) and have the family's input size. Null clears it.
 */
export async function setCalibration(file: File | null): Promise<void> {
  if (!file) {
    set({ calibration: null });
    return;
  }
  try {
    const suite = readCalibration(new Uint8Array(await file.arrayBuffer()), file.name);
    const inputs = labHandles().family.input.shape.reduce((a, b) => a * b, 1);
    if (suite.featureSize !== inputs)
      throw new Error(`calibration split "${suite.id}" has ${suite.featureSize} inputs a row; this family's model takes ${inputs}`);
    set({ calibration: { file: file.name, suite } });
  } catch (e) {
    set({ calibration: null });
    useGarden.setState({ notice: `Not kept as a calibration split: ${(e as Error).message}` });
  }
}

/**
 * The rows a data-informed merge (RegMean, Fisher) fits on in the app: the calibration split kept
 * here (setCalibration: the breed panel and the train panel pick the same one), checked against the
 * family's frozen suites (calibrationRows: one shared row refuses it, naming the row), one set for
 * every parent, as `garden breed --calibration FILE` given once. Null for the other operators.
 */
export async function breedCalibration(operator: string, params: Readonly<Record<string, unknown>>): Promise<BreedCalibration | null> {
  const op = getOperator(operator);
  const kind = STATISTICS_FOR[op.id as OperatorId];
  if (!kind) return null;
  const c = get().calibration;
  if (!c)
    throw new Error(`${op.name} needs a calibration split: pick one under the operator (a file declaring "suite.split": "calibration")`);
  const frozen = (await familySuites()).map((s) => readSuite(s.bytes, s.hash));
  return {
    split: c.suite.id,
    kind,
    rows: [calibrationRows(c.suite, frozen)],
    ...(kind === 'fisher' ? { labels: params.fisherLabels === 'sampled' ? ('sampled' as const) : ('empirical' as const) } : {}),
  };
}

/** Set synchronously on the first click, so a second click in the same moment is ignored. */
let busy = false;

export function trainingBusy(): boolean {
  return busy;
}

function onProgress(p: TrainProgress): void {
  set((s) => ({
    status: s.status === 'preparing' || s.status === 'running' || s.status === 'paused' ? (p.paused ? 'paused' : 'running') : s.status,
    step: p.step,
    total: p.total,
    epoch: p.epoch,
    elapsedMs: p.elapsedMs,
    trainLoss: p.losses.length ? [...s.trainLoss, ...p.losses] : s.trainLoss,
    validation: p.validation ? [...s.validation, p.validation] : s.validation,
  }));
}

/** The frozen suites of the digits family, each checked against the catalog's pin (the policy's from the garden's store). */
async function familySuites(): Promise<{ bytes: Uint8Array; hash: string }[]> {
  const { repo, family } = labHandles();
  return Promise.all(
    family.suites.map(async (s) => {
      if (await repo.hasSuite(s.hash)) return { bytes: await repo.getSuite(s.hash), hash: s.hash };
      const r = await fetch(`/starter/${s.file}`);
      if (!r.ok) throw new Error(`the frozen suite ${s.id} could not be read (HTTP ${r.status}), so the data cannot be checked against it`);
      return { bytes: new Uint8Array(await r.arrayBuffer()), hash: s.hash };
    }),
  );
}

/** Train on the examples with the form's settings; a second call while one runs is ignored. */
export async function startTraining(settings: TrainSettings): Promise<void> {
  if (busy) {
    useGarden.setState({ notice: 'A training run is already going: the second click was ignored.' });
    return;
  }
  busy = true;
  set({ status: 'preparing', ...FRESH_RUN });
  let ids: { train: string[]; validation: string[] } = { train: [], validation: [] };
  try {
    const base = useGarden.getState().models.find((m) => m.role === 'base');
    if (!base) throw new Error('the garden has no base model');
    const { repo, family } = labHandles();
    const labels = family.output.labels;
    const split = splitExamples(get().examples, labels.length, settings.values.seed, TRAIN_SET);
    ids = split.ids;
    const spec = trainSpec(settings, split.train.y.length, `${base.id}.slm`, !!split.validation, TRAIN_SET);
    const job = {
      inputs: {
        spec,
        base: { name: `${base.id}.slm`, hash: base.hash, species: base.species, tensors: await repo.getTensors(base.id), labels },
        train: split.train,
        ...(split.validation ? { validation: split.validation } : {}),
        ...(get().calibration ? { calibration: [get().calibration!.suite] } : {}),
      },
      suites: await familySuites(),
      stepsPerEpoch: stepsPerEpoch(split.train.y.length, settings.values.batch),
      patience: settings.values.patience,
    };
    set({ total: spec.train.steps });
    const out = await trainWorker().train(job, Comlink.proxy(onProgress));
    const cand = await storeCandidate(out, base, settings, spec, get().examples.length);
    set({
      status: 'done',
      result: {
        candidateId: cand.id,
        candidateName: cand.name,
        config: out.config,
        weights: out.weights,
        manifest: JSON.stringify(out.manifest, null, 2),
        stepsRun: out.stepsRun,
        earlyStop: out.earlyStop,
        ms: out.ms,
        ...(out.validation ? { validation: out.validation } : {}),
      },
    });
  } catch (e) {
    const err = e as Error;
    if (err.name === 'TrainCancelled') set({ status: 'cancelled', message: `Training ${err.message}.` });
    else {
      // A refusal names a row of the split; the user sees which of their examples it is.
      const refused = refusedExample(err.message, ids, TRAIN_SET);
      const at = get().examples.findIndex((x) => x.id === refused);
      const which = at >= 0 ? ` That is example ${at + 1} of your set (marked): remove it and train again.` : '';
      set({ status: 'failed', refused, message: `Training failed: ${err.message}.${which}` });
    }
  } finally {
    busy = false;
  }
}

export function pauseTraining(): void {
  if (get().status === 'running') void trainWorker().pause();
}
export function resumeTraining(): void {
  if (get().status === 'paused') void trainWorker().resume();
}
export function cancelTraining(): void {
  if (busy) void trainWorker().cancel();
}

/**
 * Base + adapter merged, as a candidate of the base's species (trainedCandidateSlm: its recipe
 * names the operator "lora-merge" with the adapter's and the spec's hashes, the seed and the base
 * as its parent, so the policy's allowlist gate sees what made it). Its source manifest says it
 * was trained here and binds the training manifest by hash; the PEFT files go to the training store.
 */
async function storeCandidate(
  out: TrainOutcome,
  base: ModelEntry,
  s: TrainSettings,
  spec: TrainSpec,
  examples: number,
): Promise<ModelEntry> {
  const { repo, family, graph, syncLab } = labHandles();
  const labels = [...family.output.labels];
  const manifest = JSON.stringify(out.manifest, null, 2);
  const trainingHash = sha256Hex(new TextEncoder().encode(manifest));
  const what = s.mode === 'lora' ? `LoRA r${s.values.r} α${s.values.alpha} on ${s.targets.join('+')}` : 'new head (fc2, modules_to_save)';
  const file = trainedCandidateSlm(
    {
      hash: base.hash,
      species: base.species,
      graph: family.graphHash,
      vocabulary: labels,
      ...(base.metadata ? { metadata: base.metadata } : {}),
    },
    out.merged,
    trainedParams({ config: out.config, weights: out.weights }, spec),
    spec.train.seed,
  );
  const { bytes, hash, species } = file;
  const kept = (out.manifest.suitesKeptApart as { hash: string }[]).map((x) => x.hash);
  const source = makeManifest('source', {
    name: `${base.name} + ${what}`,
    model: { hash, format: 'slm', bytes: bytes.length },
    species,
    license: "the user's own: trained in this browser",
    origin: { kind: 'trained', description: `${base.name} + ${what}, trained in this browser (CPU) on ${examples} of ${TRAIN_SET}` },
    data: {
      description: `${examples} of ${TRAIN_SET}, kept in this browser; hashes and counts in ${TRAINING_MANIFEST}`,
      hash: trainingHash,
      suites: kept,
    },
  });
  const slm = readSlm(bytes);
  const count = useGarden.getState().models.filter((m) => m.role === 'candidate').length + 1;
  const entry: ModelEntry = {
    id: `trained-${hash.slice(0, 8)}`,
    name: `#${count} Trained · ${what} · seed ${s.values.seed}`,
    createdAt: new Date().toISOString(),
    role: 'candidate',
    family: family.id,
    hash,
    species,
    bytes: bytes.length,
    description: `${base.name} + ${what}, trained on ${examples} of ${TRAIN_SET} (${out.stepsRun} steps)`,
    parents: [base.id],
    operator: TRAIN_OPERATOR.id,
    metadata: slm.metadata,
  };
  const put = await repo.putModel(entry, slm.tensors, graph, labels, [source]);
  await (await trainDb()).put('adapters', { config: out.config, weights: out.weights, manifest }, hash);
  useGarden.setState({ models: await repo.listModels(), candidateId: put.stored.id, receipt: null });
  syncLab();
  return put.stored;
}

/**
 * The run's delta as a federated update (core federatedUpdateFile, the file `garden train
 * --federated-update` writes for the same run): base + c·(candidate − base) with the training
 * rows' count, c = min(1, clip / ‖Δ‖) when a clip norm is given.
 */
export async function downloadFederatedUpdate(clipNorm?: number): Promise<void> {
  const r = get().result;
  if (!r) return;
  const { repo, family } = labHandles();
  const base = useGarden.getState().models.find((m) => m.role === 'base');
  if (!base) throw new Error('the garden has no base model');
  const manifest = JSON.parse(r.manifest) as { data: { train: { rows: number } } };
  const u = federatedUpdateFile(
    {
      hash: base.hash,
      species: base.species,
      graph: family.graphHash,
      vocabulary: family.output.labels,
      tensors: await repo.getTensors(base.id),
    },
    await repo.getTensors(r.candidateId),
    { examples: manifest.data.train.rows, ...(clipNorm !== undefined ? { clipNorm } : {}) },
  );
  saveFile(`federated-update-${u.hash.slice(0, 8)}.slm`, u.bytes);
}

/** The adapter in PEFT's layout, as separate downloads (adapter_config.json, adapter_model.safetensors), and the training manifest. */
export function downloadAdapter(): void {
  const r = get().result;
  if (!r) return;
  saveFile(ADAPTER_CONFIG, new TextEncoder().encode(r.config), 'application/json');
  saveFile(ADAPTER_WEIGHTS, r.weights);
  saveFile(TRAINING_MANIFEST, new TextEncoder().encode(r.manifest), 'application/json');
}
