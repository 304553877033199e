import { describe, expect, it } from 'vitest';
import { FailureCluster, clusterRound, type ClusterExample } from './failure-cluster.ts';
import { cpuLab } from './cpu-deps.ts';
import { rng, testPolicy } from './test-helpers.ts';
import { sha256Hex } from '../hash.ts';
import { mlpToTensors, type MlpParams } from '../models/mlp.ts';
import { writeSuite } from '../eval/suite.ts';
import type { ParentInfo } from '../operators/candidate.ts';

const SHAPE = { inputs: 4, hidden: 3, classes: 3 };
const SPECIES = 'ab'.repeat(32);

/** label = argmax(x0, x1, x2); `swap` exchanges the logits of classes 0 and 1 (wrong on both). */
function model(id: string, swap = false): ParentInfo {
  const w1 = new Float32Array(12);
  for (let i = 0; i < 3; i++) w1[i * 3 + i] = 1;
  const w2 = new Float32Array(9);
  for (let i = 0; i < 3; i++) w2[i * 3 + (swap && i < 2 ? 1 - i : i)] = 5;
  const p: MlpParams = { shape: SHAPE, w1, b1: new Float32Array(3), w2, b2: new Float32Array(3) };
  return { hash: sha256Hex(new TextEncoder().encode(id)), species: SPECIES, tensors: mlpToTensors(p) };
}

function example(i: number, source: ClusterExample['source'] = 'user-marked'): ClusterExample {
  const r = rng(i + 1);
  const input = Float32Array.from([r(), r(), r(), r()]);
  // The cluster holds examples of classes 0 and 1: where the swapped model is wrong.
  input[2] = 0;
  return { requestId: `req-${i}`, input, label: input[0] > input[1] ? 0 : 1, source };
}

function suite(id: string, seed: number): Uint8Array {
  const r = rng(seed);
  const x = new Float32Array(200 * 4);
  const labels = new Uint8Array(200);
  for (let n = 0; n < 200; n++) {
    for (let j = 0; j < 4; j++) x[n * 4 + j] = r();
    const c = [x[n * 4], x[n * 4 + 1], x[n * 4 + 2]];
    labels[n] = c.indexOf(Math.max(...c));
  }
  return writeSuite(
    { id, name: id, family: 'toy', task: 'classify', perturbation: 'none', description: id, classes: 3, scale: 1 },
    { dtype: 'F32', data: x, featureSize: 4 },
    labels,
  );
}

describe('failure clusters', () => {
  it('a digest carries counts and a hash, never the contents; the split does not depend on arrival order', () => {
    const a = new FailureCluster('toy', 4, 3);
    const b = new FailureCluster('toy', 4, 3);
    const xs = Array.from({ length: 40 }, (_, i) => example(i, i % 4 ? 'user-marked' : 'stack-failed'));
    xs.forEach((e) => a.add(e));
    [...xs].reverse().forEach((e) => b.add(e));
    const d = a.digest();
    expect(d).toEqual({
      slot: 'toy',
      count: 40,
      bySource: { 'user-marked': 30, 'stack-failed': 10 },
      contents: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(JSON.stringify(d)).not.toContain('req-');
    expect(b.digest()).toEqual(d);
    expect(a.split().heldOut.map((e) => e.requestId)).toEqual(b.split().heldOut.map((e) => e.requestId));
    const { select, heldOut } = a.split();
    expect(select.length + heldOut.length).toBe(40);
    expect(select.length).toBeGreaterThan(5);
    expect(heldOut.length).toBeGreaterThan(5);
    // A changed label changes the digest.
    b.add({ ...xs[0], label: 1 - xs[0].label });
    expect(b.digest().contents).not.toBe(d.contents);
  });

  it('refuses a malformed example', () => {
    const c = new FailureCluster('toy', 4, 3);
    expect(() => c.add({ ...example(0), input: new Float32Array(3) })).toThrow('an input holds 4 values, got 3');
    expect(() => c.add({ ...example(0), label: 3 })).toThrow('label 3 is outside 0..2');
    expect(() => c.add({ ...example(0), input: Float32Array.from([NaN, 0, 0, 0]) })).toThrow('non-finite input');
  });

  it('a round from a cluster picks parents by how they do on it, evaluates on the held-out half too, and only proposes', async () => {
    const cluster = new FailureCluster('toy', 4, 3);
    for (let i = 0; i < 60; i++) cluster.add(example(i));
    const test = suite('toy-test', 5);
    const robust = suite('toy-robust', 6);
    const select = cluster.suite('select');
    const held = cluster.suite('heldOut');
    const models = new Map<string, ParentInfo>([
      ['good', model('good')],
      ['swapped', model('swapped', true)],
      ['good2', model('good2')],
    ]);
    const suites = new Map([
      [sha256Hex(test), test],
      [sha256Hex(robust), robust],
      [select.hash, select.bytes],
      [held.hash, held.bytes],
    ]);
    const lab = cpuLab({ models, suites });
    const policy = testPolicy({
      suites: { test: sha256Hex(test), robust: sha256Hex(robust) },
      primary: { suite: 'test', metric: 'accuracy', direction: 'max', margin: 0 },
      guardrails: [],
      ceilings: {},
    });
    const r = await clusterRound(
      cluster,
      {
        policy,
        approved: ['swapped', 'good', 'good2'],
        champion: 'swapped',
        parentCount: 2,
        recipes: [{ operator: 'blend', params: { weights: [0.5, 0.5], normalize: true }, seed: 1 }],
      },
      lab.deps,
    );
    expect(r.ranking.map((x) => x.model)).toEqual(['good', 'good2', 'swapped']);
    expect(r.ranking[0].accuracy).toBe(1);
    expect(r.ranking[2].accuracy).toBe(0);
    expect(r.parents).toEqual(['good', 'good2']);
    expect(r.round.candidates[0].recipe.parents).toEqual(['good', 'good2']);
    // The held-out half is a pinned suite of the round: every model has a sidecar on it.
    expect(r.round.sidecars.filter((s) => s.suite === held.hash).length).toBeGreaterThanOrEqual(2);
    expect(r.round.candidates[0].scored?.metrics.cluster.accuracy).toBe(1);
    expect(r.round.decision).toBe('promote-to-shadow');
    expect(r.proposal).toBe(true);
    expect(r.heldOut).toEqual({ hash: held.hash, count: held.count });
  });
});
