/**
 * esbuild bundles of the in-browser bench entries. WGSL files are imported as `x.wgsl?raw`
 * (Vite's convention); the plugin loads them as text.
 */
import { build, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const wgslRaw: Plugin = {
  name: 'wgsl-raw',
  setup(b) {
    b.onResolve({ filter: /\.wgsl\?raw$/ }, (a) => ({
      path: resolve(a.resolveDir || dirname(a.importer), a.path.replace(/\?raw$/, '')),
      namespace: 'wgsl-raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'wgsl-raw' }, async (a) => ({ contents: await readFile(a.path, 'utf8'), loader: 'text' }));
  },
};

/** One ES-module bundle of `entry`, as text. */
export async function bundle(entry: string): Promise<string> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: false,
    logLevel: 'silent',
    plugins: [wgslRaw],
    // Node-only modules that shared files may import lazily are never reached in the page.
    external: ['node:*'],
  });
  return r.outputFiles[0].text;
}

/**
 * One ES-module bundle of `entry` for Node, written to `outfile` (WGSL inlined as text). `webgpu`
 * (and any other `external`) stays a runtime import, resolved from the project's node_modules so
 * that a bundle under .cache/ (or carried to a GPU machine by bench/gpu-host.sh) still finds it.
 */
export async function bundleForNode(entry: string, outfile: string, external: string[] = ['webgpu']): Promise<void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    logLevel: 'silent',
    plugins: [wgslRaw],
    external,
    nodePaths: [`${root}node_modules`],
  });
}

export { wgslRaw };
