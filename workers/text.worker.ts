/**
 * The text worker: a causal LM of a Hugging Face folder run in onnxruntime-web on the decoder
 * generated from its config (src/runtime/causal-lm-session.ts), with its own tokenizer; a
 * quantized model (garden quantize's "W.q" + "W.scales") on the wasm EP runs on the garden's
 * wasm-SIMD decoder instead (src/runtime/simd-decoder.ts: int8 / int4 read as stored), its
 * matvecs split over this worker and one nested matvec worker when cross-origin isolated
 * (src/cpu/matvec-browser.ts), where onnxruntime-web's MatMulNBits dequantizes every weight on
 * every token (docs/LANGUAGE-MODELS.md). Each result names the runtime that answered. Tokens
 * stream to the page as they are chosen; a cancel stops the run before the next token. The page
 * hands it the model's JSON files and tensors as data; the LM lab's breed alone opens a database,
 * the LM family's tensor store, to breed stored parents into it chunk by chunk (breedStored).
 */
import * as Comlink from 'comlink';
import { holdLife } from './life.ts';
import { createCausalLmSession, type OrtCausalLm } from '../src/runtime/causal-lm-session.ts';
import { sessionExecutionProvider } from '../src/runtime/ort-session.ts';
import { causalLmFromModel, type CausalLm } from '../src/core/format/hf.ts';
import type { ImportedModel } from '../src/core/format/model.ts';
import type { CausalDecoder } from '../src/core/models/decoder.ts';
import type { CausalLmConfig } from '../src/core/models/llama-config.ts';
import { isQuantizedModel } from '../src/core/models/quantized-graph.ts';
import { createSimdDecoder } from '../src/runtime/simd-decoder.ts';
import { webMatvecSpawn, webMatvecThreads } from '../src/cpu/matvec-browser.ts';
import { chatPromptIds, loadChatTemplate, type ChatTemplate } from '../src/core/models/chat.ts';
import { generate, type SamplingOptions } from '../src/core/models/generate.ts';
import type { Tensor } from '../src/core/tensor.ts';
import { BreedCancelled, type BreedProgress } from '../src/core/operators/breed.ts';
import { cpuBackend, type KernelBackend } from '../src/core/operators/backend.ts';
import { getOperator } from '../src/core/operators/registry.ts';
import { readSlm, type SlmFile } from '../src/core/format/slm.ts';
import { toSlm } from '../src/core/format/model.ts';
import { hfExportFiles, HF_SHARD_METADATA } from '../src/core/format/hf.ts';
import { writeSafetensorsRanges } from '../src/core/format/safetensors.ts';
import { STREAM_CHUNK_BYTES } from '../src/core/format/source.ts';
import { storedModelSource } from '../src/store/source.ts';
import { modelCard } from '../src/core/format/card.ts';
import { sha256Hex, sha256Stream } from '../src/core/hash.ts';
import { perplexity, type Perplexity } from '../src/core/models/perplexity.ts';
import { generationSmoke, type GenerationSmoke } from '../src/core/models/lm-smoke.ts';
import type { RecipeParams } from '../src/core/operators/types.ts';
import { concatBytes } from '../src/core/bytes.ts';
import { openIdbTensorStore } from '../src/store/idb-store.ts';
import { breedStored, storedParent, type StoredBreedResult, type StoredModelInfo, type StoredParent } from '../src/store/stored-breed.ts';

export interface TextModelPayload {
  /** The stored model's id; one session is kept warm per id and execution provider. */
  id: string;
  species: string;
  graphHash: string;
  /** The folder's JSON files as the .slm metadata keys carry them (HF_KEYS). */
  metadata: Record<string, string>;
  tensors: Tensor[];
  ep: 'wasm' | 'webgpu';
}

export interface TextStep {
  /** The ids generated so far (the callbacks travel on their own channel, so a late one is told by its length). */
  ids: number[];
  /** The whole continuation so far, decoded (special tokens skipped). */
  text: string;
}

export interface TextResult {
  prompt: number[];
  generated: number[];
  text: string;
  stop: 'eos' | 'length' | 'cancelled';
  prefillMs: number;
  decodeMs: number;
  ep: 'wasm' | 'webgpu';
  /** What answered: "wasm-SIMD, 2 threads" (the garden's decoder), "onnxruntime-web wasm" / "onnxruntime-web webgpu". */
  runtime: string;
}

