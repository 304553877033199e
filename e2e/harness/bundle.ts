/**
 * Bundles a harness entry (e2e/harness/kernels-entry.ts by default) for injection into a page. WGSL is imported with Vite's
 * `?raw` suffix in src/gpu; this plugin gives esbuild the same meaning (the file as a string).
 */
import { build, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const rawPlugin: Plugin = {
  name: 'vite-raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)),
      namespace: 'raw-text',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

/** The harness entry `file` (in e2e/harness/) as one IIFE script, WGSL inlined. */
export async function bundleKernelHarness(file = 'kernels-entry.ts'): Promise<string> {
  const entry = path.resolve(import.meta.dirname, file);
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2022',
    platform: 'browser',
    plugins: [rawPlugin],
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}
