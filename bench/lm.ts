/**
 * `npx tsx bench/lm.ts [--smoke] [--layers N] [--json]`: causal-LM inference in Node (onnxruntime-web,
 * wasm EP, one thread) on a random-weight model shaped like SmolLM-135M (hidden 576, 9 heads / 3 kv
 * heads, head_dim 64, intermediate 1536, vocabulary 49152, tied; BF16 as stored), both decoder
 * variants, prefill and decode timed separately.
 *
 * Decode reads every weight once per token, so it is also reported as weight bytes per second over
 * the copy bandwidth measured in the same run (a TypedArray.set of a buffer the size of the
 * weights as the session holds them: f32, the BF16 → f32 casts being folded at session creation).
 * --smoke: 2 layers, a short prompt (seconds).
 */
import { expectedTensors, parseCausalLmConfig } from '../src/core/models/llama-config.ts';
import { LLAMA_GRAPH_VARIANTS, type LlamaGraphVariant } from '../src/core/models/llama-graph.ts';
import { mulberry32 } from '../src/core/seeded.ts';
import { byteLength, fromFloat32, numel } from '../src/core/tensor.ts';
import { createCausalLmSession } from '../src/runtime/causal-lm-session.ts';

const argv = process.argv.slice(2);
const KNOWN = ['--smoke', '--layers', '--json'];
for (const a of argv)
  if (a.startsWith('--') && !KNOWN.includes(a)) {
    console.error(`bench/lm: unknown option "${a}"; valid: ${KNOWN.join(', ')}`);
    process.exit(2);
  }
const smoke = argv.includes('--smoke');
const li = argv.indexOf('--layers');
const layers = li >= 0 ? Number(argv[li + 1]) : smoke ? 2 : 30;
if (!Number.isSafeInteger(layers) || layers < 1) {
  console.error(`bench/lm: --layers ${argv[li + 1]} is not a positive integer`);
  process.exit(2);
}
const promptTokens = smoke ? 16 : 128;
const decodeTokens = smoke ? 8 : 32;

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

async function main(): Promise<void> {
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
  const params = tensors.reduce((s, t) => s + numel(t.shape), 0);
  const stored = tensors.reduce((s, t) => s + byteLength(t.dtype, t.shape), 0);
  const f32Bytes = 4 * params;
  const copy = copyBandwidth(Math.min(f32Bytes, 1 << 30));
  const results: Record<string, unknown>[] = [];
  const prompt = Array.from({ length: promptTokens }, (_, i) => 3 + ((i * 7919) % (cfg.vocabSize - 3)));
  // onnxruntime's first session in a process pays its wasm start-up: pay it on a one-layer model, untimed.
  const tiny = { ...cfg, numLayers: 1 };
  const warm = await createCausalLmSession(
    tiny,
    tensors.filter((t) => !t.name.startsWith('model.layers.') || t.name.startsWith('model.layers.0.')),
  );
  await warm.forward([1, 2]);
  await warm.release();
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
    for (let i = 0; i < decodeTokens; i++) await s.forward([prompt[i]]);
    const decodeMs = performance.now() - t;
    await s.release();
    const decodeTps = (decodeTokens / decodeMs) * 1000;
    results.push({
      variant,
      sessionMs: Math.round(sessionMs),
      prefillTokens: promptTokens,
      prefillTps: +((promptTokens / prefillMs) * 1000).toFixed(2),
      decodeTokens,
      decodeTps: +decodeTps.toFixed(2),
      weightBytesPerSecond: Math.round(decodeTps * f32Bytes),
      overCopy: +((decodeTps * f32Bytes) / copy).toFixed(3),
    });
  }
  const out = {
    model: `SmolLM-135M-shaped, ${layers} layers, BF16 stored, random weights`,
    params,
    storedBytes: stored,
    sessionF32Bytes: f32Bytes,
    copyBytesPerSecond: Math.round(copy),
    runtime: 'onnxruntime-web wasm, 1 thread, Node',
    results,
  };
  if (argv.includes('--json')) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(
      `${out.model}: ${(params / 1e6).toFixed(1)} M parameters, ${(stored / 2 ** 20).toFixed(0)} MiB stored, copy ${(copy / 1e9).toFixed(2)} GB/s`,
    );
    for (const x of results)
      console.log(
        `  ${String(x.variant).padEnd(8)} session ${x.sessionMs} ms  prefill ${x.prefillTps} tok/s (${promptTokens})  decode ${x.decodeTps} tok/s (${decodeTokens})  weights/copy ${x.overCopy}`,
      );
  }
}

await main();
