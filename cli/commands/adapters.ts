/**
 * garden adapters combine | extract: PEFT LoRA adapters of a Llama-family model (a .slm imported
 * from a Hugging Face folder, or the folder) or of the MLP classifier species combined as PEFT's add_weighted_adapter does
 * (src/core/train/combine.ts), or extracted from a fine-tune by truncated SVD of the delta as
 * mergekit-extract-lora does (src/core/train/extract.ts), both written in PEFT's layout.
 */
import { basename } from 'node:path';
import { loadTensors } from '../../src/core/format/model.ts';
import { printable } from '../../src/core/format/printable.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { causalLmFromModel } from '../../src/core/format/hf.ts';
import type { Tensor } from '../../src/core/tensor.ts';
import { COMBINATIONS, combineAdapters, type Combination } from '../../src/core/train/combine.ts';
import { extractLora } from '../../src/core/train/extract.ts';
import { llamaSites } from '../../src/core/train/llama.ts';
import type { LinearSite } from '../../src/core/train/lora.ts';
import { mlpSites } from '../../src/core/train/mlp.ts';
import { MLP_TENSORS } from '../../src/core/train/run.ts';
import { exportPeft, importPeft } from '../../src/core/train/peft.ts';
import { readAdapterDir, writeAdapterDir } from '../../src/node/adapter-dir.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { isHfFolder, openCausalLm } from '../../src/node/hf-folder.ts';
import { openModelFile } from '../../src/node/model-files.ts';
import { CliError, type Command } from '../command.ts';

const usage = `garden adapters combine M --adapter DIR --adapter DIR … --weights W,W,… --combination TYPE
                         [--density D] [--majority-sign total|frequency] [--svd-rank R] [--seed S] --out DIR [--json]
garden adapters extract BASE FINETUNED --max-rank R [--target-modules q_proj,v_proj] [--sv-epsilon E] --out DIR [--json]

M, BASE, FINETUNED: Llama-family models (a .slm imported from a Hugging Face folder, or the folder),
or .slm classifiers of the MLP species (fc1, fc2).
combine: PEFT's add_weighted_adapter on PEFT LoRA adapters of M; TYPE one of
  ${COMBINATIONS.join(', ')}
  (density for ties, dare_* and magnitude_prune; DARE's random masks are seeded by --seed, drawn
  from the garden's counter-based generator, not torch's).
extract: mergekit-extract-lora: every targeted linear layer whose weight changed, as a LoRA of rank
  ≤ --max-rank; prints the relative Frobenius error ‖ΔW − B·A‖ / ‖ΔW‖ it leaves, per module and in all,
  and the changed tensors it does not carry.`;

/** A base the adapters bind to: its tensors and linear layers (a Llama-family model, or the MLP classifier species). */
interface Base {
  tensors: Tensor[];
  sites: LinearSite[];
  taskType: string | null;
  architecture: string;
}

async function withModel<T>(path: string, f: (base: Base) => Promise<T> | T): Promise<T> {
  const opened = isHfFolder(path) ? await openCausalLm(path) : await openModelFile(path);
  try {
    const model = 'lm' in opened ? opened.lm.model : opened.model;
    const tensors = await loadTensors(model);
    if (
      tensors
        .map((t) => t.name)
        .sort()
        .join() === MLP_TENSORS.join()
    )
      return await f({ tensors, sites: mlpSites(tensors), taskType: null, architecture: 'mlp' });
    const config = 'lm' in opened ? opened.lm.config : causalLmFromModel(model).config;
    return await f({ tensors, sites: llamaSites(config), taskType: 'CAUSAL_LM', architecture: config.architecture });
  } finally {
    await opened.close();
  }
}

function num(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new CliError(`--${flag} ${JSON.stringify(text)} is not a number`);
  return v;
}

