/**
 * The CLI as one cached ESM bundle, so `garden` starts without tsx's per-module TypeScript loader
 * (about 0.5 s of every command's start on this project's machines, against ~0.05 s to load one
 * file). esbuild bundles cli/start.ts and every project file it imports into
 * node_modules/.cache/slm-garden-cli/ (inside the checkout, so the packages, left external,
 * resolve as they do from the sources); each file's `import.meta.url` is its own source URL, so
 * the paths and workers it names stay where they are. The bundle is used only while every input
 * it was built from (listed with its SHA-256 in the manifest beside it, with tsconfig.json and
 * esbuild's package.json; and the Node version) is unchanged, byte for byte; else it is built again, or, where
 * esbuild cannot build it, the caller runs the sources through tsx. GARDEN_CLI_BUNDLE=off turns
 * it off.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bumped when the way the bundle is built changes (the manifest must then be rebuilt). */
const RECIPE = 1;

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * The path of a bundle of `entry` (relative to `root`) that is current, building it when none
 * is; null when it cannot be built (no esbuild, a build error) or GARDEN_CLI_BUNDLE=off.
 */
export async function cliBundle(root = resolve(dirname(fileURLToPath(import.meta.url)), '..'), entry = 'cli/start.ts', env = process.env) {
  if (env.GARDEN_CLI_BUNDLE === 'off') return null;
  const dir = join(root, 'node_modules', '.cache', 'slm-garden-cli');
  const name = entry.replace(/[^A-Za-z0-9]+/g, '-');
  const out = join(dir, `${name}.mjs`);
  const manifestPath = join(dir, `${name}.json`);
  const stamp = { recipe: RECIPE, node: process.version };
  try {
    const m = JSON.parse(await readFile(manifestPath, 'utf8'));
    if (await current(root, m, stamp)) return out;
  } catch {
    // No manifest, or one that cannot be read: build.
  }
  return build(root, entry, dir, out, manifestPath, stamp).catch(() => null);
}

async function current(root, m, stamp) {
  if (m?.recipe !== stamp.recipe || m.node !== stamp.node || typeof m.inputs !== 'object' || !m.inputs) return false;
  const files = Object.entries(m.inputs);
  const same = await Promise.all(files.map(async ([f, h]) => sha256(await readFile(join(root, f))) === h));
  return files.length > 0 && same.every(Boolean);
}

async function build(root, entry, dir, out, manifestPath, stamp) {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    write: false,
    outfile: out,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'own-import-meta-url',
        setup(b) {
          b.onLoad({ filter: /\.[mc]?[jt]s$/ }, async (a) => {
            if (a.path.includes(`${join('node_modules', '')}`)) return undefined;
            const src = await readFile(a.path, 'utf8');
            return {
              contents: src.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)),
              loader: /\.[mc]?ts$/.test(a.path) ? 'ts' : 'js',
            };
          });
        },
      },
    ],
  });
  const inputs = {};
  // The TypeScript settings and esbuild itself (its package.json names its version) count as inputs.
  for (const f of [...Object.keys(r.metafile.inputs), 'tsconfig.json', join('node_modules', 'esbuild', 'package.json')])
    inputs[f] = sha256(await readFile(join(root, f)));
  await mkdir(dir, { recursive: true });
  // Written under temporary names and renamed, the bundle first: a reader sees a whole pair.
  const tmp = `.${process.pid}.${Date.now()}.tmp`;
  await writeFile(out + tmp, r.outputFiles[0].contents);
  await writeFile(manifestPath + tmp, JSON.stringify({ ...stamp, inputs }));
  try {
    await rename(out + tmp, out);
    await rename(manifestPath + tmp, manifestPath);
  } catch (e) {
    await rm(out + tmp, { force: true });
    await rm(manifestPath + tmp, { force: true });
    throw e;
  }
  return out;
}
