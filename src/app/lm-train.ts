/**
 * "Train on your own writing" in the language-model lab: text pasted or dropped as .txt/.md is
 * trained into a LoRA of a stored Llama-family model in the training worker (workers/train.worker.ts
 * trainLm: the core's llamaTrainingRun, on WebGPU's kernels where the adapter is hardware, else the CPU tape), with the seeded validation split, the
 * live train/validation loss, Pause, Cancel and the early stop on validation. The texts are
 * refused when they share a 64-byte window with any frozen suite text of the starter family
 * (core text-wall.ts). The result is a candidate (base + adapter merged, recipe operator
 * lora-merge) stored in the text pool, with its lineage and receipt, which the lab then
 * evaluates, admits and routes like a bred one; the adapter downloads in PEFT's layout. The text
 * never leaves the browser, and is not stored: the training manifest keeps hashes and counts.
 */
import * as Comlink from 'comlink';
import { create } from 'zustand';
import { toSlm, importSlm, type ImportedModel } from '../core/format/model.ts';
import { bytesSource } from '../core/format/source.ts';
import { causalLmFromModel } from '../core/format/hf.ts';
import { concatBytes } from '../core/bytes.ts';
import { sha256Hex } from '../core/hash.ts';
import { TEXT_FILE, type TrainSpec } from '../core/train/spec.ts';
import { TRAIN_OPERATOR } from '../core/train/trained.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../core/train/peft.ts';
import { TRAINING_MANIFEST } from '../core/train/run.ts';
import type { TextFile } from '../core/train/run-llama.ts';
import { ruleProblem, type FieldRule } from './train-form.ts';
import {
  refreshTextModels,
  starterSuiteText,
  starterTextManifest,
  storeTextModel,
  summarize,
  textStore,
  useText,
  type TextModelEntry,
} from './text.ts';
import { trainWorker } from './workers.ts';
import { saveFile } from './save.ts';
import type { LmTrainOutcome, LmTrainProgress } from '../../workers/train.worker.ts';

/** Every number of the form, with its valid range: a value outside is refused at the form, never clamped. */
export const LM_TRAIN_FIELDS = Object.freeze({
  r: { label: 'rank r', min: 1, max: 64, integer: true, initial: '8' },
  alpha: { label: 'lora_alpha', min: 0.01, max: 1024, integer: false, initial: '16' },
  dropout: { label: 'lora_dropout', min: 0, max: 0.9, integer: false, initial: '0' },
  steps: { label: 'steps', min: 1, max: 5000, integer: true, initial: '60' },
  batch: { label: 'batch (windows)', min: 1, max: 64, integer: true, initial: '8' },
  seqLen: { label: 'window (tokens)', min: 8, max: 512, integer: true, initial: '64' },
  lr: { label: 'learning rate', min: 0.00001, max: 0.1, integer: false, initial: '0.01' },
  split: { label: 'validation share', min: 0.05, max: 0.5, integer: false, initial: '0.2' },
  evalEvery: { label: 'validate every (steps)', min: 1, max: 5000, integer: true, initial: '10' },
  patience: { label: 'early stop patience (validations; 0 = off)', min: 0, max: 100, integer: true, initial: '3' },
  seed: { label: 'seed', min: 0, max: 4294967295, integer: true, initial: '1' },
} satisfies Record<string, FieldRule>);
export type LmTrainField = keyof typeof LM_TRAIN_FIELDS;

/** The Llama-family linear layers a LoRA may sit beside (PEFT's target_modules names). */
export const LM_TARGETS = Object.freeze(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const);

export interface LmTrainSettings {
  targets: string[];
  values: Record<LmTrainField, number>;
}

/** The settings, or every problem of the form by field. */
export function checkLmForm(
  targets: readonly string[],
  texts: Record<LmTrainField, string>,
): { settings: LmTrainSettings; problems: null } | { settings: null; problems: Record<string, string> } {
  const problems: Record<string, string> = {};
  for (const k of Object.keys(LM_TRAIN_FIELDS) as LmTrainField[]) {
    const p = ruleProblem(LM_TRAIN_FIELDS[k], texts[k]);
    if (p) problems[k] = p;
  }
  if (!problems.evalEvery && !problems.steps && Number(texts.evalEvery) > Number(texts.steps))
    problems.evalEvery = `validate every must be at most the steps (${texts.steps}), got ${JSON.stringify(texts.evalEvery)}`;
  if (targets.length === 0) problems.targets = `a LoRA needs at least one target module: ${LM_TARGETS.join(', ')}`;
  if (Object.keys(problems).length) return { settings: null, problems };
  const values = Object.fromEntries((Object.keys(LM_TRAIN_FIELDS) as LmTrainField[]).map((k) => [k, Number(texts[k])])) as Record<
    LmTrainField,
    number
  >;
  return { settings: { targets: [...targets], values }, problems: null };
}

