/**
 * The digits factorial experiment of docs/LAB.md ("Attributable experiments"): 2 operators (TIES's
 * magnitude trim vs DARE-TIES's seeded random drop, both with sign election) × 2 densities (0.2,
 * 0.5 of each delta kept) × 3 seeds, bred from the four starter digits models with the CPU
 * reference operators and scored on the mixed-conditions suite. Prints the runs and the effects
 * table. Run: npx tsx scripts/lab-experiment.ts [catalog.json]
 */
import { sha256Hex } from '../src/core/hash.ts';
import { checkSlmMetadata, readSlm } from '../src/core/format/slm.ts';
import type { ParentInfo } from '../src/core/operators/candidate.ts';
import type { Params } from '../src/core/manifest/kinds.ts';
import { cpuLab } from '../src/core/lab/cpu-deps.ts';
import { effectsTable, runExperiment, type Factor } from '../src/core/lab/experiment.ts';
import { DEFAULT_CATALOG, catalogFile, loadCatalog } from '../src/node/catalog.ts';
import { LIMITS } from '../src/node/confine.ts';
import { installNodeSha256 } from '../src/node/sha256.ts';

installNodeSha256();
const catalogPath = process.argv[2] ?? DEFAULT_CATALOG;
const family = loadCatalog(catalogPath).families.find((f) => f.id === 'digits')!;
const parents = ['digits-base', 'digits-rotated', 'digits-thick', 'digits-noisy'];
const models = new Map<string, ParentInfo>();
for (const id of parents) {
  const m = family.models.find((x) => x.id === id)!;
  const slm = readSlm(catalogFile(catalogPath, m.file, id, LIMITS.model));
  models.set(id, { ...checkSlmMetadata(slm.metadata), hash: slm.hash, tensors: slm.tensors });
}
const suite = family.suites.find((s) => s.id === 'digits-mixed')!;
const bytes = catalogFile(catalogPath, suite.file, suite.id, LIMITS.suite);
const hash = sha256Hex(bytes);
const lab = cpuLab({ models, suites: new Map([[hash, bytes]]) });

const factors: Factor[] = [
  { name: 'operator', levels: ['ties', 'dare-ties'] },
  { name: 'density', levels: [0.2, 0.5] },
];
const t0 = performance.now();
const r = await runExperiment(
  {
    factors,
    seeds: [1, 2, 3],
    suite: { name: 'mixed', hash },
    metric: 'accuracy',
    recipe: (cell, seed) => {
      const d = Number(cell.density);
      const params: Params =
        cell.operator === 'ties' ? { weights: [1, 1, 1], lambda: 1, density: d } : { weights: [1, 1, 1], lambda: 1, drop: 1 - d };
      return { operator: String(cell.operator), parents, params, seed };
    },
  },
  lab.deps,
);
console.log('| operator | density | seed | accuracy on digits-mixed | candidate |\n|---|---|---|---|---|');
for (const x of r.runs)
  console.log(`| ${x.cell.operator} | ${x.cell.density} | ${x.seed} | ${x.response.toFixed(4)} | ${x.candidate.slice(0, 12)}… |`);
console.log(
  `\ngrand mean ${r.grandMean.toFixed(4)} over ${r.runs.length} runs (${((performance.now() - t0) / 1000).toFixed(1)} s on the CPU)\n`,
);
console.log(effectsTable(r, 'accuracy'));
