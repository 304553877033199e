/**
 * The text playground's logic (loaded lazily with its panel): a Hugging Face folder picked or
 * dropped (or the .slm the CLI imported or quantized from one) is read by the core's importer
 * (src/core/format/hf.ts; every check is its own), shown, then stored in the garden's IndexedDB
 * tensor store, each tensor in its own dtype; generation runs in the text worker
 * (workers/text.worker.ts), tokens streamed back as they come, with the runtime that answered.
 */
import * as Comlink from 'comlink';
import { create } from 'zustand';
import type { TextModelPayload, TextResult, TextStep, TextWorkerApi } from '../../workers/text.worker.ts';
import { causalLmFromModel, importHfFolder, type CausalLm, type HfFolder } from '../core/format/hf.ts';
import { importSlm, loadTensors } from '../core/format/model.ts';
import type { StoredTensorInput } from '../store/tensor-store.ts';
import { loadChatTemplate } from '../core/models/chat.ts';
import { tokenizerHash } from '../core/models/tokenizer.ts';
import type { SamplingOptions } from '../core/models/generate.ts';
import { byteLength, numel } from '../core/tensor.ts';
import { openIdbTensorStore, blobSource, type TensorStore } from '../store/index.ts';
import { fetchBytes } from './garden.ts';
import { LM_FAMILY } from './family.ts';
import { useGarden } from './state.ts';
import { supervised } from './worker-life.ts';

/** What is shown before a folder is stored, and kept with it. */
export interface TextModelSummary {
  name: string;
  architecture: string;
  layers: number;
  hidden: number;
  heads: string;
  vocab: number;
  maxPositions: number;
  params: number;
  dtypes: string[];
  bytes: number;
  tensors: number;
  tokenizerHash: string;
  species: string;
  graphHash: string;
  /** Whether tokenizer_config.json has a chat template that parses. */
  chat: boolean;
  files: string[];
}

export interface TextModelEntry extends TextModelSummary {
  /** The tensor store's content id of the model. */
  id: string;
  createdAt: string;
  /** The folder's JSON files under the .slm metadata keys (HF_KEYS). */
  metadata: Record<string, string>;
  /** A candidate bred in the LM lab (src/app/lm-lab.ts): how it was made; absent for an imported model. */
  lineage?: TextLineage;
}

/** How a bred text model was made: the recipe, its parents and the candidate file's identity. */
export interface TextLineage {
  operator: { id: string; version: string };
  params: Record<string, unknown>;
  seed: number;
  /** The parents' stored ids and their one-shard .slm hashes, base first. */
  parents: string[];
  parentHashes: string[];
  /** SHA-256 of the candidate .slm (what `garden breed` writes for the same recipe). */
  hash: string;
  lineageKey: string;
  /** Hashes of the breed's documents (lineage template, operator receipt, candidate manifest). */
  receipt: string;
  breedMs: number;
  backend: string;
}

export interface TextCheck {
  summary: TextModelSummary | null;
  refused: string | null;
  lm: CausalLm | null;
}

/** The largest text file read from a picked folder (Llama 3's tokenizer.json is about 9 MB). */
const TEXT_MAX = 64 * 1024 * 1024;

/**
 * Picked or dropped files as the importer's folder: plain names (a folder pick gives
 * "dir/config.json"; only the last part counts). Two files of one name are refused.
 */
export function folderOfFiles(files: readonly File[]): HfFolder {
  const byName = new Map<string, File>();
  for (const f of files) {
    const name = (f.webkitRelativePath || f.name).split('/').pop()!;
    if (byName.has(name)) throw new Error(`two files are named ${JSON.stringify(name)}: give the files of one folder`);
    byName.set(name, f);
  }
  const get = (name: string) => {
    const f = byName.get(name);
    if (!f) throw new Error(`the folder has no ${name}`);
    return f;
  };
  return {
    files: [...byName.keys()].sort(),
    open: async (name) => blobSource(get(name), name),
    async readText(name) {
      const f = get(name);
      if (f.size > TEXT_MAX) throw new Error(`${name} is ${f.size} bytes, over the ${TEXT_MAX}-byte limit for a text file`);
      return f.text();
    },
  };
}

