/**
 * The WebGPU kernels in Node through Dawn (the `webgpu` npm package), run as a child process of
 * bench/run.ts (bundled by esbuild so `?raw` WGSL imports work): a Dawn abort cannot take the
 * bench down, and its exit is reported. Prints one JSON line prefixed with BENCH_RESULT.
 */
import { create, globals } from 'webgpu';
import { openGpu } from '../src/gpu/device.ts';
import { benchGpu } from './gpu.ts';

const smoke = process.argv.includes('--smoke');
const sizes = (process.env.BENCH_DAWN_SIZES ?? '').split(',').filter(Boolean).map(Number);

Object.assign(globalThis, globals);
const gpuFlags = (process.env.BENCH_DAWN_FLAGS ?? '').split(' ').filter(Boolean);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create(gpuFlags) }, configurable: true, writable: true });

const gpu = await openGpu();
if (!gpu) {
  console.log('BENCH_RESULT ' + JSON.stringify({ error: 'Dawn found no WebGPU adapter' }));
  process.exit(0);
}
const r = await benchGpu({
  path: 'webgpu-dawn',
  gpu,
  sizes: sizes.length ? sizes : smoke ? [1 << 20] : [1 << 20, 1 << 22, 1 << 24, 1 << 26],
  budgetMs: smoke ? 40 : 300,
  log: (s) => console.log(s),
  only: smoke ? ['blend'] : undefined,
});
console.log('BENCH_RESULT ' + JSON.stringify({ ...r, adapter: gpu.adapterInfo, software: gpu.software }));
gpu.device.destroy();
// Dawn keeps handles open; leave once the result is out.
process.exit(0);
