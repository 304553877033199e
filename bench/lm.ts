/**
 * Causal-LM inference in Node (onnxruntime-web, wasm EP, one thread): the starter LM base
 * (public/starter/lm/base, when built) and a random-weight model shaped like SmolLM-135M (hidden
 * 576, 9 heads / 3 kv heads, head_dim 64, intermediate 1536, vocabulary 49152, tied; BF16 as
 * stored), both decoder variants, prefill and decode timed separately.
 *
 * Decode reads every weight once per token, so it is also reported as weight bytes per second over
 * the copy bandwidth measured in the same run (a TypedArray.set of 512 MiB; the weights counted as
 * the session holds them: f32 for float tensors, the BF16 → f32 casts being folded at session
 * creation; for the int8 / int4 rows the quantized bytes plus their f32 scales, with the f32
 * embedding / tied head). Each SmolLM-shaped row prints PASS or MISS against issue 18's ≥ 0.5.
 *
 * The quantized model also runs on the garden's own decoder (variant "garden wasm-SIMD",
 * src/runtime/simd-decoder.ts): every linear layer a hand-assembled wasm-SIMD matvec that reads the
 * int8 / int4 bytes with f32 activations (src/cpu/simd-matvec.ts), same byte count; on one thread,
 * then (variant "garden wasm-SIMD, 2 threads") each matvec's rows split over this thread and one
 * worker on a shared memory. bench/lm-simd-threads.ts times only these rows, with a copy right
 * before and after each.
 *
 * The ONNX quantized rows are slow on onnxruntime-web 1.30's wasm build, whatever the graph: its MLAS has
 * no QNBitGemm kernels for wasm, so MatMulNBits (any accuracy_level: 4 falls back as 0 does)
 * dequantizes the whole weight to a fresh f32 K×N buffer on every call, then runs an SGEMM
 * (matmul_nbits.cc ComputeBUnpacked), and a blocked DequantizeLinear does the same work in-graph.
 *
 * `npm run bench` runs it as a section (benchLm); alone:
 * `npx tsx bench/lm.ts [--smoke] [--layers N] [--json] [--no-browser] [--no-breed]` (--smoke: 2 layers,
 * a short prompt). It also runs the streamed 135M BF16 TIES breed (bench/lm-breed.ts) and the same
 * models in Chromium (bench/lm-browser.ts: wasm and WebGPU EPs).
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createCausalLmSession } from '../src/runtime/causal-lm-session.ts';
import { copyBandwidth, decodeVerdict, SIMD_VARIANT, smolShaped, STARTER_LM, timeModel, YARDSTICK_BYTES, type LmRow } from './lm-common.ts';
import { openCausalLm } from '../src/node/hf-folder.ts';
import { loadTensors } from '../src/core/format/model.ts';
import { quantizeCausalLm } from '../src/core/models/llama-quantize.ts';
import { benchLmBreed, lmBreedLine, type LmBreedRow } from './lm-breed.ts';
import type { LmBrowserBench } from './lm-browser.ts';

export type { LmRow } from './lm-common.ts';

export interface LmBench {
  runtime: string;
  copyBytesPerSecond: number;
  rows: LmRow[];
  /** The streamed 135M BF16 three-parent TIES breed (bench/lm-breed.ts). */
  breed?: LmBreedRow;
  /** The same models in Chromium, wasm and WebGPU EPs (bench/lm-browser.ts). */
  browser?: LmBrowserBench;
}

