/**
 * Causal-LM inference in Node (onnxruntime-web, wasm EP, one thread): the starter LM base
 * (public/starter/lm/base, when built) and a random-weight model shaped like SmolLM-135M (hidden
 * 576, 9 heads / 3 kv heads, head_dim 64, intermediate 1536, vocabulary 49152, tied; BF16 as
 * stored), both decoder variants, prefill and decode timed separately.
 *
 * Decode reads every weight once per token, so it is also reported as weight bytes per second over
 * the copy bandwidth measured in the same run (a TypedArray.set of 512 MiB; the weights counted as
 * the session holds them: f32, the BF16 → f32 casts being folded at session creation).
 *
 * `npm run bench` runs it as a section (benchLm); alone:
 * `npx tsx bench/lm.ts [--smoke] [--layers N] [--json]` (--smoke: 2 layers, a short prompt).
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { expectedTensors, parseCausalLmConfig, type CausalLmConfig } from '../src/core/models/llama-config.ts';
import { LLAMA_GRAPH_VARIANTS, type LlamaGraphVariant } from '../src/core/models/llama-graph.ts';
import { mulberry32 } from '../src/core/seeded.ts';
import { byteLength, fromFloat32, numel, type Tensor } from '../src/core/tensor.ts';
import { createCausalLmSession } from '../src/runtime/causal-lm-session.ts';
import { openCausalLm } from '../src/node/hf-folder.ts';
import { loadTensors } from '../src/core/format/model.ts';
import { quantizeCausalLm } from '../src/core/models/llama-quantize.ts';

export interface LmRow {
  model: string;
  params: number;
  storedBytes: number;
  /** Bytes of weights the session holds (f32) and decode reads once per token. */
  sessionF32Bytes: number;
  variant: LlamaGraphVariant;
  sessionMs: number;
  prefillTokens: number;
  prefillTps: number;
  decodeTokens: number;
  decodeTps: number;
  weightBytesPerSecond: number;
  overCopy: number;
}

export interface LmBench {
  runtime: string;
  copyBytesPerSecond: number;
  rows: LmRow[];
}

/** The decode target of issue 18: weight bytes per second ≥ 0.5 of copy on the CPU path. */
export const LM_DECODE_TARGET = 0.5;

export const STARTER_LM = 'public/starter/lm/base';

/** The copy yardstick's size: far larger than the caches. */
const YARDSTICK_BYTES = 512 << 20;

