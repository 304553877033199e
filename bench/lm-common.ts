/**
 * The parts of the language-model bench that run anywhere (Node and the Chromium page,
 * bench/lm-page.ts): the SmolLM-135M-shaped random-weight model, the copy yardstick, and the
 * prefill / decode timing of one model on both decoder variants.
 */
import { expectedTensors, parseCausalLmConfig, type CausalLmConfig } from '../src/core/models/llama-config.ts';
import { LLAMA_GRAPH_VARIANTS, type LlamaGraphVariant } from '../src/core/models/llama-graph.ts';
import { mulberry32 } from '../src/core/seeded.ts';
import { byteLength, fromFloat32, numel, type Tensor } from '../src/core/tensor.ts';
import { createCausalLmSession, type CausalLmSessionOptions } from '../src/runtime/causal-lm-session.ts';
import { createSimdDecoder } from '../src/runtime/simd-decoder.ts';
import type { CausalDecoder } from '../src/core/models/decoder.ts';
import type { SpawnMatvecWorker } from '../src/cpu/simd-matvec.ts';

/** The variant name of the rows timed on the garden's wasm-SIMD decoder. */
export const SIMD_VARIANT = 'garden wasm-SIMD';
/** The same decoder with each matvec's rows split over this thread and one worker (shared memory). */
export const SIMD_VARIANT_2T = 'garden wasm-SIMD, 2 threads';

export interface LmRow {
  model: string;
  /** Where it ran, when not the section's runtime (the Chromium rows: "wasm", "webgpu (software: SwiftShader)"…). */
  ep?: string;
  params: number;
  storedBytes: number;
  /** The weights as f32 (4 bytes a parameter). */
  sessionF32Bytes: number;
  /**
   * Bytes of weights the session holds and decode reads once per token: f32 for the float tensors
   * (their BF16 / F16 → f32 casts are folded at session creation), the stored bytes for quantized
   * ones (I8 / I4 "W.q", F32 "W.scales"). weightBytesPerSecond and overCopy count these.
   */
  decodeReadBytes: number;
  /** The ONNX decoder variant, or the garden's own wasm-SIMD decoder (src/runtime/simd-decoder.ts). */
  variant: LlamaGraphVariant | typeof SIMD_VARIANT | typeof SIMD_VARIANT_2T;
  sessionMs: number;
  prefillTokens: number;
  prefillTps: number;
  decodeTokens: number;
  decodeTps: number;
  weightBytesPerSecond: number;
  overCopy: number;
}

/** The decode target of issue 18: weight bytes per second ≥ 0.5 of copy on the CPU path. */
export const LM_DECODE_TARGET = 0.5;

/** " PASS" / " MISS" against LM_DECODE_TARGET for the SmolLM-shaped rows (the starter LM sits in the caches: none). */
export function decodeVerdict(r: LmRow): string {
  if (!r.model.startsWith('SmolLM')) return '';
  return r.overCopy >= LM_DECODE_TARGET ? ` PASS (≥ ${LM_DECODE_TARGET})` : ` MISS (< ${LM_DECODE_TARGET})`;
}

/** The starter LM base's folder (npm run starter). */
export const STARTER_LM = 'public/starter/lm/base';

/** The copy yardstick's size: far larger than the caches. */
export const YARDSTICK_BYTES = 512 << 20;

/** Copy bandwidth: bytes per second of TypedArray.set over `bytes`, best of a few. */
export function copyBandwidth(bytes: number): number {
  const a = new Uint8Array(bytes).fill(1);
  const b = new Uint8Array(bytes);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    b.set(a);
    best = Math.min(best, performance.now() - t);
  }
  return bytes / (best / 1000);
}