async function combine(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    adapter: { type: 'string', multiple: true },
    weights: { type: 'string' },
    combination: { type: 'string' },
    density: { type: 'string' },
    'majority-sign': { type: 'string' },
    'svd-rank': { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new CliError(`expected one model M, got ${positionals.length}; see garden adapters --help`);
  const dirs = values.adapter ?? [];
  if (dirs.length === 0) throw new CliError('give --adapter DIR at least once');
  if (!values.out) throw new CliError('--out DIR is required');
  const combination = values.combination as Combination;
  if (!(COMBINATIONS as readonly string[]).includes(combination))
    throw new CliError(`--combination must be one of: ${COMBINATIONS.join(', ')}`);
  const weights = (values.weights ?? '').split(',').map((w) => num(w, 'weights')!);
  if (weights.length !== dirs.length) throw new CliError(`--weights gives ${weights.length} weights for ${dirs.length} adapters`);
  const sign = values['majority-sign'] ?? 'total';
  if (sign !== 'total' && sign !== 'frequency') throw new CliError('--majority-sign must be total or frequency');
  const svdRank = num(values['svd-rank'], 'svd-rank');
  const density = num(values.density, 'density');
  const seed = num(values.seed, 'seed');
  const files = dirs.map((d) => readAdapterDir(d));
  return withModel(positionals[0], ({ tensors, sites, taskType }) => {
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const adapters = files.map((f) => importPeft(f, sites, byName));
    const combined = combineAdapters(adapters, {
      combination,
      weights,
      majoritySignMethod: sign,
      ...(density !== undefined ? { density } : {}),
      ...(svdRank !== undefined ? { svdRank } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    combined.config = { ...combined.config, baseModel: basename(positionals[0]), taskType };
    const peft = exportPeft(combined);
    writeAdapterDir(values.out!, peft);
    const out = {
      adapter: values.out,
      combination,
      weights,
      r: combined.config.r,
      modules: combined.lora.size,
      weightsSha256: sha256Hex(peft.weights),
    };
    if (values.json) console.log(JSON.stringify(out));
    else
      console.log(
        `adapter ${printable(values.out!)}  ${combination} of ${dirs.length} adapters (weights ${weights.join(', ')}): r=${out.r} on ${out.modules} modules  weights ${out.weightsSha256.slice(0, 12)}…`,
      );
    return 0;
  });
}

async function extract(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    'max-rank': { type: 'string' },
    'target-modules': { type: 'string' },
    'sv-epsilon': { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 2)
    throw new CliError(`expected BASE and FINETUNED, got ${positionals.length} models; see garden adapters --help`);
  if (!values.out) throw new CliError('--out DIR is required');
  const maxRank = num(values['max-rank'], 'max-rank');
  if (maxRank === undefined || !Number.isInteger(maxRank) || maxRank < 1)
    throw new CliError('--max-rank R (a positive integer) is required');
  const svEpsilon = num(values['sv-epsilon'], 'sv-epsilon');
  const suffixes = values['target-modules']?.split(',').map((s) => s.trim());
  return withModel(positionals[0], ({ tensors: base, sites, taskType, architecture }) =>
    withModel(positionals[1], ({ tensors: fine, architecture: fineArchitecture }) => {
      if (fineArchitecture !== architecture) throw new CliError(`the fine-tune is ${fineArchitecture}, the base ${architecture}`);
      const targetModules =
        suffixes && sites.filter((s) => suffixes.some((t) => s.module === t || s.module.endsWith(`.${t}`))).map((s) => s.module);
      if (targetModules && targetModules.length === 0)
        throw new CliError(`--target-modules ${values['target-modules']} matches no linear layer`);
      const { adapter, report } = extractLora(base, fine, sites, {
        maxRank,
        ...(targetModules ? { targetModules } : {}),
        ...(svEpsilon !== undefined ? { svEpsilon } : {}),
        baseModel: basename(positionals[0]),
      });
      adapter.config = { ...adapter.config, taskType };
      const peft = exportPeft(adapter);
      writeAdapterDir(values.out!, peft);
      const out = { adapter: values.out, r: adapter.config.r, ...report, weightsSha256: sha256Hex(peft.weights) };
      if (values.json) {
        console.log(JSON.stringify(out));
        return 0;
      }
      for (const m of report.modules)
        console.log(
          `${m.module.padEnd(36)} rank ${String(m.rank).padStart(4)}  ‖ΔW‖ ${m.deltaNorm.toExponential(3)}  relative error ${m.relativeError.toFixed(6)}`,
        );
      console.log(
        `adapter ${printable(values.out!)}  r=${adapter.config.r} on ${report.modules.length} modules; relative error in all ${report.relativeError.toFixed(6)}` +
          (report.notCarried.length ? `; changed but not carried: ${report.notCarried.join(', ')}` : ''),
      );
      return 0;
    }),
  );
}

const command: Command = {
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'combine') return combine(rest);
    if (sub === 'extract') return extract(rest);
    throw new CliError(`expected "combine" or "extract", got ${JSON.stringify(sub ?? '')}; see garden adapters --help`);
  },
};
export default command;