/** The folder's name, from a folder pick's relative paths (a pick of files has none). */
export function folderName(files: readonly File[]): string {
  if (files.length && files.every((f) => f.name.endsWith('.slm'))) return files[0].name.replace(/(-\d+-of-\d+)?\.slm$/, '');
  const dir = files.find((f) => f.webkitRelativePath)?.webkitRelativePath.split('/')[0];
  return dir || `Text model of ${files.length} file${files.length === 1 ? '' : 's'}`;
}

function hasChatTemplate(tokenizerConfig: string | undefined): boolean {
  try {
    return loadChatTemplate(tokenizerConfig) !== null;
  } catch {
    return false;
  }
}

export function summarize(lm: CausalLm, name: string, files: string[]): TextModelSummary {
  const c = lm.config;
  const ts = lm.model.tensors;
  return {
    name,
    architecture: c.architecture,
    layers: c.numLayers,
    hidden: c.hiddenSize,
    heads: `${c.numHeads} query, ${c.numKvHeads} key/value`,
    vocab: c.vocabSize,
    maxPositions: c.maxPositionEmbeddings,
    params: ts.reduce((s, t) => s + numel(t.shape), 0),
    dtypes: [...new Set(ts.map((t) => t.dtype))].sort(),
    bytes: ts.reduce((s, t) => s + byteLength(t.dtype, t.shape), 0),
    tensors: ts.length,
    tokenizerHash: tokenizerHash({ tokenizer: lm.texts.tokenizer, config: lm.texts.tokenizerConfig }),
    species: lm.model.species,
    graphHash: lm.model.graphHash,
    chat: hasChatTemplate(lm.texts.tokenizerConfig),
    files,
  };
}

/** Read and check a folder with the core's importer (or the .slm shards `garden import` / `garden quantize` wrote of one); nothing is written. */
export async function checkTextFolder(files: readonly File[], name = folderName(files)): Promise<TextCheck> {
  try {
    if (!files.length) throw new Error('no file was given: pick or drop a Hugging Face model folder');
    if (files.every((f) => f.name.endsWith('.slm'))) {
      // A .slm carries the folder's JSON files in its metadata (and a quantized one its block size).
      const model = await importSlm(files.map((f) => blobSource(f, f.name)));
      const lm = causalLmFromModel(model);
      return { summary: summarize(lm, name, files.map((f) => f.name).sort()), refused: null, lm };
    }
    const folder = folderOfFiles(files);
    const lm = await importHfFolder(folder);
    return { summary: summarize(lm, name, [...folder.files]), refused: null, lm };
  } catch (e) {
    return { summary: null, refused: (e as Error).message, lm: null };
  }
}

/** A model of the starter text family (public/starter/lm/manifest.json, built by `npm run starter`). */
export interface StarterTextModel {
  id: string;
  role: 'base' | 'specialist';
  speciality?: string;
  folder: string;
  /** File name → SHA-256. */
  files: Record<string, string>;
}

const STARTER_LM = '/starter/lm';

/** A frozen text suite of the starter text family (public/starter/lm/suites, pinned by SHA-256). */
export interface StarterTextSuite {
  id: string;
  file: string;
  hash: string;
  bytes: number;
  description: string;
}

/** The starter text family's manifest (models and frozen suites), or null when this build has none. */
export async function starterTextManifest(): Promise<{ models: StarterTextModel[]; suites: StarterTextSuite[] } | null> {
  try {
    const r = await fetch(`${STARTER_LM}/manifest.json`);
    if (!r.ok || !(r.headers.get('content-type') ?? '').includes('json')) return null;
    const m = (await r.json()) as { models?: unknown; suites?: unknown };
    const models = Array.isArray(m.models) ? (m.models as StarterTextModel[]).filter((x) => x && typeof x.folder === 'string') : [];
    const suites = Array.isArray(m.suites)
      ? (m.suites as StarterTextSuite[]).filter((x) => x && typeof x.file === 'string' && /^[0-9a-f]{64}$/.test(String(x.hash)))
      : [];
    return { models, suites };
  } catch {
    return null;
  }
}

