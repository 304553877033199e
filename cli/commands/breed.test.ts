import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import command from './breed.ts';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { lineageKey } from '../../src/core/operators/candidate.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { randomModel } from '../../src/core/operators/test-data.ts';
import { manifestHash } from '../../src/core/manifest/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'garden-breed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = [1, 2, 3].map((seed) => {
  const tensors = randomModel(seed);
  const bytes = writeSlm(tensors, {
    species: speciesId(speciesSignature(tensors, '', ['a', 'b', 'c'])),
    graph: '',
    vocabulary: ['a', 'b', 'c'],
  });
  const path = join(dir, `p${seed}.slm`);
  writeFileSync(path, bytes);
  return { path, hash: sha256Hex(bytes) };
});

async function runCli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await command.run(args), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

function recipe(name: string, body: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ kind: 'recipe', schemaVersion: 1, params: {}, seed: 7, output: { path: `${name}.slm` }, ...body }));
  return path;
}

describe('garden breed', () => {
  it('takes per-parent densities and filter lists, and prints each parent’s kept fraction', async () => {
    const r = recipe('per-parent.json', {
      operator: 'ties',
      params: { density: { perParent: [0.5, [{ filter: 'fc1', value: 0.25 }, { value: 1 }]] } },
      base: { path: 'p1.slm' },
      parents: [{ path: 'p2.slm' }, { path: 'p3.slm' }],
    });
    const { code, out } = await runCli([r]);
    expect(code).toBe(0);
    // fc1.weight (96 elements): int(0.5·96) = 48 and int(0.25·96) = 24 kept; fc2.weight: 12 of 24 and all.
    expect(out).toMatch(/^fc1\.weight(\s+\S+){4}\s+0\.500\/0\.250\s/m);
    expect(out).toMatch(/^fc2\.weight(\s+\S+){4}\s+0\.500\/1\s/m);
  });

  it('breeds a TIES candidate, prints its hash and stats, and the same recipe gives the same bytes', async () => {
    const r = recipe('ties.json', {
      operator: 'ties',
      params: { density: 0.5 },
      base: { path: 'p1.slm', hash: files[0].hash },
      parents: [{ path: 'p2.slm' }, { path: 'p3.slm' }],
    });
    const first = await runCli([r]);
    expect(first.code).toBe(0);
    const hash = /candidate ([0-9a-f]{64})/.exec(first.out)![1];
    const bytes = readFileSync(join(dir, 'ties.json.slm'));
    expect(sha256Hex(new Uint8Array(bytes))).toBe(hash);
    expect(first.out).toMatch(/operator\s+ties@2\.0\.0\s+seed 7/);
    expect(first.out).toMatch(/fc1\.weight\s+\S+\s+\S+\s+\S+\s+\d+/);
    const second = await runCli([r, '--out', join(dir, 'again.slm')]);
    expect(/candidate ([0-9a-f]{64})/.exec(second.out)![1]).toBe(hash);
    const slm = readSlm(new Uint8Array(bytes));
    expect(slm.metadata['garden.operator']).toBe('ties@2.0.0');
    expect(slm.tensors.map((t) => t.name).sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    // The file carries its recipe (operator, parameters, seed, the parents' hashes: base first),
    // and its lineage key is the hash of exactly that.
    const carried = JSON.parse(slm.metadata['garden.recipe']);
    expect(carried).toMatchObject({ operator: { id: 'ties' }, seed: 7, parents: files.slice(0, 3).map((f) => f.hash) });
    expect(carried.params.density).toBe(0.5);
    expect(
      lineageKey(
        carried,
        carried.parents.map((hash: string) => ({ hash })),
      ),
    ).toBe(slm.metadata['garden.lineage']);
  });

  it('a quantize recipe writes a smaller file and --json gives the receipt summary', async () => {
    const r = recipe('q.json', { operator: 'quantize', params: { scheme: 'int8', blockSize: 8 }, parents: [{ path: 'p1.slm' }] });
    const { out } = await runCli([r, '--json']);
    const s = JSON.parse(out);
    expect(s.operator).toEqual({ id: 'quantize', version: '1.0.0' });
    const skipped = Object.fromEntries(s.stats.map((x: { name: string; skipped?: string }) => [x.name, Boolean(x.skipped)]));
    expect(skipped).toEqual({ 'fc1.weight': false, 'fc1.bias': true, 'fc2.weight': false, 'fc2.bias': true });
    const slm = readSlm(new Uint8Array(readFileSync(s.path)));
    expect(slm.metadata['garden.quant.blockSize']).toBe('8');
    expect(slm.tensors.find((t) => t.name === 'fc1.weight.q')!.dtype).toBe('I8');
  });

  it('breeds the same bytes on the worker pool as on the single-threaded reference, for every operator', async () => {
    // fc1.weight has 300·200 elements (fc2.bias 10, so density 0.25 keeps some): above the pool's inline threshold, so the workers split it.
    const big = [11, 12, 13, 14].map((seed) => {
      const tensors = randomModel(seed, 300, 200, 10);
      const path = join(dir, `big${seed}.slm`);
      writeFileSync(
        path,
        writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a', 'b', 'c'])), graph: '', vocabulary: ['a', 'b', 'c'] }),
      );
      return `big${seed}.slm`;
    });
    const cases: [string, Record<string, unknown>, boolean][] = [
      ['ties', { density: 0.3 }, true],
      ['task-delta', {}, true],
      ['blend', {}, false],
      ['dare', { drop: 0.4 }, true],
      ['sparse-task-delta', { density: 0.25 }, true],
    ];
    for (const [operator, params, withBase] of cases) {
      const body = withBase
        ? { base: { path: big[0] }, parents: big.slice(1).map((p) => ({ path: p })) }
        : { parents: big.slice(1).map((p) => ({ path: p })) };
      const r = recipe(`pool-${operator}.json`, { operator, params, ...body });
      const pooled = JSON.parse((await runCli([r, '--json', '--threads', '2', '--out', join(dir, `pool-${operator}-2.slm`)])).out);
      const single = JSON.parse((await runCli([r, '--json', '--threads', '0', '--out', join(dir, `pool-${operator}-0.slm`)])).out);
      expect(pooled.backend.adapter, operator).toMatch(/2 workers/);
      if (operator === 'blend') {
        // A model too small to split runs the reference: no pool to start.
        const small = JSON.parse(
          (
            await runCli([
              recipe('small.json', { operator, parents: [{ path: 'p1.slm' }, { path: 'p2.slm' }] }),
              '--json',
              '--threads',
              '2',
            ])
          ).out,
        );
        expect(small.backend.adapter).toBe('CPU reference (JavaScript)');
      }
      expect(single.backend.adapter, operator).toBe('CPU reference (JavaScript)');
      expect(pooled.candidate, operator).toBe(single.candidate);
      // The statistics too (the pool's workers take them off the main thread), all but the times.
      const noMs = (st: { ms: number }[]) => st.map(({ ms, ...rest }) => (void ms, rest));
      expect(noMs(pooled.stats), operator).toEqual(noMs(single.stats));
      expect(new Uint8Array(readFileSync(pooled.path))).toEqual(new Uint8Array(readFileSync(single.path)));
      for (const k of ['read', 'compute', 'serialize', 'write', 'hash', 'total']) expect(pooled.timings[k], k).toBeGreaterThanOrEqual(0);
    }
    await expect(runCli([recipe('t.json', { operator: 'blend', parents: [{ path: 'p2.slm' }] }), '--threads', 'x'])).rejects.toThrow(
      /--threads x is not a whole number/,
    );
  });

  it("breeds mergekit's other methods by their mergekit names, with and without a base", async () => {
    const cases: [string, string, Record<string, unknown>, number, boolean][] = [
      ['nearswap', 'nearswap', { t: 0.05 }, 1, true],
      ['model_stock', 'model-stock', {}, 2, true],
      ['nuslerp', 'nuslerp', { weights: [1, 2], nuslerpFlatten: false }, 2, false],
      ['nuslerp-base', 'nuslerp-base', {}, 2, true],
      ['multislerp', 'multislerp', { weights: [1, 2] }, 2, false],
      ['karcher', 'karcher', { maxIter: 5 }, 3, false],
      ['sce', 'sce', { selectTopk: 0.5 }, 2, true],
      ['arcee_fusion', 'arcee-fusion', {}, 1, true],
      ['ram', 'ram', {}, 2, true],
      ['ramplus_tl', 'ramplus-tl', { r: 0.2 }, 2, true],
    ];
    for (const [name, id, params, n, withBase] of cases) {
      const paths = withBase ? ['p1.slm', 'p2.slm', 'p3.slm'] : ['p2.slm', 'p3.slm', 'p1.slm'];
      const body = withBase
        ? { base: { path: paths[0] }, parents: paths.slice(1, 1 + n).map((p) => ({ path: p })) }
        : { parents: paths.slice(0, n).map((p) => ({ path: p })) };
      const { code, out } = await runCli([recipe(`mk-${id}.json`, { operator: name, params, ...body }), '--json']);
      expect(code, name).toBe(0);
      const s = JSON.parse(out);
      expect(s.operator, name).toEqual({ id, version: '1.0.0' });
      const slm = readSlm(new Uint8Array(readFileSync(s.path)));
      expect(slm.tensors.length, name).toBe(4);
      if (id === 'karcher')
        expect(
          s.stats.every((x: { iterations?: number }) => typeof x.iterations === 'number'),
          'karcher iterations in the receipt',
        ).toBe(true);
    }
  });

  it("--json carries the breed's documents, as the app records them: compatibility → lineage → receipt → candidate manifest", async () => {
    const r = recipe('docs.json', {
      operator: 'ties',
      params: { density: 0.5 },
      base: { path: 'p1.slm' },
      parents: [{ path: 'p2.slm' }, { path: 'p3.slm' }],
    });
    const s = JSON.parse((await runCli([r, '--json'])).out);
    const [compat, lineage, receipt, candidate] = s.manifests;
    expect(s.manifests.map((m: { kind: string }) => m.kind)).toEqual([
      'compatibility-report',
      'lineage-template',
      'operator-receipt',
      'candidate-manifest',
    ]);
    expect(lineage).toMatchObject({
      parents: s.inputs,
      base: s.inputs[0],
      operator: s.operator,
      params: s.params,
      seed: 7,
      compatibilityReport: manifestHash(compat),
    });
    expect(receipt).toMatchObject({ lineage: manifestHash(lineage), inputs: s.inputs, output: s.candidate });
    expect(receipt.recompute).toContain(`lineage key ${s.lineage}`);
    expect(candidate).toMatchObject({
      candidate: s.candidate,
      lineage: manifestHash(lineage),
      receipt: manifestHash(receipt),
      bytes: s.bytes,
    });
  });

  it('refuses bad recipes with one line naming the problem', async () => {
    await expect(runCli([recipe('x1.json', { operator: 'ties', parents: [{ path: 'p2.slm' }, { path: 'p3.slm' }] })])).rejects.toThrow(
      /ties needs a "base"/,
    );
    await expect(
      runCli([recipe('x2.json', { operator: 'blend', parents: [{ path: 'p2.slm' }, { path: 'p3.slm' }], extra: 1 })]),
    ).rejects.toThrow(/unknown key "extra"/);
    await expect(
      runCli([recipe('x3.json', { operator: 'blend', parents: [{ path: 'p2.slm', hash: files[0].hash }, { path: 'p3.slm' }] })]),
    ).rejects.toThrow(/parent 0 .* has hash .* the recipe expects/);
    // The streamed breed checks the parents' hashes after reading them once: nothing is left behind.
    expect(readdirSync(dir).filter((f) => (f.startsWith('x3.json') && f !== 'x3.json') || f.endsWith('.tmp'))).toEqual([]);
    await expect(runCli([recipe('x4.json', { operator: 'merge', parents: [{ path: 'p2.slm' }] })])).rejects.toThrow(
      /unknown operator "merge"; valid: blend/,
    );
    await expect(
      runCli([recipe('x5.json', { operator: 'dare', params: { drop: 1.5 }, base: { path: 'p1.slm' }, parents: [{ path: 'p2.slm' }] })]),
    ).rejects.toThrow(/"drop" is 1.5, above the maximum 1/);
  });
});