/** The spec of one run (what `garden train` would run on the same files): cosine, 10 % warm-up, weight decay 0.01. */
export function lmTrainSpec(
  s: LmTrainSettings,
  baseName: string,
  files: readonly string[],
): TrainSpec & { text: NonNullable<TrainSpec['text']> } {
  const v = s.values;
  return {
    base: baseName,
    data: { train: files[0] },
    suites: [],
    text: {
      train: [...files],
      validation: [],
      seqLen: v.seqLen,
      validationSplit: v.split,
      evalEvery: v.evalEvery,
      patience: v.patience,
      suiteTexts: [],
    },
    adapter: { r: v.r, alpha: v.alpha, dropout: v.dropout, targetModules: [...s.targets], modulesToSave: [], useRslora: false },
    train: {
      steps: v.steps,
      batch: v.batch,
      lr: v.lr,
      schedule: 'cosine',
      warmupSteps: Math.floor(v.steps / 10),
      weightDecay: 0.01,
      seed: v.seed,
    },
  };
}

/** The user's texts: the pasted box (when not blank) and each dropped .txt/.md file, as named texts with their SHA-256. */
export function userTexts(pasted: string, files: readonly { name: string; text: string }[]): TextFile[] {
  const all = [...(pasted.trim() ? [{ name: 'pasted.txt', text: pasted }] : []), ...files];
  return all.map((f) => ({ name: f.name, text: f.text, hash: sha256Hex(new TextEncoder().encode(f.text)) }));
}

export type LmRunStatus = 'idle' | 'preparing' | 'running' | 'paused' | 'done' | 'cancelled' | 'failed';

export interface LmTrainState {
  pasted: string;
  files: { name: string; text: string }[];
  heldOut: string;
  status: LmRunStatus;
  step: number;
  total: number;
  elapsedMs: number;
  prepared: LmTrainProgress['prepared'] | null;
  trainLoss: { step: number; loss: number }[];
  validation: { step: number; loss: number }[];
  message: string | null;
  result: (Omit<LmTrainOutcome, 'bytes' | 'documents'> & { candidateId: string; candidateName: string }) | null;
}

const FRESH = {
  step: 0,
  total: 0,
  elapsedMs: 0,
  prepared: null,
  trainLoss: [],
  validation: [],
  message: null,
  result: null,
} satisfies Partial<LmTrainState>;

export const useLmTrain = create<LmTrainState>()(() => ({ pasted: '', files: [], heldOut: '', status: 'idle', ...FRESH }));
const set = useLmTrain.setState;
const get = useLmTrain.getState;

export const lmTrainRunning = (s: LmRunStatus) => s === 'preparing' || s === 'running' || s === 'paused';

/** Read dropped or picked files: .txt and .md only (one line for any other), each as UTF-8. */
export async function addTextFiles(files: readonly File[]): Promise<void> {
  const bad = files.filter((f) => !TEXT_FILE.test(f.name));
  if (bad.length) {
    set({
      message: `Only .txt and .md files are read; ${bad.map((f) => f.name).join(', ')} ${bad.length === 1 ? 'was' : 'were'} not added.`,
    });
  }
  const read: { name: string; text: string }[] = [];
  for (const f of files.filter((x) => TEXT_FILE.test(x.name))) {
    try {
      read.push({ name: f.name, text: new TextDecoder('utf-8', { fatal: true }).decode(await f.arrayBuffer()) });
    } catch {
      set({ message: `${f.name} is not UTF-8 text: it was not added.` });
    }
  }
  const names = new Set(read.map((r) => r.name));
  set((s) => ({ files: [...s.files.filter((f) => !names.has(f.name)), ...read] }));
}

export function removeTextFile(name: string): void {
  set((s) => ({ files: s.files.filter((f) => f.name !== name) }));
}

/** Every frozen suite text of the starter family, each checked against the manifest's SHA-256 (the wall's other side). */
async function suiteTexts(): Promise<{ name: string; text: string }[]> {
  const m = await starterTextManifest();
  if (!m || m.suites.length === 0) throw new Error('this build has no starter text suites, so the text cannot be checked against them');
  return Promise.all(m.suites.map(async (s) => ({ name: s.file, text: (await starterSuiteText(s)).text })));
}

/** A stored text model as the one-shard .slm `garden import` writes (its SHA-256 is the lab's lineage identity). */
async function storedSlm(m: TextModelEntry): Promise<Uint8Array> {
  const tensors = await (await textStore()).loadModel(m.id);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const model: ImportedModel = {
    format: 'safetensors',
    tensors: tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })) as ImportedModel['tensors'],
    read: async (n) => byName.get(n)!.data,
    graph: null,
    graphHash: m.graphHash,
    vocabulary: [],
    metadata: m.metadata,
    species: m.species,
  };
  const parts: Uint8Array[] = [];
  for await (const c of toSlm(model, { maxShardBytes: Number.MAX_SAFE_INTEGER })) parts.push(c.bytes);
  return concatBytes(parts);
}