/** The starter text family's models, or none when this build has no starter text family. */
export async function starterTextModels(): Promise<StarterTextModel[]> {
  return (await starterTextManifest())?.models ?? [];
}

/** A frozen suite's text, checked against its pin. */
export async function starterSuiteText(s: StarterTextSuite): Promise<{ bytes: Uint8Array; text: string }> {
  const bytes = await fetchBytes(`${STARTER_LM}/${s.file.split('/').map(encodeURIComponent).join('/')}`, s.hash);
  return { bytes, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
}

/** A starter model's folder as files, each checked against the manifest's hash. */
export async function starterFiles(m: StarterTextModel): Promise<File[]> {
  return Promise.all(
    Object.entries(m.files).map(async ([name, hash]) => {
      const bytes = await fetchBytes(`${STARTER_LM}/${encodeURIComponent(m.folder)}/${encodeURIComponent(name)}`, hash);
      return new File([bytes as BlobPart], name);
    }),
  );
}

let store: Promise<TensorStore> | null = null;
/** The language-model family's tensor store (its own database, the name the text playground's store has had). */
export function textStore(): Promise<TensorStore> {
  store ??= openIdbTensorStore({ name: LM_FAMILY.databases.models });
  return store;
}

export async function listTextModels(): Promise<TextModelEntry[]> {
  const all = await (await textStore()).listModels();
  return all
    .map((m) => ({ ...(m.meta.entry as Omit<TextModelEntry, 'id'>), id: m.id }))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * Store a checked folder's tensors (in their own dtype) and files in one transaction; a bred
 * candidate's documents (lineage template, operator receipt, candidate manifest) with it; a
 * candidate bred into the store (the LM lab's breedStored) gives its tensors by hash (`storedTensors`).
 */
export async function storeTextModel(
  check: TextCheck,
  lineage?: TextLineage,
  manifests: readonly unknown[] = [],
  storedTensors?: readonly StoredTensorInput[],
): Promise<TextModelEntry> {
  if (!check.lm || !check.summary) throw new Error('nothing to store: the folder was refused');
  const tensors = storedTensors ?? (await loadTensors(check.lm.model));
  const meta: Omit<TextModelEntry, 'id'> = {
    ...check.summary,
    createdAt: new Date().toISOString(),
    metadata: check.lm.model.metadata,
    ...(lineage ? { lineage } : {}),
  };
  const r = await (await textStore()).putModel({ tensors, species: check.lm.model.species, graph: null, manifests, meta: { entry: meta } });
  const stored = r.created ? meta : ((await (await textStore()).matchModel(r.id))!.meta.entry as Omit<TextModelEntry, 'id'>);
  return { ...stored, id: r.id };
}

export async function deleteTextModel(id: string): Promise<void> {
  await (await textStore()).deleteModel(id);
  // Its decoder (the wasm-SIMD decoder's matvec workers with it) goes too.
  if (loadedId === id) {
    loadedId = null;
    await textWorker().release(id);
  }
}

export const textWorker = supervised<TextWorkerApi>(
  'text',
  () => new Worker(new URL('../../workers/text.worker.ts', import.meta.url), { type: 'module', name: 'text' }),
);

/** The model whose generation decoder the worker holds (released with it when the model is deleted). */
let loadedId: string | null = null;

/** Make the worker hold this model's session on the chosen execution provider; what answers there. */
async function ensureLoaded(m: TextModelEntry, ep: 'wasm' | 'webgpu'): Promise<{ ep: 'wasm' | 'webgpu'; runtime: string }> {
  const w = textWorker();
  loadedId = m.id;
  if (await w.isLoaded(m.id, ep)) return w.load({ id: m.id, ep } as TextModelPayload);
  const tensors = await (await textStore()).loadModel(m.id);
  const payload: TextModelPayload = { id: m.id, species: m.species, graphHash: m.graphHash, metadata: m.metadata, tensors, ep };
  // Handed over, not copied: the page keeps no tensors of a text model.
  const buffers = [...new Set(tensors.map((t) => t.data.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  return w.load(Comlink.transfer(payload, buffers));
}

export interface TextRequest extends SamplingOptions {
  /** A text prompt (encoded with the model's tokenizer), a user message (through its chat template) or token ids. */
  prompt: { text: string } | { chat: string } | { ids: number[] };
  maxNew: number;
}

export interface TextRun {
  model: TextModelEntry;
  ep: 'wasm' | 'webgpu' | null;
  /** The runtime that answered ("wasm-SIMD, 2 threads", "onnxruntime-web wasm"…), once loaded. */
  runtime: string | null;
  prompt: number[];
  ids: number[];
  text: string;
  status: 'loading' | 'running' | 'done' | 'failed';
  stop?: TextResult['stop'];
  error?: string;
  /** Tokens per second while decoding (after the first token). */
  tokensPerSecond: number | null;
  prefillMs?: number;
}

interface TextState {
  models: TextModelEntry[];
  run: TextRun | null;
  set(p: Partial<Omit<TextState, 'set'>>): void;
}

export const useText = create<TextState>()((set) => ({ models: [], run: null, set: (p) => set(p) }));

export async function refreshTextModels(): Promise<void> {
  useText.getState().set({ models: await listTextModels() });
}

const now = () => performance.now();

/** Generate with a stored model in the worker, streaming into useText's run. */
export async function runText(model: TextModelEntry, req: TextRequest): Promise<void> {
  const { set } = useText.getState();
  let run: TextRun = { model, ep: null, runtime: null, prompt: [], ids: [], text: '', status: 'loading', tokensPerSecond: null };
  const update = (p: Partial<TextRun>) => {
    run = { ...run, ...p };
    set({ run });
  };
  update({});
  try {
    const { ep, runtime } = await ensureLoaded(model, useGarden.getState().inference);
    const w = textWorker();
    const p = req.prompt;
    const prompt = 'ids' in p ? p.ids : 'chat' in p ? await w.encodeChat(p.chat) : await w.encode(p.text);
    if (prompt.length === 0) throw new Error('the prompt encodes to no tokens');
    if (prompt.length + req.maxNew > model.maxPositions)
      throw new Error(`${prompt.length} prompt tokens + ${req.maxNew} new exceed the model's ${model.maxPositions} positions`);
    update({ ep, runtime, prompt, status: 'running' });
    let first = 0;
    const onToken = (s: TextStep) => {
      // A step that arrives after the result, or after a later step, is stale.
      if (run.status !== 'running' || s.ids.length <= run.ids.length) return;
      const t = now();
      if (!first) first = t;
      const n = s.ids.length;
      update({ ids: s.ids, text: s.text, tokensPerSecond: n > 1 && t > first ? ((n - 1) / (t - first)) * 1000 : null });
    };
    const { prompt: _p, maxNew, ...sampling } = req;
    const r = await w.generate(prompt, { ...sampling, maxNew }, Comlink.proxy(onToken));
    const decoded = r.generated.length > 1 && r.decodeMs > 0 ? ((r.generated.length - 1) / r.decodeMs) * 1000 : run.tokensPerSecond;
    update({
      ids: r.generated,
      text: r.text,
      stop: r.stop,
      status: 'done',
      tokensPerSecond: decoded,
      prefillMs: r.prefillMs,
      ep: r.ep,
      runtime: r.runtime,
    });
  } catch (e) {
    update({ status: 'failed', error: (e as Error).message });
  }
}

export async function cancelText(): Promise<void> {
  await textWorker().cancel();
}