const threads = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated
  ? Math.min(4, navigator.hardwareConcurrency || 1)
  : 1;

let loaded: {
  key: string;
  lm: CausalLm;
  decoder: CausalDecoder;
  ep: 'wasm' | 'webgpu';
  runtime: string;
  chat: ChatTemplate | null;
} | null = null;

/** The matvec workers of the wasm-SIMD decoder: nested module workers (Vite bundles the entry). */
const spawnMatvec = webMatvecSpawn(
  () => new Worker(new URL('../src/cpu/matvec-web-worker.ts', import.meta.url), { type: 'module', name: 'matvec' }),
);

/**
 * The decoder a model generates on: the wasm-SIMD decoder for a quantized model on the wasm EP
 * (min(2, cores) threads when cross-origin isolated, else one; one if the matvec workers cannot
 * start, said in the runtime), onnxruntime-web otherwise (float models, the WebGPU EP).
 */
async function textDecoder(
  config: CausalLmConfig,
  tensors: Tensor[],
  ep: 'wasm' | 'webgpu',
): Promise<{ decoder: CausalDecoder; ep: 'wasm' | 'webgpu'; runtime: string }> {
  if (ep === 'wasm' && isQuantizedModel(tensors)) {
    const want = webMatvecThreads();
    let note = '';
    let d;
    try {
      d = await createSimdDecoder(config, tensors, { threads: want, spawn: want > 1 ? spawnMatvec : undefined });
    } catch (e) {
      if (want === 1) throw e;
      note = ` (its ${want - 1} matvec worker${want > 2 ? 's' : ''} did not start: ${(e as Error).message})`;
      d = await createSimdDecoder(config, tensors, { threads: 1 });
    }
    return { decoder: d, ep: 'wasm', runtime: `wasm-SIMD, ${d.threads} thread${d.threads === 1 ? '' : 's'}${note}` };
  }
  const executionProviders = ep === 'webgpu' ? (['webgpu', 'wasm'] as const) : (['wasm'] as const);
  const decoder = await createCausalLmSession(config, tensors, { numThreads: threads, executionProviders });
  const used = sessionExecutionProvider(executionProviders);
  return { decoder, ep: used, runtime: `onnxruntime-web ${used}` };
}
let cancel = false;

/** Let the worker's message queue run (a Cancel) between tokens. */
const yieldTask = () => new Promise<void>((r) => setTimeout(r, 0));

function yielding(d: CausalDecoder): CausalDecoder {
  return {
    vocabSize: d.vocabSize,
    get length() {
      return d.length;
    },
    forward: async (ids) => {
      await yieldTask();
      return d.forward(ids);
    },
    reset: () => d.reset(),
    release: () => d.release(),
  };
}

/** A stored model held by the worker for breeding, scoring, routing and export (the LM lab, src/app/lm-lab.ts). */
interface Held {
  model: ImportedModel;
  tensors: Tensor[];
  lm: CausalLm;
  /** The one-shard .slm that `garden import` writes for this model (its lineage identity), built on first use. */
  slm?: SlmFile;
  scorer?: Promise<OrtCausalLm>;
}

export interface LmBreedRequest {
  operator: string;
  params: RecipeParams;
  seed: number;
  /** Stored models (ids in the tensor store) with what their .slm is written from, base first when the operator takes one (as the CLI's recipe orders them). */
  parents: ({ id: string } & StoredModelInfo)[];
}

export interface LmStoredBreedResult extends StoredBreedResult {
  /** The parents' one-shard .slm hashes, in breed order. */
  parentHashes: string[];
}

export interface LmWorkProgress {
  done: number;
  total: number;
  label: string;
}

export interface HfExportedFile {
  name: string;
  bytes: Uint8Array;
  sha256: string;
}

const held = new Map<string, Held>();
/** Stored parents' .slm identities by store id (a stored model's tensors never change). */
const parentSlm = new Map<string, StoredParent>();
let workCancel = false;

function heldModel(id: string): Held {
  const h = held.get(id);
  if (!h) throw new Error(`model ${id.slice(0, 12)}… is not held by the text worker`);
  return h;
}

