/**
 * `npm run bench -- --dawn`: bundles bench/dawn-entry.ts for Node and runs it in a child process.
 * On this machine the adapter is SwiftShader's Vulkan ICD (VK_ICD_FILENAMES, set below when the
 * caller did not set it and Debian's Chromium ships the ICD); on a machine with a GPU, Dawn finds
 * the real one.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleForNode } from './bundle.ts';
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
  const { env, notes } = dawnChildEnv();
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
 * The environment of a Node child that runs Dawn: the project's node_modules on NODE_PATH and,
 * unless the caller set VK_ICD_FILENAMES or BENCH_DAWN_REAL_GPU, SwiftShader's Vulkan ICD from
 * Debian's Chromium (with the note that says so).
 */
export function dawnChildEnv(): { env: NodeJS.ProcessEnv; notes: string[] } {
  const root = fileURLToPath(new URL('..', import.meta.url));
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
  return { env, notes };
}

/**
 * Bundle bench/dawn-entry.ts (and the kernels it imports, WGSL inlined) into one ES module for
 * Node; only `webgpu` stays external. bench/gpu-host.sh carries this file to a GPU machine.
 */
export async function bundleDawnEntry(outfile: string): Promise<void> {
  await bundleForNode(fileURLToPath(new URL('./dawn-entry.ts', import.meta.url)), outfile);
}

async function dawnVersion(root: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(`${root}node_modules/webgpu/package.json`, 'utf8')).version;
}
