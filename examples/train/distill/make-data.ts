/**
 * The unlabelled inputs of the digits distillation (docs/TRAINING.md): MNIST training images the
 * starter used for nothing. The starter's digits build (scripts/starter/digits.ts) takes a seeded
 * permutation of the 60 000 training images: the base the first 30 000, each specialist the next
 * 8 000; the last 6 000 of that permutation are unused, and its suites come from the test set.
 * Writes one {"features": [784 values in 0..1]} line per image, no label.
 *
 *   npx tsx examples/train/distill/make-data.ts OUT.jsonl [ROWS]
 */
import { writeFileSync } from 'node:fs';
import { DIGITS_DEFAULT, DIGIT_SPECIALISTS } from '../../../scripts/starter/digits.ts';
import { loadMnist, MNIST_PIXELS } from '../../../scripts/starter/mnist.ts';
import { Rng } from '../../../scripts/starter/rng.ts';

const [out, rowsArg] = process.argv.slice(2);
if (!out) throw new Error('usage: make-data.ts OUT.jsonl [ROWS]');
const cfg = DIGITS_DEFAULT;
const train = loadMnist('train');
const order = new Rng(cfg.seed).permutation(train.count);
const used = cfg.base.rows + DIGIT_SPECIALISTS.length * cfg.specialist.rows;
const free = order.subarray(used);
const rows = Math.min(Number(rowsArg ?? free.length), free.length);
const lines: string[] = [];
for (let r = 0; r < rows; r++) {
  const px = train.images.subarray(free[r] * MNIST_PIXELS, (free[r] + 1) * MNIST_PIXELS);
  // The suites' scale (1/255) in float32, so a copy of a suite image would be seen by the wall.
  lines.push(JSON.stringify({ features: Array.from(px, (v) => Math.fround(v / 255)) }));
}
writeFileSync(out, `${lines.join('\n')}\n`);
console.log(`${rows} unlabelled MNIST training images (permutation rows ${used}…${used + rows - 1}, unused by the starter) → ${out}`);
