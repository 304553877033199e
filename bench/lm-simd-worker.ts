/// <reference lib="webworker" />
/**
 * The wasm-SIMD decoder's rows of the Chromium language-model bench (started by bench/lm-page.ts):
 * the SmolLM-135M-shaped model quantized int8 block 32 (garden quantize's layout), timed on
 * src/runtime/simd-decoder.ts on one thread, then on two (this worker + one nested matvec worker,
 * src/cpu/matvec-browser.ts, on a shared memory). A worker, as in the app's text worker: the thread
 * that dispatches a matvec Atomics.waits for its helpers, which a page's main thread may not. The
 * copy yardstick is measured here, right before the rows and right after them.
 */
import { quantizeCausalLm } from '../src/core/models/llama-quantize.ts';
import { webMatvecSpawn } from '../src/cpu/matvec-browser.ts';
import { copyBandwidth, smolShaped, timeModel, type LmRow } from './lm-common.ts';

export interface LmSimdWorkerRequest {
  layers: number;
  promptTokens: number;
  decodeTokens: number;
  copyBytes: number;
  /** The bundled matvec worker (src/cpu/matvec-web-worker.ts). */
  matvecWorkerUrl: string;
  ep: string;
}

export type LmSimdWorkerReply = { rows: LmRow[]; copyBefore: number; copyAfter: number; isolated: boolean } | { error: string };

const scope = self as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = async (e: MessageEvent<LmSimdWorkerRequest>) => {
  const o = e.data;
  try {
    if (!crossOriginIsolated) throw new Error('the bench worker is not cross-origin isolated: no shared memory for two threads');
    const smol = smolShaped(o.layers);
    const q = quantizeCausalLm(smol.cfg, smol.tensors, 'int8', 32);
    const cfg = { ...smol.cfg, quantBlockSize: 32 };
    const name = `SmolLM-135M-shaped, ${o.layers} layers, int8 block 32, random weights`;
    const spawn = webMatvecSpawn(() => new Worker(o.matvecWorkerUrl, { type: 'module', name: 'matvec' }));
    const copyBefore = copyBandwidth(o.copyBytes);
    const rows = await timeModel(name, cfg, q, {
      promptTokens: o.promptTokens,
      decodeTokens: o.decodeTokens,
      copy: copyBefore,
      simd: true,
      simdSpawn: spawn,
      ep: o.ep,
    });
    const copyAfter = copyBandwidth(o.copyBytes);
    scope.postMessage({ rows, copyBefore, copyAfter, isolated: crossOriginIsolated } satisfies LmSimdWorkerReply);
  } catch (err) {
    scope.postMessage({ error: (err as Error).message || String(err) } satisfies LmSimdWorkerReply);
  }
};
