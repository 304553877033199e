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
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bumped when the way the bundle is built changes (the manifest must then be rebuilt). */
const RECIPE = 2;

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
    if (await current(root, m, stamp, out)) return out;
  } catch {
    // No manifest, or one that cannot be read: build.
  }
  return build(root, entry, dir, out, manifestPath, stamp).catch(() => null);
}

async function current(root, m, stamp, out) {
  if (m?.recipe !== stamp.recipe || m.node !== stamp.node || typeof m.inputs !== 'object' || !m.inputs) return false;
  // The bundle is the one this manifest was written with (two builds at once rename in any order).
  if (sha256(await readFile(out)) !== m.bundle) return false;
  const files = Object.entries(m.inputs);
  const same = await Promise.all(files.map(async ([f, h]) => sha256(await readFile(join(root, f))) === h));
  return files.length > 0 && same.every(Boolean);
}

/** Files the bundle depends on that esbuild does not load: the TypeScript settings and esbuild itself (its package.json names its version). */
const SETTINGS = ['tsconfig.json', join('node_modules', 'esbuild', 'package.json')];

async function build(root, entry, dir, out, manifestPath, stamp) {
  const esbuild = await import('esbuild');
  const hashOf = async (f) => sha256(await readFile(join(root, f)));
  const settings = await Promise.all(SETTINGS.map(hashOf));
  // Each input's hash is taken from the very bytes esbuild was given, so a file saved during the
  // build makes the manifest disagree with it (and the next start builds again), never the reverse.
  const inputs = {};
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
          b.onLoad({ filter: /.*/ }, async (a) => {
            const rel = relative(root, a.path);
            if (rel.startsWith('..') || rel.split(sep)[0] === 'node_modules') return undefined;
            const bytes = await readFile(a.path);
            inputs[rel.split(sep).join('/')] = sha256(bytes);
            const src = bytes.toString('utf8');
            if (a.path.endsWith('.json')) return { contents: src, loader: 'json' };
            return {
              contents: src.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)),
              loader: /\.[mc]?ts$/.test(a.path) ? 'ts' : 'js',
            };
          });
        },
      },
    ],
  });
  for (const f of Object.keys(r.metafile.inputs))
    if (!(f in inputs)) throw new Error(`cli bundle: ${f} was not loaded through the hashing plugin`);
  // The settings did not move during the build.
  const after = await Promise.all(SETTINGS.map(hashOf));
  if (after.some((h, i) => h !== settings[i])) throw new Error('cli bundle: the settings changed during the build');
  SETTINGS.forEach((f, i) => (inputs[f] = settings[i]));
  const bundle = r.outputFiles[0].contents;
  await mkdir(dir, { recursive: true });
  // Written under temporary names and renamed; the manifest names the bundle's hash, so a pair
  // mixed by two builds at once is not used.
  const tmp = `.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(out + tmp, bundle);
    await writeFile(manifestPath + tmp, JSON.stringify({ ...stamp, bundle: sha256(bundle), inputs }));
    await rename(out + tmp, out);
    await rename(manifestPath + tmp, manifestPath);
  } catch (e) {
    await rm(out + tmp, { force: true });
    await rm(manifestPath + tmp, { force: true });
    throw e;
  }
  return out;
}
