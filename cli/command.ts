export interface Command {
  /** Shown by `garden <name> --help`. */
  usage: string;
  /** Returns the process exit code. Throw CliError (or any Error) for a one-line failure. */
  run(args: string[]): Promise<number>;
}

export class CliError extends Error {
  override name = 'CliError';
}
