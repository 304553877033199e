/**
 * bin/cli-bundle.mjs: the CLI's cached bundle is built from the sources, used while they are
 * unchanged byte for byte, built again when one changes, keeps each file's own import.meta.url,
 * and gives way to tsx (null) when it cannot be built or is turned off. The real CLI from the
 * bundle prints what it prints through tsx.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
// @ts-expect-error plain JavaScript beside bin/garden.mjs, no declarations
import { cliBundle } from '../bin/cli-bundle.mjs';

const root = mkdtempSync(join(tmpdir(), 'cli-bundle-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const bundle = (env: Record<string, string> = {}): Promise<string | null> => cliBundle(root, 'a.ts', env);
let loads = 0;
const load = async (path: string) => (await import(`${pathToFileURL(path).href}?${loads++}`)) as { v: number; url: string };

describe('the CLI bundle (bin/cli-bundle.mjs)', () => {
  it('is built once, reused while its inputs are unchanged, and built again when one changes', async () => {
    writeFileSync(join(root, 'tsconfig.json'), '{}');
    mkdirSync(join(root, 'node_modules', 'esbuild'), { recursive: true });
    cpSync(join('node_modules', 'esbuild', 'package.json'), join(root, 'node_modules', 'esbuild', 'package.json'));
    writeFileSync(join(root, 'b.ts'), 'export const v: number = 1;\n');
    writeFileSync(join(root, 'a.ts'), "export { v } from './b.ts';\nexport const url: string = import.meta.url;\n");
    const first = await bundle();
    expect(first).not.toBeNull();
    const m = await load(first!);
    expect(m.v).toBe(1);
    // Each file keeps its own URL (the paths and workers it names stay beside it), not the bundle's.
    expect(m.url).toBe(pathToFileURL(join(root, 'a.ts')).href);
    const built = statSync(first!).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    expect(await bundle()).toBe(first);
    expect(statSync(first!).mtimeMs).toBe(built);
    // Same size, one byte changed: built again.
    writeFileSync(join(root, 'b.ts'), 'export const v: number = 2;\n');
    expect(await bundle()).toBe(first);
    expect((await load(first!)).v).toBe(2);
    expect(statSync(first!).mtimeMs).toBeGreaterThan(built);
    // The TypeScript settings count too.
    const again = statSync(first!).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(root, 'tsconfig.json'), '{ }');
    await bundle();
    expect(statSync(first!).mtimeMs).toBeGreaterThan(again);
    // A file newly imported is in the next bundle, and listed.
    writeFileSync(join(root, 'c.ts'), 'export const w: number = 5;\n');
    writeFileSync(
      join(root, 'a.ts'),
      "export { v } from './b.ts';\nexport { w } from './c.ts';\nexport const url: string = import.meta.url;\n",
    );
    expect(((await load((await bundle())!)) as unknown as { w: number }).w).toBe(5);
    const manifest = join(root, 'node_modules', '.cache', 'slm-garden-cli', 'a-ts.json');
    expect(Object.keys(JSON.parse(readFileSync(manifest, 'utf8')).inputs).sort()).toEqual(
      ['a.ts', 'b.ts', 'c.ts', 'node_modules/esbuild/package.json', 'tsconfig.json'].sort(),
    );
    // A bundle that is not the one its manifest names (two builds renamed in a crossed order) is built again.
    writeFileSync(first!, 'export const v = -1;\n');
    expect((await load((await bundle())!)).v).toBe(2);
  });

  it('gives way to tsx when the sources do not build, or when it is off', async () => {
    writeFileSync(join(root, 'b.ts'), 'export const v: number = ;\n');
    expect(await bundle()).toBeNull();
    writeFileSync(join(root, 'b.ts'), 'export const v: number = 3;\n');
    expect(await bundle({ GARDEN_CLI_BUNDLE: 'off' })).toBeNull();
    expect(await bundle()).not.toBeNull();
  });

  it('runs the real CLI as tsx does', async () => {
    // The repository's own CLI does build (else both runs below would go through tsx).
    expect(await cliBundle()).toMatch(/slm-garden-cli[/\\]cli-start-ts\.mjs$/);
    const run = (env: Record<string, string>) =>
      execFileSync(process.execPath, ['bin/garden.mjs', 'operators', '--json'], { encoding: 'utf8', env: { ...process.env, ...env } });
    const bundled = run({});
    expect(JSON.parse(bundled).length).toBeGreaterThan(10);
    expect(bundled).toBe(run({ GARDEN_CLI_BUNDLE: 'off' }));
  });
});