function modelOf(m: Omit<TextModelPayload, 'ep' | 'id'>): ImportedModel {
  const byName = new Map(m.tensors.map((t) => [t.name, t]));
  return {
    format: 'safetensors',
    tensors: m.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })) as ImportedModel['tensors'],
    read: async (n) => byName.get(n)!.data,
    graph: null,
    graphHash: m.graphHash,
    vocabulary: [],
    metadata: m.metadata,
    species: m.species,
  };
}

async function slmOf(h: Held): Promise<SlmFile> {
  if (h.slm) return h.slm;
  const parts: Uint8Array[] = [];
  for await (const c of toSlm(h.model, { maxShardBytes: Number.MAX_SAFE_INTEGER })) parts.push(c.bytes);
  h.slm = readSlm(concatBytes(parts));
  return h.slm;
}

function scorer(h: Held): Promise<OrtCausalLm> {
  h.scorer ??= createCausalLmSession(h.lm.config, h.tensors, { numThreads: threads, executionProviders: ['wasm'] });
  return h.scorer;
}

/** The CPU reference backend, letting the message queue (a Cancel) run between tensors. */
const yieldingCpu: KernelBackend = {
  ...cpuBackend,
  run: async (op, inputs, params, ctx) => {
    await yieldTask();
    if (workCancel) throw new BreedCancelled();
    return cpuBackend.run(op, inputs, params, ctx);
  },
};

