/**
 * The language-model bench in Chromium (bench/lm-page.ts): onnxruntime-web's browser build on the
 * wasm EP (one thread, as in Node) and on the WebGPU EP, the starter LM base and the
 * SmolLM-135M-shaped model, prefill and decode timed apart, decode as weight bytes per second over
 * a copy measured in the same page. A WebGPU adapter that is software (SwiftShader here) gives no
 * speed figure: it is timed on the starter LM only, with a short prompt, and labelled so. Then the
 * garden's wasm-SIMD decoder (what the app's text worker runs a quantized model on) on the
 * SmolLM-shaped model quantized int8 block 32, one thread and two, in a worker of a cross-origin
 * isolated page (bench/lm-simd-worker.ts; the second thread a nested matvec worker), each row
 * PASS / MISS against issue 18's ≥ 0.5 of copy.
 *
 * `npx tsx bench/lm-browser.ts [--smoke] [--json] [--simd-only]`; `npm run bench` runs it after the Node rows.
 */
import { chromium } from 'playwright-core';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHROMIUM } from '../scripts/ensure-chromium.mjs';
import { CHROMIUM_ARGS } from './browser.ts';
import { bundle } from './bundle.ts';
import { serve } from './server.ts';
import type { LmPageOptions, LmPageResult } from './lm-page.ts';
import { decodeVerdict, STARTER_LM } from './lm-common.ts';

export interface LmBrowserBench {
  browser: string;
  runs: LmPageResult[];
  notes: string[];
}

const root = fileURLToPath(new URL('..', import.meta.url));

function ortFiles(): Record<string, { type: string; body: Uint8Array }> {
  // The package exports no package.json; its Node entry lies in dist/ beside the wasm files.
  const dist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  const out: Record<string, { type: string; body: Uint8Array }> = {};
  for (const f of readdirSync(dist))
    if (f.startsWith('ort-wasm') && (f.endsWith('.wasm') || f.endsWith('.mjs')))
      out[`/ort/${f}`] = { type: f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', body: readFileSync(join(dist, f)) };
  return out;
}

export async function benchLmBrowser(o: { smoke: boolean; simdOnly?: boolean; log?: (s: string) => void }): Promise<LmBrowserBench> {
  const log = o.log ?? (() => undefined);
  const [page, simdWorker, matvecWorker] = await Promise.all([
    bundle(`${root}bench/lm-page.ts`),
    bundle(`${root}bench/lm-simd-worker.ts`),
    bundle(`${root}src/cpu/matvec-web-worker.ts`),
  ]);
  const haveStarter = existsSync(`${root}${STARTER_LM}/model.safetensors`);
  const starterFiles: Record<string, { type: string; body: Uint8Array }> = haveStarter
    ? {
        '/starter/config.json': { type: 'application/json', body: readFileSync(`${root}${STARTER_LM}/config.json`) },
        '/starter/model.safetensors': { type: 'application/octet-stream', body: readFileSync(`${root}${STARTER_LM}/model.safetensors`) },
      }
    : {};
  const server = await serve({
    '/': {
      type: 'text/html',
      body: '<!doctype html><meta charset="utf-8"><title>slm-garden lm bench</title><script type="module" src="/lm-page.js"></script>',
    },
    '/lm-page.js': { type: 'text/javascript', body: page },
    '/lm-simd-worker.js': { type: 'text/javascript', body: simdWorker },
    '/matvec-worker.js': { type: 'text/javascript', body: matvecWorker },
    '/favicon.ico': { type: 'image/x-icon', body: '' },
    ...ortFiles(),
    ...starterFiles,
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
  });
  const notes: string[] = haveStarter ? [] : [`${STARTER_LM} is not built: the starter LM is not timed in Chromium`];
  const runs: LmPageResult[] = [];
  try {
    const run = async (opts: LmPageOptions) => {
      const p = await browser.newPage();
      p.on('console', (m) => log(m.text()));
      p.on('pageerror', (e) => log(`lm page error: ${e.message}`));
      try {
        await p.goto(server.url + '/');
        await p.waitForFunction(() => 'runLmBench' in globalThis, null, { timeout: 30_000 });
        return (await p.evaluate(
          (x) => (globalThis as unknown as { runLmBench(y: typeof x): Promise<unknown> }).runLmBench(x),
          opts,
        )) as LmPageResult;
      } finally {
        await p.close();
      }
    };
    const tokens = o.smoke ? { promptTokens: 16, decodeTokens: 8 } : { promptTokens: 128, decodeTokens: 32 };
    const copyBytes = o.smoke ? 64 << 20 : 256 << 20;
    const simd = () => run({ ep: 'wasm-simd', starter: false, smolLayers: o.smoke ? 2 : 30, ...tokens, copyBytes });
    if (o.simdOnly) {
      runs.push(await simd());
      for (const r of runs) notes.push(...r.notes);
      return { browser: `Chromium ${browser.version()}`, runs, notes };
    }
    // wasm: both models (the smoke run: the starter only), each in a fresh page.
    runs.push(await run({ ep: 'wasm', starter: haveStarter, smolLayers: o.smoke ? null : 30, ...tokens, copyBytes }));
    // WebGPU: find out what the adapter is first; a software one times the starter LM only, briefly.
    const probe = await run({ ep: 'webgpu', starter: false, smolLayers: null, ...tokens, copyBytes: 1 << 20 });
    if (!probe.adapter) notes.push(...probe.notes);
    else if (probe.adapter.software && o.smoke) notes.push(`WebGPU EP on a software adapter (${probe.adapter.info}): not timed in --smoke`);
    else if (probe.adapter.software) {
      notes.push(
        `WebGPU EP on a software adapter (${probe.adapter.info}): not a speed figure; timed on the starter LM only, 16-token prompt, 8 decoded tokens`,
      );
      if (haveStarter)
        runs.push(await run({ ep: 'webgpu', starter: true, smolLayers: null, promptTokens: 16, decodeTokens: 8, copyBytes }));
    } else runs.push(await run({ ep: 'webgpu', starter: haveStarter, smolLayers: o.smoke ? null : 30, ...tokens, copyBytes }));
    // The garden's wasm-SIMD decoder on the int8 model (the smoke run: 2 layers, figures only).
    runs.push(await simd());
    for (const r of runs) notes.push(...r.notes);
    return { browser: `Chromium ${browser.version()}`, runs, notes };
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main(argv: string[]): Promise<number> {
  for (const a of argv)
    if (a !== '--smoke' && a !== '--json' && a !== '--simd-only') {
      console.error(`bench/lm-browser: unknown option "${a}"; valid: --smoke, --json, --simd-only`);
      return 2;
    }
  const json = argv.includes('--json');
  const r = await benchLmBrowser({
    smoke: argv.includes('--smoke'),
    simdOnly: argv.includes('--simd-only'),
    log: json ? undefined : console.log,
  });
  if (json) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(r.browser);
    for (const run of r.runs)
      for (const x of run.rows)
        console.log(
          `${x.ep} | ${x.model} ${x.variant}: session ${x.sessionMs} ms  prefill ${x.prefillTps} tok/s  decode ${x.decodeTps} tok/s  weights/copy ${x.overCopy} (copy ${(run.copyBytesPerSecond / 1e9).toFixed(2)} GB/s)${decodeVerdict(x)}`,
        );
    for (const n of r.notes) console.log(`note: ${n}`);
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));
