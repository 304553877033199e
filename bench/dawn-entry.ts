/**
 * The WebGPU kernels in Node through Dawn (the `webgpu` npm package). Two ways in:
 *
 * - a child process of bench/run.ts (`npm run bench -- --dawn`, bundled by bench/dawn.ts so
 *   `?raw` WGSL imports work): a Dawn abort cannot take the bench down, and its exit is
 *   reported. Prints one JSON line prefixed with BENCH_RESULT.
 * - bench/gpu-host.sh (`--report`): the same bundle carried to a machine with a GPU and no
 *   browser. Prints, besides the BENCH_RESULT line, one table of every operator as a ratio of
 *   the copy measured in the same run, with the GPU targets of issue 22 as PASS/MISS.
 *
 * Options: --smoke (1 M elements, blend only), --report, --ops=a,b (only those operators).
 * BENCH_DAWN_SIZES=1048576,16777216 sets the sizes; BENCH_DAWN_FLAGS passes Dawn toggles.
 */
import { create, globals } from 'webgpu';
import { openGpu } from '../src/gpu/device.ts';
import { benchGpu } from './gpu.ts';
import type { CopyRow, KernelRow } from './common.ts';

const smoke = process.argv.includes('--smoke');
const report = process.argv.includes('--report');
const opsArg = process.argv.find((a) => a.startsWith('--ops='))?.slice('--ops='.length);
const sizes = (process.env.BENCH_DAWN_SIZES ?? '').split(',').filter(Boolean).map(Number);

Object.assign(globalThis, globals);
const gpuFlags = (process.env.BENCH_DAWN_FLAGS ?? '').split(' ').filter(Boolean);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create(gpuFlags) }, configurable: true, writable: true });

/**
 * The real-GPU targets (issue 22, docs/BENCHMARKS.md): element-wise operators at ≥ 0.60 of copy, TIES and pruning at ≥ 0.25,
 * each end to end (upload + kernels + readback) against the end-to-end copy of the same run.
 */
const ELEMENTWISE = ['blend', 'task-delta', 'dare', 'federated', 'crossover', 'soup', 'mutate', 'slerp', 'quantize'];
const targetOf = (op: string): number | null => (ELEMENTWISE.includes(op) ? 0.6 : op === 'ties' || op === 'prune' ? 0.25 : null);

function table(copies: CopyRow[], kernels: KernelRow[], software: boolean): string {
  const lines = ['', `copy (${software ? 'software adapter: not a performance figure' : 'this device'}):`];
  for (const c of copies)
    lines.push(`  ${String(c.elements).padStart(9)} elements  ${c.impl.padEnd(34)} ${c.gbps.toFixed(2).padStart(8)} GB/s`);
  lines.push('', 'operators, as a ratio of the copy in the same run (bytes = (inputs + output) × 4 × elements):');
  lines.push(
    `  ${'operator'.padEnd(20)} ${'elements'.padStart(9)}  ${'impl'.padEnd(16)} ${'GB/s'.padStart(8)} ${'of copy'.padStart(8)}  target`,
  );
  for (const r of kernels) {
    const t = r.impl === 'gpu end to end' ? targetOf(r.operator) : null;
    const verdict =
      t === null ? '' : software ? `no verdict on software (≥ ${t.toFixed(2)})` : `${r.ofCopy >= t ? 'PASS' : 'MISS'} (≥ ${t.toFixed(2)})`;
    lines.push(
      `  ${r.operator.padEnd(20)} ${String(r.elements).padStart(9)}  ${r.impl.padEnd(16)} ${r.gbps.toFixed(2).padStart(8)} ${r.ofCopy.toFixed(3).padStart(8)}  ${verdict}`,
    );
  }
  return lines.join('\n');
}

const gpu = await openGpu();
if (!gpu) {
  console.log('BENCH_RESULT ' + JSON.stringify({ error: 'Dawn found no WebGPU adapter' }));
  process.exit(report ? 1 : 0);
}
if (report) console.log(`adapter: ${gpu.adapterInfo}${gpu.software ? ' (software)' : ''}`);
const r = await benchGpu({
  path: 'webgpu-dawn',
  gpu,
  sizes: sizes.length ? sizes : smoke ? [1 << 20] : [1 << 20, 1 << 22, 1 << 24, 1 << 26],
  budgetMs: smoke ? 40 : 300,
  log: (s) => console.log(s),
  only: opsArg ? opsArg.split(',') : smoke ? ['blend'] : undefined,
});
if (report) console.log(table(r.copies, r.kernels, gpu.software) + (r.notes.length ? '\n\nnotes:\n  ' + r.notes.join('\n  ') : '') + '\n');
console.log('BENCH_RESULT ' + JSON.stringify({ ...r, adapter: gpu.adapterInfo, software: gpu.software }));
gpu.device.destroy();
// Dawn keeps handles open; leave once the result is out.
process.exit(0);
