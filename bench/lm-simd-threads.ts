/**
 * Only the wasm-SIMD rows of bench/lm.ts (SmolLM-135M-shaped, 30 layers, int8 / int4 block 32;
 * one thread, then two), with the copy yardstick measured right before and right after each
 * row, so a loaded machine's drift shows: `npx tsx bench/lm-simd-threads.ts [--layers N] [--decode N]`.
 */
import { copyBandwidth, smolShaped, timeModel, YARDSTICK_BYTES } from './lm-common.ts';
import { quantizeCausalLm } from '../src/core/models/llama-quantize.ts';

const arg = (flag: string, dflt: number) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const smol = smolShaped(arg('--layers', 30));
for (const scheme of ['int8', 'int4'] as const) {
  const q = quantizeCausalLm(smol.cfg, smol.tensors, scheme, 32);
  const cfg = { ...smol.cfg, quantBlockSize: 32 };
  for (const threads of [1, 2]) {
    const before = copyBandwidth(YARDSTICK_BYTES);
    const [row] = await timeModel(`${scheme} block 32`, cfg, q, {
      promptTokens: 32,
      decodeTokens: arg('--decode', 32),
      copy: before,
      simd: true,
      simdThreads: threads as 1 | 2,
    });
    const after = copyBandwidth(YARDSTICK_BYTES);
    const wbs = row.weightBytesPerSecond;
    console.log(
      `${row.model} ${row.variant}: decode ${row.decodeTps} tok/s, ${(wbs / 1e9).toFixed(2)} GB/s of weights (${(row.decodeReadBytes / 1e6).toFixed(1)} MB a token); copy before ${(before / 1e9).toFixed(2)} / after ${(after / 1e9).toFixed(2)} GB/s → ÷ copy ${(wbs / before).toFixed(3)} / ${(wbs / after).toFixed(3)}`,
    );
  }
}