/** The Chromium rows and the streamed breed, as markdown lines for docs/BENCHMARKS.md (report.ts). */
export function lmExtraMarkdown(lm: LmBench): string[] {
  const L: string[] = [];
  const b = lm.browser;
  if (b) {
    L.push(`#### In ${b.browser} (onnxruntime-web's browser build; copy yardstick measured in each page)`);
    L.push('');
    L.push('| where | model | decoder | session ms | prefill tokens/s | decode tokens/s | page copy GB/s | decode weight bytes/s ÷ copy |');
    L.push('|---|---|---|---:|---:|---:|---:|---:|');
    for (const run of b.runs)
      for (const r of run.rows)
        L.push(
          `| ${r.ep ?? run.ep} | ${r.model} | ${r.variant} | ${r.sessionMs} | ${r.prefillTps} (${r.prefillTokens}) | ${r.decodeTps} (${r.decodeTokens}) | ${(run.copyBytesPerSecond / 1e9).toFixed(2)} | ${r.overCopy.toFixed(3)}${decodeVerdict(r)} |`,
        );
    L.push('');
    for (const n of b.notes) L.push(`- ${n}`);
    if (b.notes.length) L.push('');
  }
  if (lm.breed) {
    L.push('#### Streamed TIES breed of 135M BF16 language models, file to file (bench/lm-breed.ts)');
    L.push('');
    L.push(`- ${lmBreedLine(lm.breed)}`);
    L.push('');
  }
  return L;
}

export { LM_DECODE_TARGET, decodeVerdict } from './lm-common.ts';

export { STARTER_LM } from './lm-common.ts';

/** Both models, both decoder variants, against one copy yardstick (a small model's weights may sit in the caches, above 1.0). */
export async function benchLm(o: {
  smoke: boolean;
  layers?: number;
  log?: (s: string) => void;
  /** The streamed breed (default true) and the Chromium rows (default: unless --no-browser is on the command line). */
  breed?: boolean;
  browser?: boolean;
}): Promise<LmBench> {
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
    const qcfg = { ...smol.cfg, quantBlockSize: 32 };
    rows.push(...(await timeModel(`${name}, ${scheme} block 32`, qcfg, q, { promptTokens, decodeTokens, copy })));
    // The garden's own decoder: every linear layer a wasm-SIMD matvec reading the int8 / int4 bytes with f32 activations.
    o.log?.(`  ${name}, ${scheme} block 32, ${SIMD_VARIANT} (1 and 2 threads)`);
    rows.push(...(await timeModel(`${name}, ${scheme} block 32`, qcfg, q, { promptTokens, decodeTokens, copy, simd: true })));
  }
  const out: LmBench = { runtime: 'onnxruntime-web wasm, 1 thread, Node', copyBytesPerSecond: Math.round(copy), rows };
  if (o.breed ?? true) {
    o.log?.('  a streamed TIES breed of 135M-shaped BF16 language models, file to file (bench/lm-breed.ts)');
    out.breed = await benchLmBreed({ smoke: o.smoke, log: o.log });
    o.log?.(`  ${lmBreedLine(out.breed)}`);
  }
  // `npm run bench -- --no-browser` (bench/run.ts) and `bench/lm.ts --no-browser` keep to Node.
  if (o.browser ?? !process.argv.includes('--no-browser')) {
    o.log?.('  in Chromium: onnxruntime-web wasm and WebGPU EPs (bench/lm-browser.ts)');
    const { benchLmBrowser } = await import('./lm-browser.ts');
    out.browser = await benchLmBrowser({ smoke: o.smoke, log: o.log });
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const KNOWN = ['--smoke', '--layers', '--json', '--no-browser', '--no-breed'];
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
  const out = await benchLm({
    smoke: argv.includes('--smoke'),
    layers,
    breed: !argv.includes('--no-breed'),
    log: (s) => !argv.includes('--json') && console.log(s),
  });
  if (argv.includes('--json')) console.log(JSON.stringify(out, null, 2));
  else
    for (const x of [...out.rows, ...(out.browser?.runs.flatMap((r) => r.rows) ?? [])])
      console.log(
        `${x.ep ? `${x.ep} | ` : ''}${x.model} ${String(x.variant).padEnd(8)} session ${x.sessionMs} ms  prefill ${x.prefillTps} tok/s (${x.prefillTokens})  decode ${x.decodeTps} tok/s (${x.decodeTokens})  weights/copy ${x.overCopy} (${(x.decodeReadBytes / 1e6).toFixed(1)} MB a token)${decodeVerdict(x)}`,
      );
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));