/** Copy bandwidth: bytes per second of TypedArray.set over `bytes`, best of a few. */
function copyBandwidth(bytes: number): number {
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

function smolShaped(layers: number): { cfg: CausalLmConfig; tensors: Tensor[] } {
  const cfg = parseCausalLmConfig({
    architectures: ['LlamaForCausalLM'],
    hidden_size: 576,
    intermediate_size: 1536,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    num_hidden_layers: layers,
    vocab_size: 49152,
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

async function timeModel(
  model: string,
  cfg: CausalLmConfig,
  tensors: readonly Tensor[],
  o: { promptTokens: number; decodeTokens: number; copy: number },
): Promise<LmRow[]> {
  const params = tensors.reduce((s, t) => s + numel(t.shape), 0);
  const storedBytes = tensors.reduce((s, t) => s + byteLength(t.dtype, t.shape), 0);
  const f32Bytes = 4 * params;
  const copy = o.copy;
  const prompt = Array.from({ length: o.promptTokens }, (_, i) => 3 + ((i * 7919) % (cfg.vocabSize - 3)));
  const rows: LmRow[] = [];
  for (const variant of Object.keys(LLAMA_GRAPH_VARIANTS) as LlamaGraphVariant[]) {
    let t = performance.now();
    const s = await createCausalLmSession(cfg, tensors, { variant });
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
      params,
      storedBytes,
      sessionF32Bytes: f32Bytes,
      variant,
      sessionMs: Math.round(sessionMs),
      prefillTokens: o.promptTokens,
      prefillTps: +((o.promptTokens / prefillMs) * 1000).toFixed(2),
      decodeTokens: o.decodeTokens,
      decodeTps: +decodeTps.toFixed(2),
      weightBytesPerSecond: Math.round(decodeTps * f32Bytes),
      overCopy: +((decodeTps * f32Bytes) / copy).toFixed(3),
    });
  }
  return rows;
}

/** Both models, both decoder variants, against one copy yardstick (a small model's weights may sit in the caches, above 1.0). */
export async function benchLm(o: { smoke: boolean; layers?: number; log?: (s: string) => void }): Promise<LmBench> {
  const promptTokens = o.smoke ? 16 : 128;
  const decodeTokens = o.smoke ? 8 : 32;
  // One memory yardstick for every model: a copy far larger than the caches.
  const copy = copyBandwidth(YARDSTICK_BYTES);
  const rows: LmRow[] = [];
  const smol = smolShaped(o.layers ?? (o.smoke ? 2 : 30));
  // onnxruntime's first session in a process pays its wasm start-up: pay it on a one-layer model, untimed.
  const warm = await createCausalLmSession(
    { ...smol.cfg, numLayers: 1 },
    smol.tensors.filter((t) => !t.name.startsWith('model.layers.') || t.name.startsWith('model.layers.0.')),
  );
  await warm.forward([1, 2]);
  await warm.release();
  if (existsSync(STARTER_LM)) {
    const { lm, close } = await openCausalLm(STARTER_LM);
    try {
      const name = `starter LM base (${lm.config.numLayers} layers, hidden ${lm.config.hiddenSize}, ${lm.model.tensors[0]?.dtype ?? ''})`;
      o.log?.(`  ${name}`);
      rows.push(...(await timeModel(name, lm.config, await loadTensors(lm.model), { promptTokens, decodeTokens, copy })));
    } finally {
      await close();
    }
  } else o.log?.(`  ${STARTER_LM} is not built (npm run starter): the starter LM is not timed`);
  const name = `SmolLM-135M-shaped, ${smol.cfg.numLayers} layers, BF16 stored, random weights`;
  o.log?.(`  ${name}`);
  rows.push(...(await timeModel(name, smol.cfg, smol.tensors, { promptTokens, decodeTokens, copy })));
  // The same model quantized (garden quantize --scheme int8|int4 --block 32): linear weights dequantized
  // in-graph on every run (standard: DequantizeLinear) or read packed (fused: MatMulNBits).
  for (const scheme of ['int8', 'int4'] as const) {
    o.log?.(`  ${name}, ${scheme} block 32`);
    const q = quantizeCausalLm(smol.cfg, smol.tensors, scheme, 32);
    rows.push(
      ...(await timeModel(`${name}, ${scheme} block 32`, { ...smol.cfg, quantBlockSize: 32 }, q, { promptTokens, decodeTokens, copy })),
    );
  }
  return { runtime: 'onnxruntime-web wasm, 1 thread, Node', copyBytesPerSecond: Math.round(copy), rows };
}

async function main(argv: string[]): Promise<number> {
  const KNOWN = ['--smoke', '--layers', '--json'];
  for (const a of argv)
    if (a.startsWith('--') && !KNOWN.includes(a)) {
      console.error(`bench/lm: unknown option "${a}"; valid: ${KNOWN.join(', ')}`);
      return 2;
    }
  const li = argv.indexOf('--layers');
  const layers = li >= 0 ? Number(argv[li + 1]) : undefined;
  if (layers !== undefined && (!Number.isSafeInteger(layers) || layers < 1)) {
    console.error(`bench/lm: --layers ${argv[li + 1]} is not a positive integer`);
    return 2;
  }
  const out = await benchLm({ smoke: argv.includes('--smoke'), layers, log: (s) => !argv.includes('--json') && console.log(s) });
  if (argv.includes('--json')) console.log(JSON.stringify(out, null, 2));
  else
    for (const x of out.rows)
      console.log(
        `${x.model} ${String(x.variant).padEnd(8)} session ${x.sessionMs} ms  prefill ${x.prefillTps} tok/s (${x.prefillTokens})  decode ${x.decodeTps} tok/s (${x.decodeTokens})  weights/copy ${x.overCopy}`,
      );
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));
