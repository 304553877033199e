/**
 * garden recipe --from-mergekit X.yml --out R.json
 * garden recipe --to-mergekit R.json --out X.yml
 * Converts between a garden recipe and a mergekit merge config (src/core/share/mergekit-yaml.ts;
 * the mapping is in docs/SHARING.md). A model path that exists relative to the input file is
 * rewritten relative to the output file, so both files name the same models.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { Command } from '../command.ts';
import { CliError } from '../command.ts';
import { recipeFromMergekit, recipeToMergekit } from '../../src/core/share/mergekit-yaml.ts';
import { validateRecipe, type ModelRef, type Recipe } from '../../src/core/operators/recipe.ts';
import { parseStrictJson } from '../../src/core/manifest/strict-json.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { LIMITS, readRegular, writeFileAtomic } from '../../src/node/confine.ts';

const usage = `garden recipe --from-mergekit X.yml --out R.json
garden recipe --to-mergekit R.json --out X.yml

Convert a mergekit merge config (merge_method, base_model, models with per-model parameters,
parameters, dtype) to a garden recipe, or a recipe to a mergekit config that mergekit runs as is.
A "model:" may be a .slm, a safetensors file or a Hugging Face folder. What one side cannot
represent (different densities per model, slices of methods other than passthrough, a LoRA model,
a dtype other than float32, a garden-only operator or option) is refused naming the parameter.
The recipe's seed, model hashes and output ride in a "# garden:" comment mergekit ignores.
  --from-mergekit X.yml   read a mergekit config
  --to-mergekit R.json    read a garden recipe
  --out FILE              where to write the result (written to a temporary name and renamed)`;

/** A path that exists beside the input, rewritten relative to the output's folder. */
function rebase(p: string, from: string, to: string): string {
  if (isAbsolute(p) || from === to) return p;
  const abs = resolve(from, p);
  if (!existsSync(abs)) return p; // a hub id or a file still to come: as written
  const rel = relative(to, abs) || '.';
  return sep === '/' ? rel : rel.split(sep).join('/');
}

function rebaseRecipe(r: Recipe, from: string, to: string): Recipe {
  const ref = (m: ModelRef): ModelRef => (m.path ? { ...m, path: rebase(m.path, from, to) } : m);
  return { ...r, parents: r.parents.map(ref), ...(r.base ? { base: ref(r.base) } : {}) };
}

const command: Command = {
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, {
      'from-mergekit': { type: 'string' },
      'to-mergekit': { type: 'string' },
      out: { type: 'string' },
    });
    if (positionals.length)
      throw new CliError(`unexpected argument "${positionals[0]}"; usage: garden recipe --from-mergekit X.yml --out R.json`);
    const from = values['from-mergekit'];
    const to = values['to-mergekit'];
    if ((from === undefined) === (to === undefined)) throw new CliError('give one of --from-mergekit X.yml or --to-mergekit R.json');
    if (!values.out) throw new CliError('no output file: --out FILE');
    const input = resolve((from ?? to) as string);
    const out = resolve(values.out);
    const text = new TextDecoder().decode(await readRegular(input, from ? 'mergekit config' : 'recipe', LIMITS.json));
    const inDir = dirname(input);
    const outDir = dirname(out);
    if (from !== undefined) {
      let recipe: Recipe;
      try {
        recipe = rebaseRecipe(recipeFromMergekit(text), inDir, outDir);
      } catch (e) {
        throw new CliError(`${input}: ${(e as Error).message}`);
      }
      await writeFileAtomic(out, `${JSON.stringify(recipe, null, 2)}\n`);
      console.log(
        `recipe ${out}: operator ${recipe.operator}, ${recipe.parents.length} parent(s)${recipe.base ? ' + base' : ''}, seed ${recipe.seed}`,
      );
    } else {
      let yml: string;
      try {
        const recipe = validateRecipe(parseStrictJson(text, 'recipe'));
        yml = recipeToMergekit(rebaseRecipe(recipe, inDir, outDir));
      } catch (e) {
        throw new CliError(`${input}: ${(e as Error).message}`);
      }
      await writeFileAtomic(out, yml);
      console.log(`mergekit config ${out}`);
    }
    return 0;
  },
};

export default command;
