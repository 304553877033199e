/**
 * garden breed RECIPE.json [--out FILE.slm] [--json]
 * Reads the recipe's parent .slm files, breeds on the CPU reference backend, writes the candidate
 * .slm and prints its hash and a receipt summary. The same recipe always writes the same bytes.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { validateRecipe, recipeHash, type ModelRef } from '../../src/core/operators/recipe.ts';
import { breed, type BreedResult } from '../../src/core/operators/breed.ts';
import { cpuBackend } from '../../src/core/operators/backend.ts';
import { checkSlmMetadata, readSlm, type SlmFile } from '../../src/core/format/slm.ts';
import { candidateSlm } from '../../src/core/operators/candidate.ts';
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { DEFAULT_CATALOG, loadFamily } from '../../src/node/catalog.ts';

const usage = `garden breed RECIPE.json [--out FILE.slm] [--json] [--family ID [--catalog PATH]]

Breed a candidate from a recipe (manifests/recipe.schema.json) on the CPU reference kernels.
Parent and base paths are relative to the recipe file; a "hash" next to a path must match the file.
  --out FILE.slm   where to write the candidate (default: the recipe's output.path)
  --json           print the receipt summary as JSON instead of a table
  --family ID      the parents' catalogued family: a quantized candidate then gets its own
                   dequantizing graph and species (the bytes garden quantize and the app write)
  --catalog PATH   the starter catalog for --family (default: public/starter/catalog.json)`;

function parseOptions(argv: string[]): { recipe: string; out?: string; json: boolean; family?: string; catalog?: string } {
  const { values, positionals } = parseCommandArgs(argv, {
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
    family: { type: 'string' },
    catalog: { type: 'string' },
  });
  if (positionals.length > 1) throw new CliError(`one recipe at a time, got ${positionals.map((p) => `"${p}"`).join(' and ')}`);
  if (positionals.length === 0) throw new CliError('no recipe given; usage: garden breed RECIPE.json [--out FILE.slm]');
  if (values.catalog !== undefined && values.family === undefined) throw new CliError('--catalog is used with --family ID');
  return { recipe: positionals[0], out: values.out, json: values.json, family: values.family, catalog: values.catalog };
}

async function loadModel(ref: ModelRef, dir: string, what: string): Promise<SlmFile> {
  if (!ref.path) throw new CliError(`${what} is given only by hash ${ref.hash}; the CLI needs a "path"`);
  const path = resolve(dir, ref.path);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new CliError(`${what}: cannot read ${path}: ${(e as Error).message}`);
  }
  let slm: SlmFile;
  try {
    slm = readSlm(bytes);
  } catch (e) {
    throw new CliError(`${what} (${path}): ${(e as Error).message}`);
  }
  if (ref.hash && ref.hash !== slm.hash) throw new CliError(`${what} (${path}) has hash ${slm.hash}, the recipe expects ${ref.hash}`);
  if (slm.shards !== 1) throw new CliError(`${what} (${path}) is shard ${slm.shard + 1} of ${slm.shards}; the CLI breeds single-file models`);
  return slm;
}

function fmt(x: number, digits = 4): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(digits);
}

function table(result: BreedResult): string {
  const rows = [['tensor', 'changed', 'sparsity', '|delta|', 'conflicts', 'bytes', 'ms', 'note']];
  for (const s of result.stats) {
    rows.push([s.name, fmt(s.changedFraction), fmt(s.sparsity), fmt(s.deltaNorm), s.signConflicts === undefined ? '-' : String(s.signConflicts), String(s.bytes), s.ms.toFixed(1), s.skipped ?? '']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

const command: Command = {
  usage,
  async run(args) {
    const opts = parseOptions(args);
    const fam = opts.family ? loadFamily(resolve(opts.catalog ?? DEFAULT_CATALOG), opts.family) : null;
    const recipePath = resolve(opts.recipe);
    let text: string;
    try {
      text = await readFile(recipePath, 'utf8');
    } catch (e) {
      throw new CliError(`cannot read recipe ${recipePath}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = parseStrictJson(text, 'recipe');
    } catch (e) {
      throw new CliError(`recipe ${recipePath} is not valid JSON: ${(e as Error).message}`);
    }
    const recipe = validateRecipe(json);
    const dir = dirname(recipePath);
    const outPath = opts.out ? resolve(opts.out) : recipe.output.path ? resolve(dir, recipe.output.path) : null;
    if (!outPath) throw new CliError('no output file: give output.path in the recipe or --out FILE.slm');

    const models: SlmFile[] = [];
    if (recipe.base) models.push(await loadModel(recipe.base, dir, 'base'));
    for (let i = 0; i < recipe.parents.length; i++) models.push(await loadModel(recipe.parents[i], dir, `parent ${i}`));

    const result = await breed({ operator: recipe.operator, params: recipe.params, seed: recipe.seed, parents: models.map((m) => m.tensors) }, cpuBackend);
    const rHash = recipeHash(recipe);
    if (fam) {
      for (const [i, m] of models.entries()) {
        if (m.species !== fam.family.species) throw new CliError(`${i === 0 && recipe.base ? 'base' : `parent ${i - (recipe.base ? 1 : 0)}`} has species ${m.species}, not family ${fam.family.id}'s ${fam.family.species}`);
      }
    }
    const family = fam ? { graph: fam.graph, vocabulary: fam.family.output.labels } : undefined;
    const parents = models.map((m) => ({ ...checkSlmMetadata(m.metadata), hash: m.hash, tensors: m.tensors, family }));
    const { bytes, hash, lineageKey } = candidateSlm(result, parents);
    await mkdir(dirname(outPath), { recursive: true });
    await writeFile(outPath, bytes);

    const summary = {
      candidate: hash,
      path: outPath,
      bytes: bytes.length,
      recipe: rHash,
      lineage: lineageKey,
      operator: result.operator,
      params: result.params,
      seed: result.seed,
      inputs: models.map((m) => m.hash),
      backend: result.backend,
      ms: Math.round(result.ms * 10) / 10,
      stats: result.stats,
    };
    if (opts.json) console.log(JSON.stringify(summary, null, 2));
    else {
      console.log(`candidate ${hash}`);
      console.log(`written   ${outPath} (${bytes.length} bytes)`);
      console.log(`operator  ${result.operator.id}@${result.operator.version}  seed ${result.seed}  params ${JSON.stringify(result.params)}`);
      console.log(`backend   ${result.backend.kind} (${result.backend.adapter})  ${result.ms.toFixed(1)} ms`);
      console.log(`recipe    ${rHash}`);
      console.log(`lineage   ${lineageKey}`);
      console.log(`inputs    ${models.map((m) => m.hash.slice(0, 12)).join(' ')}`);
      console.log(table(result));
    }
    return 0;
  },
};

export default command;
