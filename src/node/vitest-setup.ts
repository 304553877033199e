// Vitest setup: tests hash as the CLI does, with Node's native SHA-256 (src/node/sha256.ts).
import { installNodeSha256 } from './sha256.ts';

installNodeSha256();
