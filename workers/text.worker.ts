/**
 * The text worker: a causal LM of a Hugging Face folder run in onnxruntime-web on the decoder
 * generated from its config (src/runtime/causal-lm-session.ts), with its own tokenizer. Tokens
 * stream to the page as they are chosen; a cancel stops the run before the next token. The page
 * hands it the model's JSON files and tensors as data, never a database.
 */
import * as Comlink from 'comlink';
import { holdLife } from './life.ts';
import { createCausalLmSession, type OrtCausalLm } from '../src/runtime/causal-lm-session.ts';
import { sessionExecutionProvider } from '../src/runtime/ort-session.ts';
import { causalLmFromModel, type CausalLm } from '../src/core/format/hf.ts';
import type { ImportedModel } from '../src/core/format/model.ts';
import type { CausalDecoder } from '../src/core/models/decoder.ts';
import { chatPromptIds, loadChatTemplate, type ChatTemplate } from '../src/core/models/chat.ts';
import { generate, type SamplingOptions } from '../src/core/models/generate.ts';
import type { Tensor } from '../src/core/tensor.ts';

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
}

const threads = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated
  ? Math.min(4, navigator.hardwareConcurrency || 1)
  : 1;

let loaded: { key: string; lm: CausalLm; decoder: OrtCausalLm; ep: 'wasm' | 'webgpu'; chat: ChatTemplate | null } | null = null;
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

const api = {
  alive: holdLife,

  /** Whether the model's session is warm (then `load` needs no tensors). */
  isLoaded(id: string, ep: 'wasm' | 'webgpu'): boolean {
    return loaded?.key === `${id}:${ep}`;
  },

  /** Build the session for a model (the previous one is released). Checks its species against its files. */
  async load(m: TextModelPayload): Promise<{ ep: 'wasm' | 'webgpu'; chat: boolean }> {
    const key = `${m.id}:${m.ep}`;
    if (loaded?.key === key) return { ep: loaded.ep, chat: loaded.chat !== null };
    const old = loaded;
    loaded = null;
    await old?.decoder.release();
    const byName = new Map(m.tensors.map((t) => [t.name, t]));
    const model: ImportedModel = {
      format: 'safetensors',
      tensors: m.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })) as ImportedModel['tensors'],
      read: async (n) => byName.get(n)!.data,
      graph: null,
      graphHash: m.graphHash,
      vocabulary: [],
      metadata: m.metadata,
      species: m.species,
    };
    const lm = causalLmFromModel(model);
    const chat = loadChatTemplate(lm.texts.tokenizerConfig);
    const executionProviders = m.ep === 'webgpu' ? (['webgpu', 'wasm'] as const) : (['wasm'] as const);
    const decoder = await createCausalLmSession(lm.config, m.tensors, { numThreads: threads, executionProviders });
    loaded = { key, lm, decoder, ep: sessionExecutionProvider(executionProviders), chat };
    return { ep: loaded.ep, chat: chat !== null };
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
    const { lm, decoder, ep } = loaded;
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
    };
  },

  /** Stop the run in progress before its next token. */
  cancel(): void {
    cancel = true;
  },
};

export type TextWorkerApi = typeof api;
Comlink.expose(api);
