/**
 * Peak memory of the core's streaming breed (breedStream) against the tensor size, in Node:
 * `npx tsx bench/stream-memory.ts [M elements per tensor, default 64] [operator, default ties]`.
 * Base + 3 parents of one tensor each, generated chunk by chunk on demand (a ModelSource that
 * never holds a tensor), the output hashed and dropped chunk by chunk; the process's resident
 * set is sampled every 20 ms. Prints the inputs' size, the driver's own accounting
 * (peakHeldBytes) and the peak RSS growth over the level before the breed.
 */
import { installNodeSha256 } from '../src/node/sha256.ts';
import { breedStream } from '../src/core/operators/breed.ts';
import { cpuBackend } from '../src/core/operators/backend.ts';
import type { ModelSource } from '../src/core/operators/stream.ts';
import { sha256Stream } from '../src/core/hash.ts';
import { tensorStream } from './model.ts';

installNodeSha256();
const M = Number(process.argv[2] ?? 64);
const operator = process.argv[3] ?? 'ties';
const n = Math.round(M * 2 ** 20);
const spec = { name: 'w', shape: [n], frozen: false };

/** Parent p's tensor, any byte range generated on demand (the stream is replayed from its start when a range goes back). */
function source(p: number): ModelSource {
  let next = tensorStream(spec, p);
  let at = 0;
  return {
    tensors: [{ name: 'w', dtype: 'F32', shape: [n] }],
    async read(_name, offset, length) {
      const first = offset / 4;
      if (first < at) {
        next = tensorStream(spec, p);
        at = 0;
      }
      const skip = new Float32Array(1 << 20);
      while (at < first) at += next(skip.subarray(0, Math.min(skip.length, first - at))).length;
      const v = next(new Float32Array(length / 4));
      at += v.length;
      return new Uint8Array(v.buffer);
    },
  };
}

const rss = () => process.memoryUsage().rss;
globalThis.gc?.();
const base = rss();
let peak = base;
const timer = setInterval(() => (peak = Math.max(peak, rss())), 20);
const t0 = performance.now();
const h = sha256Stream();
const r = await breedStream({ operator, params: {}, seed: 7, parents: [0, 1, 2, 3].map(source) }, cpuBackend, {
  output: () => ({
    write: async (b) => {
      peak = Math.max(peak, rss());
      h.update(b);
    },
    finish: async () => ({ hash: h.digestHex() }),
  }),
});
clearInterval(timer);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(
  [
    `${operator}, base + 3 parents, one tensor of ${M} M float32 elements (${mib(4 * n)} each, ${mib(16 * n)} of inputs), 1 Mi-element chunks`,
    `plan: ${JSON.stringify(r.plans)}; ${(performance.now() - t0).toFixed(0)} ms; read ${mib(r.bytesRead)} (selection passes re-read)`,
    `driver peak held: ${mib(r.peakHeldBytes)}; process RSS: ${mib(base)} before, peak ${mib(peak)} (+${mib(peak - base)})`,
    `output ${r.outputs[0].hash.slice(0, 16)}…, sign conflicts ${r.stats[0].signConflicts ?? 0}`,
  ].join('\n'),
);
