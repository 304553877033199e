/**
 * The `garden` process: native SHA-256 installed as the core's hash (src/node/sha256.ts), a closed
 * pipe ended quietly, then the command. bin/garden.mjs runs it from the cached bundle
 * (bin/cli-bundle.mjs) or, where there is none, through tsx.
 */
import { installNodeSha256 } from '../src/node/sha256.ts';
import { main } from './main.ts';

export async function start(argv: string[]): Promise<number> {
  // A reader that stops early (`garden breed … | head`) closes the pipe: stop quietly, as Unix tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  installNodeSha256();
  return main(argv);
}
