/**
 * The one argument parser of the `garden` commands: node:util parseArgs (strict, positionals
 * allowed), with its multi-sentence errors turned into one line naming the flag and the valid ones.
 */
import { parseArgs } from 'node:util';

export class ArgsError extends Error {
  override name = 'ArgsError';
}

type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function flag(name: string, o: Options[string]): string {
  return o.type === 'string' ? `--${name} ${o.multiple ? 'X (repeatable)' : 'X'}` : `--${name}`;
}

/**
 * Parse `args` against `options` (as node:util parseArgs takes them). Unknown flags,
 * a missing value, or a value given to a boolean flag throw one ArgsError line such as
 * `unknown option "--x"; valid: --out X, --json`.
 */
export function parseCommandArgs<const O extends Options>(args: readonly string[], options: O) {
  const config = { args: [...args], options, allowPositionals: true, strict: true } as const;
  try {
    return parseArgs(config);
  } catch (e) {
    const err = e as Error & { code?: string };
    const valid = `valid: ${Object.entries(options)
      .map(([k, o]) => flag(k, o))
      .join(', ')}`;
    const quoted = /'(-[^' ]*)/.exec(err.message)?.[1];
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new ArgsError(`unknown option "${quoted ?? err.message}"; ${valid}`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = quoted?.replace(/^-+/, '') ?? '';
      const o = (options as Options)[name];
      if (o?.type === 'string' && /ambiguous/.test(err.message))
        throw new ArgsError(`option --${name} needs a value; write --${name}=VALUE for a value that starts with "-"`);
      if (o?.type === 'string') throw new ArgsError(`option --${name} needs a value`);
      if (o) throw new ArgsError(`option --${name} takes no value`);
    }
    throw new ArgsError(`${err.message.split('. ')[0]}`);
  }
}
