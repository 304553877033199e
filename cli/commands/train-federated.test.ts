import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist, MNIST_PIXELS } from '../../scripts/starter/mnist.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { toFloat32, type Tensor } from '../../src/core/tensor.ts';
import { federatedWeights, FEDERATED_KEYS } from '../../src/core/train/federated.ts';
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

  it('refuses --clip without --federated-update', async () => {
    const r = await runGarden('train', join(dir, 'a.json'), '--out', join(dir, 'x'), '--clip', '1', '--catalog', catalog, '--root', dir);
    expect(r.err).toMatch(/--clip goes with --federated-update/);
  });
});
