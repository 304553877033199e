/**
 * The Chromium page of the language-model bench (bundled by bench/bundle.ts, driven by
 * bench/lm-browser.ts): the same models and timing as Node (bench/lm-common.ts) in
 * onnxruntime-web's browser build, on its wasm EP (one thread, as in Node) or its WebGPU EP; or
 * (ep "wasm-simd") the garden's wasm-SIMD decoder on the int8 model, one and two threads, in a
 * worker of this page (bench/lm-simd-worker.ts). The copy yardstick is measured in this page (the
 * SIMD rows: in that worker), so each ratio compares figures of one process.
 */
import { describeAdapter } from '../src/gpu/device.ts';
import { parseSafetensors } from '../src/core/format/safetensors.ts';
import { parseCausalLmConfig, type CausalLmConfig } from '../src/core/models/llama-config.ts';
import type { Tensor } from '../src/core/tensor.ts';
import { sessionExecutionProvider } from '../src/runtime/ort-session.ts';
import { copyBandwidth, smolShaped, timeModel, type LmRow } from './lm-common.ts';
import type { LmSimdWorkerReply, LmSimdWorkerRequest } from './lm-simd-worker.ts';

export interface LmPageOptions {
  ep: 'wasm' | 'webgpu' | 'wasm-simd';
  /** Models to time: the starter base (served under /starter/) and/or the SmolLM-135M-shaped model with this many layers. */
  starter: boolean;
  smolLayers: number | null;
  promptTokens: number;
  decodeTokens: number;
  copyBytes: number;
}

export interface LmPageResult {
  ep: string;
  /** The WebGPU adapter, when the EP is WebGPU (null: none). */
  adapter: { info: string; software: boolean } | null;
  copyBytesPerSecond: number;
  rows: LmRow[];
  notes: string[];
}

async function starter(): Promise<{ cfg: CausalLmConfig; tensors: Tensor[]; name: string }> {
  const cfg = parseCausalLmConfig(await (await fetch('/starter/config.json')).json());
  const tensors = parseSafetensors(new Uint8Array(await (await fetch('/starter/model.safetensors')).arrayBuffer())).tensors;
  return { cfg, tensors, name: `starter LM base (${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, ${tensors[0]?.dtype ?? ''})` };
}

/** The wasm-SIMD decoder's rows (int8 block 32, SmolLM-shaped with `smolLayers` layers), 1 and 2 threads, in a worker. */
async function runSimd(o: LmPageOptions): Promise<LmPageResult> {
  const ep = `Chromium wasm-SIMD decoder (worker${crossOriginIsolated ? ', cross-origin isolated' : ''})`;
  if (o.smolLayers === null) return { ep, adapter: null, copyBytesPerSecond: 0, rows: [], notes: [] };
  console.log(`  ${ep}: SmolLM-135M-shaped, ${o.smolLayers} layers, int8 block 32 (1 and 2 threads)`);
  const worker = new Worker('/lm-simd-worker.js', { type: 'module', name: 'lm-simd' });
  try {
    const req: LmSimdWorkerRequest = {
      layers: o.smolLayers,
      promptTokens: o.promptTokens,
      decodeTokens: o.decodeTokens,
      copyBytes: o.copyBytes,
      matvecWorkerUrl: '/matvec-worker.js',
      ep,
    };
    const r = await new Promise<LmSimdWorkerReply>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<LmSimdWorkerReply>) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(`the wasm-SIMD bench worker failed: ${e.message}`));
      worker.postMessage(req);
    });
    if ('error' in r) return { ep, adapter: null, copyBytesPerSecond: 0, rows: [], notes: [`${ep}: ${r.error}`] };
    const gb = (x: number) => (x / 1e9).toFixed(2);
    return {
      ep,
      adapter: null,
      copyBytesPerSecond: Math.round(r.copyBefore),
      rows: r.rows,
      notes: [
        `${ep}: copy measured in the worker right before the rows ${gb(r.copyBefore)} GB/s (the ratios' yardstick), right after ${gb(r.copyAfter)} GB/s`,
      ],
    };
  } finally {
    worker.terminate();
  }
}

async function runLmBench(o: LmPageOptions): Promise<LmPageResult> {
  if (o.ep === 'wasm-simd') return runSimd(o);
  const notes: string[] = [];
  let adapter: LmPageResult['adapter'] = null;
  if (o.ep === 'webgpu') {
    const a = await navigator.gpu?.requestAdapter();
    if (!a)
      return { ep: 'webgpu', adapter: null, copyBytesPerSecond: 0, rows: [], notes: ['WebGPU EP: no WebGPU adapter in this Chromium'] };
    const d = describeAdapter(a);
    adapter = { info: d.adapterInfo, software: d.software };
  }
  const copy = copyBandwidth(o.copyBytes);
  const session = { numThreads: 1, wasmPaths: '/ort/', executionProviders: [o.ep] as ('wasm' | 'webgpu')[] };
  const ep = o.ep === 'wasm' ? 'Chromium wasm, 1 thread' : `Chromium WebGPU (${adapter!.software ? 'software: ' : ''}${adapter!.info})`;
  const rows: LmRow[] = [];
  const models: { cfg: CausalLmConfig; tensors: readonly Tensor[]; name: string }[] = [];
  if (o.starter) models.push(await starter());
  if (o.smolLayers !== null) {
    const s = smolShaped(o.smolLayers);
    models.push({ ...s, name: `SmolLM-135M-shaped, ${o.smolLayers} layers, BF16 stored, random weights` });
  }
  // The page's first session pays onnxruntime's wasm start-up (compile, EP init): pay it untimed.
  if (models.length)
    await timeModel('warm-up', models[0].cfg, models[0].tensors, { promptTokens: 4, decodeTokens: 1, copy, session }).catch(
      () => undefined,
    );
  for (const m of models) {
    try {
      console.log(`  ${ep}: ${m.name}`);
      rows.push(
        ...(await timeModel(m.name, m.cfg, m.tensors, { promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, copy, session, ep })),
      );
      // onnxruntime drops an EP it cannot start and runs on the next: say so rather than label wasm figures WebGPU.
      if (o.ep === 'webgpu' && sessionExecutionProvider(['webgpu']) !== 'webgpu') notes.push(`${m.name}: the WebGPU EP did not start`);
    } catch (e) {
      notes.push(`${ep}, ${m.name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { ep, adapter, copyBytesPerSecond: Math.round(copy), rows, notes };
}

(globalThis as unknown as { runLmBench: typeof runLmBench }).runLmBench = runLmBench;
