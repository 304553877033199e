import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist, MNIST_PIXELS } from '../../scripts/starter/mnist.ts';
import { checkSlmMetadata, readSlm } from '../../src/core/format/slm.ts';
import { toFloat32, type Tensor } from '../../src/core/tensor.ts';
import { federatedUpdateFile, federatedWeights, FEDERATED_KEYS } from '../../src/core/train/federated.ts';
import { writeTinyDigits } from '../lab-fixture.ts';
import { runGarden } from '../test-run.ts';

let dir = '';
let catalog = '';
const flat = (m: readonly Tensor[]) => Float64Array.from(m.flatMap((t) => Array.from(toFloat32(t))));
const read = (f: string) => readSlm(readFileSync(join(dir, f)));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-federated-'));
  writeTinyDigits(dir);
  catalog = join(dir, 'catalog.json');
  // Two "clients" with labelled training images (the suites come from the test set): 30 and 10 rows.
  const train = loadMnist('train');
  const rows = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, k) => {
      const r = from + k;
      const features = Array.from(train.images.subarray(r * MNIST_PIXELS, (r + 1) * MNIST_PIXELS), (v) => v / 255);
      return JSON.stringify({ features, label: train.labels[r] });
    }).join('\n');
  writeFileSync(join(dir, 'a.jsonl'), rows(0, 30));
  writeFileSync(join(dir, 'b.jsonl'), rows(30, 40));
  for (const c of ['a', 'b'])
    writeFileSync(
      join(dir, `${c}.json`),
      JSON.stringify({
        base: 'digits/base.slm',
        data: { train: `${c}.jsonl` },
        adapter: { r: 2, lora_alpha: 4, target_modules: ['fc1', 'fc2'] },
        train: { steps: 20, batch: 8, lr: 0.01, seed: 1 },
      }),
    );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('garden train --federated-update', () => {
  it("writes each run's delta with its example count; garden breed's federated operator merges them to the count-weighted mean", async () => {
    const train = (c: string, ...extra: string[]) =>
      runGarden(
        'train',
        join(dir, `${c}.json`),
        '--out',
        join(dir, `${c}-adapter`),
        '--merged-out',
        join(dir, `${c}-merged.slm`),
        '--federated-update',
        join(dir, `${c}-update.slm`),
        '--catalog',
        catalog,
        '--root',
        dir,
        ...extra,
      );
    const ra = await train('a');
    expect(ra.err).toBe('');
    expect(ra.out).toMatch(/update {4}.*a-update\.slm {2}30 examples, delta norm /);
    // Client b clips its update to half its norm.
    const rb0 = await train('b', '--json');
    const normB = (JSON.parse(rb0.out) as { update: { norm: number } }).update.norm;
    const rb = await train('b', '--clip', String(normB / 2));
    expect(rb.out).toMatch(/10 examples, delta norm .* clipped to /);

    const base = read('digits/base.slm');
    const [ua, ub] = [read('a-update.slm'), read('b-update.slm')];
    expect(ua.species).toBe(base.species);
    expect(ub.metadata[FEDERATED_KEYS.clip]).toBe(String(normB / 2));
    const weights = federatedWeights([ua, ub], base.hash);
    expect(weights).toEqual([30, 10]);
    // Without the clip, a's update is exactly its merged model.
    expect(flat(ua.tensors)).toEqual(flat(read('a-merged.slm').tensors));
    // The file is the core's federatedUpdateFile of the run (what the app's download saves), byte for byte.
    const info = checkSlmMetadata(base.metadata);
    const of = { hash: base.hash, species: base.species, graph: info.graph, vocabulary: info.vocabulary, tensors: base.tensors };
    expect(federatedUpdateFile(of, read('b-merged.slm').tensors, { examples: 10, clipNorm: normB / 2 }).bytes).toEqual(
      new Uint8Array(readFileSync(join(dir, 'b-update.slm'))),
    );

    writeFileSync(
      join(dir, 'fed.json'),
      JSON.stringify({
        kind: 'recipe',
        schemaVersion: 1,
        operator: 'federated',
        params: { weights },
        seed: 0,
        base: { path: 'digits/base.slm' },
        parents: [{ path: 'a-update.slm' }, { path: 'b-update.slm' }],
        output: { path: 'fed.slm' },
      }),
    );
    const rf = await runGarden('breed', join(dir, 'fed.json'), '--root', dir, '--threads', '0');
    expect(rf.err).toBe('');
    const [b0, da, dbFull] = [flat(base.tensors), flat(read('a-merged.slm').tensors), flat(read('b-merged.slm').tensors)];
    const expected = b0.map((x, i) => x + (30 * (da[i] - x) + 10 * 0.5 * (dbFull[i] - x)) / 40);
    const got = flat(read('fed.slm').tensors);
    let worst = 0;
    got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected[i]))));
    expect(worst).toBeLessThan(1e-6);
    expect(Math.max(...da.map((v, i) => Math.abs(v - b0[i])))).toBeGreaterThan(1e-3);
  });

  it("garden breed takes the federated weights from the updates' example counts, and refuses a recipe whose weights disagree", async () => {
    // Runs on the updates the test above wrote (a: 30 examples, b: 10, clipped).
    const recipe = (name: string, params: Record<string, unknown>) =>
      writeFileSync(
        join(dir, `${name}.json`),
        JSON.stringify({
          kind: 'recipe',
          schemaVersion: 1,
          operator: 'federated',
          params,
          seed: 0,
          base: { path: 'digits/base.slm' },
          parents: [{ path: 'a-update.slm' }, { path: 'b-update.slm' }],
          output: { path: `${name}.slm` },
        }),
      );
    recipe('fed-counts', {});
    const r = await runGarden('breed', join(dir, 'fed-counts.json'), '--root', dir, '--threads', '0');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/weights {3}the updates' example counts 30, 10 \(garden\.federated\.examples\)/);
    // The same resolved parameters as the recipe that gave the counts: the same candidate bytes.
    expect(readFileSync(join(dir, 'fed-counts.slm'))).toEqual(readFileSync(join(dir, 'fed.slm')));

    recipe('fed-wrong', { weights: [10, 30] });
    const w = await runGarden('breed', join(dir, 'fed-wrong.json'), '--root', dir, '--threads', '0');
    expect(w.code).not.toBe(0);
    expect(w.err.trim().split('\n')).toHaveLength(1);
    expect(w.err).toMatch(/the recipe's weights \[10,30\] disagree with the updates' example counts \[30,10\]/);
    expect(existsSync(join(dir, 'fed-wrong.slm'))).toBe(false);

    // A parent that is no update (the base itself) beside an update: refused, naming it.
    writeFileSync(
      join(dir, 'fed-mixed.json'),
      JSON.stringify({
        kind: 'recipe',
        schemaVersion: 1,
        operator: 'federated',
        params: {},
        seed: 0,
        base: { path: 'digits/base.slm' },
        parents: [{ path: 'a-update.slm' }, { path: 'a-merged.slm' }],
        output: { path: 'fed-mixed.slm' },
      }),
    );
    const m = await runGarden('breed', join(dir, 'fed-mixed.json'), '--root', dir, '--threads', '0');
    expect(m.err).toMatch(/federated: update 2 records no example count/);
    expect(existsSync(join(dir, 'fed-mixed.slm'))).toBe(false);
  });

  it('refuses --clip without --federated-update', async () => {
    const r = await runGarden('train', join(dir, 'a.json'), '--out', join(dir, 'x'), '--clip', '1', '--catalog', catalog, '--root', dir);
    expect(r.err).toMatch(/--clip goes with --federated-update/);
  });
});
