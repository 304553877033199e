/**
 * `npm run bench -- --dawn`: bundles bench/dawn-entry.ts for Node and runs it in a child process.
 * On this machine the adapter is SwiftShader's Vulkan ICD (VK_ICD_FILENAMES, set below when the
 * caller did not set it and Debian's Chromium ships the ICD); on a machine with a GPU, Dawn finds
 * the real one.
 */
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wgslRaw } from './bundle.ts';
import type { CopyRow, KernelRow } from './common.ts';

const CHROMIUM_LIB = '/usr/lib/chromium';
const SWIFTSHADER_ICD = `${CHROMIUM_LIB}/vk_swiftshader_icd.json`;

export async function runDawn(o: {
  smoke: boolean;
  log: (s: string) => void;
}): Promise<{ copies: CopyRow[]; kernels: KernelRow[]; notes: string[]; adapters: string[] }> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const outfile = `${root}.cache/bench/dawn.mjs`;
  await bundleDawnEntry(outfile);
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: `${root}node_modules` };
  const notes: string[] = [];
  if (!env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD) && !process.env.BENCH_DAWN_REAL_GPU) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    // Dawn dlopens libvulkan.so.1; Debian's Chromium carries one beside the ICD.
    if (!existsSync('/usr/lib/x86_64-linux-gnu/libvulkan.so.1'))
      env.LD_LIBRARY_PATH = [CHROMIUM_LIB, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    notes.push(
      `Dawn: VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (SwiftShader's Vulkan ICD from Debian's Chromium, libvulkan from ${CHROMIUM_LIB}); set BENCH_DAWN_REAL_GPU=1 to let Dawn pick the machine's GPU`,
    );
  }
  const { code, signal, stdout } = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, [outfile, ...(o.smoke ? ['--smoke'] : [])], {
      env,
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onLine = (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line && !line.startsWith('BENCH_RESULT')) o.log(`dawn: ${line}`);
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    child.on('exit', (c, s) => resolve({ code: c, signal: s, stdout: out }));
  });
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) {
    notes.push(`Dawn: the child process ended (exit ${code}, signal ${signal}) before reporting; see its output above`);
    return { copies: [], kernels: [], notes, adapters: [] };
  }
  const r = JSON.parse(line.slice('BENCH_RESULT '.length));
  if (r.error) return { copies: [], kernels: [], notes: [...notes, `Dawn: ${r.error}`], adapters: [] };
  return {
    copies: r.copies,
    kernels: r.kernels,
    notes: [...notes, ...r.notes],
    adapters: [
      `WebGPU in Node (Dawn, webgpu ${await dawnVersion(root)}): ${r.adapter}${r.software ? ' (software, not a performance figure)' : ''}`,
    ],
  };
}

/**
 * Bundle bench/dawn-entry.ts (and the kernels it imports, WGSL inlined) into one ES module for
 * Node; only `webgpu` stays external. bench/gpu-host.sh carries this file to a GPU machine.
 */
export async function bundleDawnEntry(outfile: string): Promise<void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [`${root}bench/dawn-entry.ts`],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    logLevel: 'silent',
    plugins: [wgslRaw],
    external: ['webgpu'],
    // The bundle lives under .cache/; resolve `webgpu` from the project.
    nodePaths: [`${root}node_modules`],
  });
}

async function dawnVersion(root: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(`${root}node_modules/webgpu/package.json`, 'utf8')).version;
}
