// Vitest setup: tests hash as the CLI does, with Node's native SHA-256 (src/node/sha256.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installNodeSha256 } from './sha256.ts';

installNodeSha256();
// The CLI's memo of checked files (src/node/verified-files.ts) in a temporary folder per test file, never the user's cache.
process.env.GARDEN_CACHE ??= mkdtempSync(join(tmpdir(), 'garden-cache-'));
