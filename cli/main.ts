/**
 * `garden`: the command-line tool, on the same core as the app (CPU kernels).
 * Each command is a module in cli/commands/ exporting a `Command`; this table is the only list.
 */
import type { Command } from './command.ts';
import { CliError } from './command.ts';
import { printable } from '../src/core/format/printable.ts';

const COMMANDS: Record<string, () => Promise<{ default: Command }>> = {
  // one line per command, sorted; each module's default export is a Command
  adapters: () => import('./commands/adapters.ts'),
  breed: () => import('./commands/breed.ts'),
  bundle: () => import('./commands/bundle.ts'),
  distill: () => import('./commands/distill.ts'),
  eval: () => import('./commands/eval.ts'),
  export: () => import('./commands/export.ts'),
  generate: () => import('./commands/generate.ts'),
  import: () => import('./commands/import.ts'),
  inspect: () => import('./commands/inspect.ts'),
  key: () => import('./commands/key.ts'),
  lab: () => import('./commands/lab.ts'),
  ledger: () => import('./commands/ledger.ts'),
  operators: () => import('./commands/operators.ts'),
  quantize: () => import('./commands/quantize.ts'),
  recipe: () => import('./commands/recipe.ts'),
  train: () => import('./commands/train.ts'),
  verify: () => import('./commands/verify.ts'),
};

/** One line per command for `garden --help`. */
const SUMMARIES: Record<string, string> = {
  adapters: 'combine PEFT LoRA adapters (add_weighted_adapter) or extract one from a fine-tune: garden adapters combine|extract …',
  breed: 'breed a candidate from a recipe (CPU kernels): garden breed RECIPE.json --out FILE.slm',
  bundle: "sign a candidate's documents (and --with-model its .slm) into a bundle: garden bundle C.slm --key KEY.jwk --out B.json",
  distill:
    "train a smaller MLP student on a teacher's (or ensemble's) soft labels of your unlabelled inputs: garden distill --teacher T.slm --data X.jsonl --hidden N --out S.slm",
  eval: 'evaluate a model on frozen suites: garden eval MODEL.slm --suite ID|FILE|all',
  export: 'export a .slm as plain safetensors or .slm, with a model card',
  generate: 'run a causal LM (.slm or Hugging Face folder): garden generate M --prompt TEXT --max-new N [--json]',
  import: 'import safetensors (single or sharded), ONNX models or a Hugging Face folder as .slm',
  inspect: 'print the tensors, species and SHA-256 of a .slm or safetensors file',
  key: 'the bundle signing key (ECDSA P-256 JWK, created on first use): garden key KEY.jwk --public',
  lab: 'run a lab round headless and print the decision: garden lab ROUND.json',
  ledger: 'verify or show a promotion ledger file: garden ledger verify FILE',
  operators: 'list every operator with its mergekit name, parameters, ranges and defaults',
  quantize: 'quantize a model to int8 or int4 blocks with a dequantizing graph',
  recipe: 'mergekit YAML both ways: garden recipe --from-mergekit X.yml --out R.json | --to-mergekit R.json --out X.yml',
  train: 'train a LoRA adapter on your own labelled data or text files (PEFT layout): garden train SPEC.json --out DIR',
  verify: 'verify a signed bundle and reproduce it: garden verify B.json --trust PUB.jwk [--parents DIR]',
};

function usage(): string {
  return [
    'garden: SLM Garden on the command line (CPU kernels, the same core as the app)',
    '',
    'usage: garden <command> [args]',
    '',
    'commands:',
    ...Object.keys(COMMANDS)
      .sort()
      .map((c) => `  ${c.padEnd(9)} ${SUMMARIES[c] ?? ''}`.trimEnd()),
    '',
    'garden <command> --help for the arguments of one command',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`garden: unknown command "${name}"; valid: ${Object.keys(COMMANDS).sort().join(', ')}`);
    return 2;
  }
  const cmd = (await load()).default;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    // One line, no stack trace: the message names what failed.
    const msg = e instanceof CliError || e instanceof Error ? e.message : String(e);
    // Whatever a file put in a name, the refusal stays one visible line.
    console.error(`garden ${name}: ${printable(msg)}`);
    return 1;
  }
}
