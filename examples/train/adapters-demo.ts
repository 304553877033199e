/**
 * The adapter figures of docs/TRAINING.md on the starter mail family:
 *   1. mergekit-extract-lora's truncated SVD of (later.slm − base.slm) at several --max-rank,
 *      with the relative Frobenius error left, each written merged back into the base;
 *   2. two garden adapters (ADAPTER_DIR_1, ADAPTER_DIR_2: `garden train` outputs) combined as
 *      PEFT's add_weighted_adapter with ties and linear, written merged into the base.
 *   npx tsx examples/train/adapters-demo.ts OUT_DIR [ADAPTER_DIR_1 ADAPTER_DIR_2]
 * then score any written .slm with `garden eval FILE --suite mail-later`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSlmMetadata, readSlm, writeSlm } from '../../src/core/format/slm.ts';
import { combineAdapters, type Combination } from '../../src/core/train/combine.ts';
import { extractLora } from '../../src/core/train/extract.ts';
import { mergeAdapter } from '../../src/core/train/lora.ts';
import { mlpSites } from '../../src/core/train/mlp.ts';
import { exportPeft, importPeft } from '../../src/core/train/peft.ts';
import type { Tensor } from '../../src/core/tensor.ts';

const [out, a1, a2] = process.argv.slice(2);
if (!out) throw new Error('usage: adapters-demo.ts OUT_DIR [ADAPTER_DIR_1 ADAPTER_DIR_2]');
mkdirSync(out, { recursive: true });
const base = readSlm(readFileSync('public/starter/mail/base.slm'));
const info = checkSlmMetadata(base.metadata);
const write = (name: string, tensors: Tensor[]) => {
  const path = join(out, name);
  writeFileSync(
    path,
    writeSlm(tensors, {
      species: base.species,
      ...(info.graph ? { graph: info.graph } : {}),
      ...(info.vocabulary ? { vocabulary: info.vocabulary } : {}),
    }),
  );
  return path;
};
const sites = mlpSites(base.tensors);
const byName = new Map(base.tensors.map((t) => [t.name, t]));

const later = readSlm(readFileSync('public/starter/mail/later.slm'));
for (const maxRank of [1, 2, 4, 8, 16]) {
  const { adapter, report } = extractLora(base.tensors, later.tensors, sites, { maxRank, modulesToSave: [] });
  const files = exportPeft(adapter);
  const path = write(`extract-r${maxRank}.slm`, mergeAdapter(base.tensors, adapter));
  const per = report.modules.map((m) => `${m.module} r${m.rank} err ${m.relativeError.toFixed(4)}`).join(', ');
  console.log(
    `extract --max-rank ${maxRank}: ${per}; overall ${report.relativeError.toFixed(4)}; not carried: ${report.notCarried.join(', ') || 'none'}; adapter ${files.weights.length} B → ${path}`,
  );
}

if (a1 && a2) {
  const load = (dir: string) =>
    importPeft(
      { config: readFileSync(join(dir, 'adapter_config.json'), 'utf8'), weights: readFileSync(join(dir, 'adapter_model.safetensors')) },
      sites,
      byName,
    );
  const adapters = [load(a1), load(a2)];
  for (const [combination, density] of [
    ['ties', 0.5],
    ['linear', undefined],
    ['dare_ties', 0.5],
    ['svd', undefined],
  ] as [Combination, number | undefined][]) {
    const c = combineAdapters(adapters, { combination, weights: [1, 1], density, seed: 1 });
    console.log(
      `add_weighted_adapter ${combination}${density ? ` density ${density}` : ''} (r ${c.config.r}) → ${write(`combined-${combination}.slm`, mergeAdapter(base.tensors, c))}`,
    );
  }
}