const api = {
  alive: holdLife,

  /** Keep a stored model's tensors here for the lab's work (the page hands them over once). */
  hold(m: Omit<TextModelPayload, 'ep'>): void {
    if (held.has(m.id)) return;
    const model = modelOf(m);
    held.set(m.id, { model, tensors: m.tensors, lm: causalLmFromModel(model) });
  },

  holds(id: string): boolean {
    return held.has(id);
  },

  /** Drop a model: its held tensors and scorer, and its generation decoder (the wasm-SIMD one's matvec workers stop). */
  async release(id: string): Promise<void> {
    const h = held.get(id);
    held.delete(id);
    await (await h?.scorer)?.release();
    if (loaded?.key.startsWith(`${id}:`)) {
      const old = loaded;
      loaded = null;
      await old.decoder.release();
    }
  },

  /** The held model's one-shard .slm hash (what a lineage names). */
  async slmHash(id: string): Promise<string> {
    return (await slmOf(heldModel(id))).hash;
  },

  /** A new piece of the lab's work begins: an earlier Cancel no longer applies. */
  beginWork(): void {
    workCancel = false;
  },

  /** Stop the lab's breed or scoring in progress (before its next tensor or window). */
  cancelWork(): void {
    workCancel = true;
  },

  /**
   * Breed stored models (their ids in the tensor store `db`, the LM family's IndexedDB) into that
   * store chunk by chunk on the CPU reference (breedStored: the candidate file `garden breed`
   * writes for the same recipe, never held), each parent named by the one-shard .slm toSlm writes
   * for it (storedParent, hashed from the store); progress per chunk and Cancel within one chunk,
   * leaving no record. The candidate's tensors stay unlisted until the page lists them (putModel).
   */
  async breedStored(db: string, req: LmBreedRequest, onProgress: (p: BreedProgress) => void): Promise<LmStoredBreedResult> {
    const signal = {
      get aborted() {
        return workCancel;
      },
    };
    const store = await openIdbTensorStore({ name: db });
    try {
      const parents = [];
      for (const p of req.parents) {
        const known = parentSlm.get(p.id);
        const sp = known ?? (await storedParent(store, p.id, p, signal));
        parentSlm.set(p.id, sp);
        parents.push(sp);
      }
      const op = getOperator(req.operator);
      const r = await breedStored(store, { operator: op.id, params: req.params, seed: req.seed, parents }, yieldingCpu, {
        onProgress,
        signal,
      });
      return { ...r, parentHashes: parents.map((p) => p.header.hash) };
    } finally {
      store.close();
    }
  },

  /** Drop candidate tensors a breedStored wrote that no model lists (the page could not store the candidate). */
  async discardStored(db: string, hashes: string[]): Promise<number> {
    const store = await openIdbTensorStore({ name: db });
    try {
      return await store.dropUnlisted(hashes);
    } finally {
      store.close();
    }
  },

  /** Perplexity (per token of the model's tokenizer, and bits per byte) of a held model on each text, in windows of `window` tokens. */
  async perplexity(
    id: string,
    texts: { name: string; text: string }[],
    window: number,
    onProgress: (p: LmWorkProgress) => void,
  ): Promise<Record<string, Perplexity & { ms: number }>> {
    const h = heldModel(id);
    const session = await scorer(h);
    const out: Record<string, Perplexity & { ms: number }> = {};
    // Progress in scored tokens over all the texts (each text scores all its tokens but the first).
    const total = texts.reduce((a, t) => a + Math.max(0, h.lm.tokenizer.encode(t.text).length - 1), 0);
    let done = 0;
    for (const t of texts) {
      onProgress({ done, total, label: t.name });
      const t0 = performance.now();
      const d: CausalDecoder = {
        vocabSize: session.vocabSize,
        get length() {
          return session.length;
        },
        forward: async (ids) => {
          await yieldTask();
          if (workCancel) throw new Error('evaluation cancelled');
          const logits = await session.forward(ids);
          onProgress({ done, total, label: t.name });
          return logits;
        },
        reset: () => session.reset(),
        release: () => session.release(),
      };
      out[t.name] = {
        ...(await perplexity(d, h.lm.tokenizer, t.text, { window, onToken: () => void done++ })),
        ms: performance.now() - t0,
      };
    }
    onProgress({ done, total, label: 'done' });
    return out;
  },

  /** The generation smoke of a held model: a greedy rollout after BOS with finite logits, a reachable EOS and the length limit kept. */
  async smoke(id: string, steps: number): Promise<GenerationSmoke> {
    const h = heldModel(id);
    const session = await scorer(h);
    session.reset();
    const prompt = h.lm.tokenizer.encode('The');
    return generationSmoke(session, prompt, { steps, eosTokenIds: h.lm.eosTokenIds });
  },

  /** Token ids of a text under a held model's tokenizer. */
  encodeWith(id: string, text: string): number[] {
    return heldModel(id).lm.tokenizer.encode(text);
  },

  /** The next-token logits of a held model after `ids` (what the text slot's selector routes). */
  async nextLogits(id: string, ids: number[]): Promise<Float32Array> {
    const h = heldModel(id);
    const session = await scorer(h);
    session.reset();
    const logits = await session.forward(ids);
    const V = session.vocabSize;
    return Float32Array.from(logits.subarray(logits.length - V));
  },

  /**
   * A stored model (its id in the tensor store `db`) as a Hugging Face folder: the JSON files
   * verbatim, the safetensors shards (each at most `maxShardBytes` unless one tensor alone is
   * larger) written from the store chunk by chunk (writeSafetensorsRanges: no tensor read whole),
   * with their index, and a README.md model card with lineage, operator, scores and every file's
   * SHA-256 (garden export --hf's files).
   */
  async exportHf(
    db: string,
    stored: { id: string } & StoredModelInfo,
    o: { maxShardBytes: number; name: string; baseModels: string[]; scores: string[] },
  ): Promise<HfExportedFile[]> {
    const store = await openIdbTensorStore({ name: db });
    try {
      const source = await storedModelSource(store, stored.id);
      const model: ImportedModel = {
        format: 'safetensors',
        tensors: source.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
        read: () => Promise.reject(new Error('the exported model is read from the store by range')),
        graph: null,
        graphHash: stored.graphHash,
        vocabulary: stored.vocabulary ?? [],
        metadata: stored.metadata,
        species: stored.species,
      };
      const lm = causalLmFromModel(model);
      const enc = new TextEncoder();
      const files: HfExportedFile[] = [];
      for (const f of hfExportFiles(lm, o.maxShardBytes)) {
        if ('text' in f) {
          const bytes = enc.encode(f.text);
          files.push({ name: f.name, bytes, sha256: sha256Hex(bytes) });
          continue;
        }
        const parts: Uint8Array[] = [];
        const hs = sha256Stream();
        for await (const b of writeSafetensorsRanges(
          f.shard,
          (n, at, len) => source.read(n, at, len),
          HF_SHARD_METADATA,
          STREAM_CHUNK_BYTES,
        )) {
          parts.push(b.slice());
          hs.update(b);
        }
        files.push({ name: f.name, bytes: concatBytes(parts), sha256: hs.digestHex() });
      }
      const m = model.metadata;
      const operator = m['garden.operator'];
      const c = lm.config;
      const card = modelCard({
        name: o.name,
        baseModels: o.baseModels,
        mergeMethod: operator,
        tags: ['text-generation', c.architecture],
        species: model.species,
        files: files.map((f) => ({ name: f.name, sha256: f.sha256 })),
        tensors: model.tensors,
        description: [
          `A ${c.architecture} (${c.numLayers} layers, hidden ${c.hiddenSize}, vocabulary ${c.vocabSize}) exported from SLM Garden${operator ? `, made with the \`${operator}\` operator` : ''}.`,
          ...(m['garden.lineage'] ? ['', `Lineage key: \`${m['garden.lineage']}\`.`] : []),
          ...(m['garden.recipe'] ? ['', `Recipe: \`${m['garden.recipe']}\`.`] : []),
          ...(o.scores.length ? ['', '## Scores', '', ...o.scores.map((s) => `- ${s}`)] : []),
        ].join('\n'),
      });
      const cardBytes = enc.encode(card);
      files.push({ name: 'README.md', bytes: cardBytes, sha256: sha256Hex(cardBytes) });
      return Comlink.transfer(
        files,
        files.map((f) => f.bytes.buffer as ArrayBuffer),
      );
    } finally {
      store.close();
    }
  },

  /** Whether the model's session is warm (then `load` needs no tensors). */
  isLoaded(id: string, ep: 'wasm' | 'webgpu'): boolean {
    return loaded?.key === `${id}:${ep}`;
  },

  /** Build the session for a model (the previous one is released). Checks its species against its files. */
  async load(m: TextModelPayload): Promise<{ ep: 'wasm' | 'webgpu'; runtime: string; chat: boolean }> {
    const key = `${m.id}:${m.ep}`;
    if (loaded?.key === key) return { ep: loaded.ep, runtime: loaded.runtime, chat: loaded.chat !== null };
    const old = loaded;
    loaded = null;
    await old?.decoder.release();
    const lm = causalLmFromModel(modelOf(m));
    const chat = loadChatTemplate(lm.texts.tokenizerConfig);
    const d = await textDecoder(lm.config, m.tensors, m.ep);
    loaded = { key, lm, chat, ...d };
    return { ep: loaded.ep, runtime: loaded.runtime, chat: chat !== null };
  },

  /** Token ids of a text prompt, with the tokenizer's special tokens (BOS…). */
  encode(text: string): number[] {
    if (!loaded) throw new Error('no model is loaded');
    return loaded.lm.tokenizer.encode(text);
  },

  /** Token ids of a user message through the model's chat template (with the generation prompt). */
  encodeChat(text: string): number[] {
    if (!loaded) throw new Error('no model is loaded');
    if (!loaded.chat) throw new Error("the model's tokenizer_config.json has no chat_template");
    return chatPromptIds(loaded.chat, loaded.lm.tokenizer, text);
  },

  /** Generate after `prompt`, streaming each token to `onToken`; stops at EOS, `maxNew` or a cancel. */
  async generate(prompt: number[], opts: SamplingOptions & { maxNew: number }, onToken: (step: TextStep) => void): Promise<TextResult> {
    if (!loaded) throw new Error('no model is loaded');
    const { lm, decoder, ep, runtime } = loaded;
    cancel = false;
    const generated: number[] = [];
    const signal = {
      get aborted() {
        return cancel;
      },
    };
    const g = await generate(yielding(decoder), prompt, {
      ...opts,
      eosTokenIds: lm.eosTokenIds,
      signal,
      onToken: (id) => {
        generated.push(id);
        onToken({ ids: [...generated], text: lm.tokenizer.decode(generated) });
      },
    });
    return {
      prompt,
      generated: g.generated,
      text: lm.tokenizer.decode(g.generated),
      stop: g.stop,
      prefillMs: g.prefillMs,
      decodeMs: g.decodeMs,
      ep,
      runtime,
    };
  },

  /** Stop the run in progress before its next token. */
  cancel(): void {
    cancel = true;
  },
};

export type TextWorkerApi = typeof api;
Comlink.expose(api);