let busy = false;
/** Cancel was asked during this run (kept on the page: a Cancel before the worker starts, or after it returns, counts too). */
let cancelAsked = false;

/** Throws TrainCancelled (as the worker does) when Cancel was asked: nothing is stored. */
function stopIfCancelled(at: string): void {
  if (!cancelAsked) return;
  const e = new Error(`cancelled ${at}: nothing was kept`);
  e.name = 'TrainCancelled';
  throw e;
}
/** The last run's PEFT files, for the download. */
let adapterFiles: { config: string; weights: Uint8Array; manifest: string } | null = null;

function onProgress(p: LmTrainProgress): void {
  set((s) => ({
    status: lmTrainRunning(s.status) ? (p.paused ? 'paused' : 'running') : s.status,
    step: p.step,
    total: p.total,
    elapsedMs: p.elapsedMs,
    prepared: p.prepared ?? s.prepared,
    trainLoss: p.losses.length ? [...s.trainLoss, ...p.losses] : s.trainLoss,
    validation: p.validation ? [...s.validation, p.validation] : s.validation,
  }));
}

/** Train a LoRA of `base` on the user's texts; the candidate joins the text pool. A second call while one runs is ignored. */
export async function startLmTraining(base: TextModelEntry, settings: LmTrainSettings): Promise<void> {
  if (busy) return;
  busy = true;
  cancelAsked = false;
  set({ status: 'preparing', ...FRESH });
  try {
    const { pasted, files, heldOut } = get();
    const train = userTexts(pasted, files);
    if (train.length === 0) throw new Error('paste some text or drop a .txt or .md file first');
    const spec = lmTrainSpec(
      settings,
      base.name,
      train.map((t) => t.name),
    );
    set({ total: spec.train.steps });
    const job = {
      spec,
      base: { name: base.name, slm: await storedSlm(base) },
      train,
      validation: [],
      suiteTexts: await suiteTexts(),
      ...(heldOut.trim() ? { heldOut: { name: 'held-out text', text: heldOut } } : {}),
    };
    stopIfCancelled('before the first step');
    const out = await trainWorker().trainLm(Comlink.transfer(job, [job.base.slm.buffer as ArrayBuffer]), Comlink.proxy(onProgress));
    stopIfCancelled('after the last step');
    const stored = await storeTrained(base, out, settings);
    adapterFiles = { config: out.config, weights: out.weights, manifest: JSON.stringify(out.manifest, null, 2) };
    const { bytes: _b, documents: _d, ...rest } = out;
    set({ status: 'done', result: { ...rest, candidateId: stored.id, candidateName: stored.name } });
  } catch (e) {
    const err = e as Error;
    if (err.name === 'TrainCancelled') set({ status: 'cancelled', message: `Training ${err.message}.` });
    else set({ status: 'failed', message: `Training failed: ${err.message.replace(/\.$/, '')}. Nothing was stored.` });
  } finally {
    busy = false;
  }
}

/** The candidate read back as any .slm is (species, config and tokenizer checked), stored in the text pool with its lineage. */
async function storeTrained(base: TextModelEntry, out: LmTrainOutcome, s: LmTrainSettings): Promise<TextModelEntry> {
  const lm = causalLmFromModel(await importSlm([bytesSource(out.bytes, 'trained.slm')]));
  const v = s.values;
  const number = useText.getState().models.filter((m) => m.lineage).length + 1;
  const name = `#${number} Trained · LoRA r${v.r} α${v.alpha} on ${s.targets.length === LM_TARGETS.length ? 'all 7 layers' : s.targets.join('+')} · seed ${v.seed} · ${base.name}`;
  const stored = await storeTextModel(
    { summary: summarize(lm, name, []), refused: null, lm },
    {
      operator: { ...TRAIN_OPERATOR },
      params: { ...out.params },
      seed: v.seed,
      parents: [base.id],
      parentHashes: [out.baseHash],
      hash: out.hash,
      lineageKey: out.lineageKey,
      receipt: out.records.receipt,
      breedMs: out.ms,
      backend: out.engine,
    },
    [out.documents.lineage, out.documents.receipt, out.documents.candidate],
  );
  await refreshTextModels();
  return stored;
}

export function pauseLmTraining(): void {
  if (get().status === 'running') void trainWorker().pause();
}
export function resumeLmTraining(): void {
  if (get().status === 'paused') void trainWorker().resume();
}
export function cancelLmTraining(): void {
  if (!busy) return;
  cancelAsked = true;
  void trainWorker().cancel();
}

/** The adapter in PEFT's layout (adapter_config.json, adapter_model.safetensors) and the training manifest, as downloads. */
export function downloadLmAdapter(): void {
  if (!adapterFiles) return;
  saveFile(ADAPTER_CONFIG, new TextEncoder().encode(adapterFiles.config), 'application/json');
  saveFile(ADAPTER_WEIGHTS, adapterFiles.weights);
  saveFile(TRAINING_MANIFEST, new TextEncoder().encode(adapterFiles.manifest), 'application/json');
}