export function smolShaped(layers: number, vocab = 49152): { cfg: CausalLmConfig; tensors: Tensor[] } {
  const cfg = parseCausalLmConfig({
    architectures: ['LlamaForCausalLM'],
    hidden_size: 576,
    intermediate_size: 1536,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    num_hidden_layers: layers,
    vocab_size: vocab,
    tie_word_embeddings: true,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    max_position_embeddings: 2048,
  });
  const r = mulberry32(1);
  const tensors = expectedTensors(cfg)
    .filter((t) => !t.optional)
    .map((t) =>
      fromFloat32(
        t.name,
        t.shape,
        Float32Array.from({ length: numel(t.shape) }, () => 0.04 * (r() - 0.5)),
        'BF16',
      ),
    );
  return { cfg, tensors };
}

export async function timeModel(
  model: string,
  cfg: CausalLmConfig,
  tensors: readonly Tensor[],
  o: {
    promptTokens: number;
    decodeTokens: number;
    copy: number;
    session?: CausalLmSessionOptions;
    ep?: string;
    /** Time the garden's wasm-SIMD decoder (one row each: one thread, then two) instead of the ONNX variants. */
    simd?: boolean;
    /** With simd: only the row of this many threads (1 or 2). */
    simdThreads?: 1 | 2;
    /** With simd: how the 2-thread row starts its matvec worker (default: Node's worker_threads; in a browser, matvec-browser.ts). */
    simdSpawn?: SpawnMatvecWorker;
  },
): Promise<LmRow[]> {
  const params = tensors.reduce((s, t) => s + numel(t.shape), 0);
  const storedBytes = tensors.reduce((s, t) => s + byteLength(t.dtype, t.shape), 0);
  const f32Bytes = 4 * params;
  const readBytes = tensors.reduce(
    (s, t) => s + (t.dtype === 'I8' || t.dtype === 'I4' ? byteLength(t.dtype, t.shape) : 4 * numel(t.shape)),
    0,
  );
  const prompt = Array.from({ length: o.promptTokens }, (_, i) => 3 + ((i * 7919) % (cfg.vocabSize - 3)));
  const rows: LmRow[] = [];
  const simdRows: LmRow['variant'][] = o.simdThreads
    ? [o.simdThreads === 1 ? SIMD_VARIANT : SIMD_VARIANT_2T]
    : [SIMD_VARIANT, SIMD_VARIANT_2T];
  const variants: LmRow['variant'][] = o.simd ? simdRows : (Object.keys(LLAMA_GRAPH_VARIANTS) as LlamaGraphVariant[]);
  for (const variant of variants) {
    let t = performance.now();
    const s: CausalDecoder =
      variant === SIMD_VARIANT || variant === SIMD_VARIANT_2T
        ? await createSimdDecoder(cfg, tensors, { threads: variant === SIMD_VARIANT ? 1 : 2, spawn: o.simdSpawn })
        : await createCausalLmSession(cfg, tensors, { ...o.session, variant });
    const sessionMs = performance.now() - t;
    await s.forward(prompt.slice(0, 4)); // warm-up
    s.reset();
    t = performance.now();
    await s.forward(prompt);
    const prefillMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < o.decodeTokens; i++) await s.forward([prompt[i]]);
    const decodeMs = performance.now() - t;
    await s.release();
    const decodeTps = (o.decodeTokens / decodeMs) * 1000;
    rows.push({
      model,
      ...(o.ep ? { ep: o.ep } : {}),
      params,
      storedBytes,
      sessionF32Bytes: f32Bytes,
      decodeReadBytes: readBytes,
      variant,
      sessionMs: Math.round(sessionMs),
      prefillTokens: o.promptTokens,
      prefillTps: +((o.promptTokens / prefillMs) * 1000).toFixed(2),
      decodeTokens: o.decodeTokens,
      decodeTps: +decodeTps.toFixed(2),
      weightBytesPerSecond: Math.round(decodeTps * readBytes),
      overCopy: +((decodeTps * readBytes) / o.copy).toFixed(3),
    });
  }
  return rows;
}
