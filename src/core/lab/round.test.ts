import { describe, expect, it } from 'vitest';
import { applyRound, runLabRound, type LabRoundInput, type RoundRecipe } from './round.ts';
import { cpuLab, type Forward } from './cpu-deps.ts';
import { Ledger, MemoryLedgerStore } from './ledger.ts';
import { PolicyZone } from './policy.ts';
import { ReleaseController } from './release.ts';
import { fakeClock, rng, testPolicy } from './test-helpers.ts';
import { sha256Hex } from '../hash.ts';
import { mlpForward, mlpToTensors, type MlpParams } from '../models/mlp.ts';
import { writeSuite } from '../eval/suite.ts';
import type { Tensor } from '../tensor.ts';
import { candidateSlm, type ParentInfo } from '../operators/candidate.ts';
import { breed } from '../operators/breed.ts';
import { cpuBackend } from '../operators/backend.ts';
import { manifestHash } from '../manifest/index.ts';
import type { Policy } from '../manifest/kinds.ts';

const SPECIES = 'ab'.repeat(32);
const SHAPE = { inputs: 4, hidden: 3, classes: 3 };

/** The perfect model for label = argmax(x0, x1, x2): identity into the hidden layer, ×5 to the logits. */
function perfect(): MlpParams {
  const w1 = new Float32Array(12);
  for (let i = 0; i < 3; i++) w1[i * 3 + i] = 1;
  const w2 = new Float32Array(9);
  for (let i = 0; i < 3; i++) w2[i * 3 + i] = 5;
  return { shape: SHAPE, w1, b1: new Float32Array(3), w2, b2: new Float32Array(3) };
}

/** A = perfect + noise, B = perfect − noise: each is worse, their 50/50 blend is the perfect model. */
function antitheticPair(seed: number, scale: number): [Tensor[], Tensor[]] {
  const r = rng(seed);
  const p = perfect();
  const noisy = (sign: number): MlpParams => {
    const f = (a: Float32Array, salt: number) => a.map((v, i) => v + sign * scale * (rng(seed * 100 + salt * 10 + i)() * 2 - 1));
    return { shape: SHAPE, w1: f(p.w1, 1), b1: f(p.b1, 2), w2: f(p.w2, 3), b2: f(p.b2, 4) };
  };
  void r;
  return [mlpToTensors(noisy(1)), mlpToTensors(noisy(-1))];
}

function suiteBytes(id: string, seed: number, count: number, noise: number): Uint8Array {
  const r = rng(seed);
  const x = new Float32Array(count * 4);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    for (let j = 0; j < 4; j++) x[n * 4 + j] = r();
    const clean = [x[n * 4], x[n * 4 + 1], x[n * 4 + 2]];
    labels[n] = clean.indexOf(Math.max(...clean));
    for (let j = 0; j < 4; j++) x[n * 4 + j] += noise * (r() * 2 - 1);
  }
  return writeSuite(
    {
      id,
      name: id,
      family: 'toy',
      task: 'classify',
      perturbation: noise ? `noise(${noise})` : 'none',
      description: id,
      classes: 3,
      scale: 1,
    },
    { dtype: 'F32', data: x, featureSize: 4 },
    labels,
  );
}

function world(forward?: Forward) {
  const [A, B] = antitheticPair(3, 0.9);
  const test = suiteBytes('toy-test', 11, 400, 0);
  const robust = suiteBytes('toy-robust', 12, 400, 0.1);
  const policy: Policy = testPolicy({
    allowlist: ['blend'],
    primary: { suite: 'test', metric: 'accuracy', direction: 'max', margin: 0.02 },
    guardrails: [
      { suite: 'test', metric: 'ece', direction: 'min', tolerance: 0.25 },
      { suite: 'robust', metric: 'accuracy', direction: 'max', tolerance: 0.05 },
    ],
    ceilings: { maxBytes: 100_000 },
    suites: { test: sha256Hex(test), robust: sha256Hex(robust) },
  });
  const info = (id: string, tensors: Tensor[]): ParentInfo => ({
    hash: sha256Hex(new TextEncoder().encode(`toy parent ${id}`)),
    species: SPECIES,
    tensors,
  });
  const models = new Map<string, ParentInfo>([
    ['A', info('A', A)],
    ['B', info('B', B)],
  ]);
  const suites = new Map([
    [sha256Hex(test), test],
    [sha256Hex(robust), robust],
  ]);
  const lab = cpuLab({ models, suites, forward });
  return { A, B, test, robust, policy, models, suites, lab };
}

const blend = (weights: number[], seed = 1): RoundRecipe => ({
  operator: 'blend',
  parents: ['A', 'B'],
  params: { weights, normalize: true },
  seed,
});

describe('lab round (CPU operators, CPU evaluator)', () => {
  it('promotes the 50/50 blend of an antithetic pair to shadow, archiving the no-gain recipe with its numbers', async () => {
    const w = world();
    const input: LabRoundInput = {
      slot: 'toy',
      policy: w.policy,
      approved: ['A', 'B'],
      parents: ['A', 'B'],
      champion: 'A',
      recipes: [blend([1, 0]), blend([0.5, 0.5])],
    };
    const res = await runLabRound(input, w.lab.deps);
    expect(res.decision).toBe('promote-to-shadow');
    const [same, mid] = res.candidates;
    expect(res.winner).toBe(mid.id);
    expect(mid.scored!.metrics.test.accuracy).toBeGreaterThan(0.97);
    expect(res.baselines.champion!.metrics.test.accuracy).toBeLessThan(0.95);
    // blend [1, 0] is A itself: no gain over the champion, archived with the numbers.
    expect(same.status).toBe('archived');
    expect(same.reasons[0]).toMatch(/^accuracy on test: 0\.\d{4} vs champion A 0\.\d{4}, gain \+0\.0000 is below the margin 0\.0200$/);
    expect(res.promotionTemplate!.gates.map((g) => `${g.id}:${g.status}`)).toEqual([
      'allowlist:passed',
      'evaluation:passed',
      'viability:passed',
      'runtime-smoke:passed',
      'shadow:pending',
      'canary:pending',
      'champion:pending',
    ]);
    // Every model is evaluated on every pinned suite, with a checksummed sidecar.
    expect(new Set(res.sidecars.map((s) => s.candidate))).toEqual(new Set(['A', 'B', same.id, mid.id]));
    expect(res.sidecars).toHaveLength(4 * 2);
    expect(res.smokes.map((m) => [m.candidate, m.passed])).toEqual([
      [same.id, true],
      [mid.id, true],
    ]);

    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const release = ReleaseController.open(ledger);
    await release.createSlot('toy', { inputLength: 4, outputLength: 3, timeoutMs: 1000, compare: 'argmax' }, 'A', ['B']);
    const admission = await applyRound(res, { ledger, release }, fakeClock());
    expect(admission!.candidate).toBe(mid.id);
    expect(release.current('toy')).toMatchObject({ champion: 'A', shadow: mid.id });
    expect(ledger.entries().map((e) => e.type)).toEqual(['release', 'admission', 'release']);
    // One admission payload, the one admitToShadow writes for the app too.
    expect(Object.keys(ledger.entries()[1].payload).sort()).toEqual([
      'admission',
      'admissionHash',
      'candidate',
      'model',
      'policyHash',
      'promotionTemplate',
      'slot',
    ]);
    expect(ledger.entries()[1].payload).toMatchObject({
      slot: 'toy',
      model: mid.id,
      candidate: mid.id,
      admissionHash: manifestHash(admission!),
      policyHash: res.policyHash,
      promotionTemplate: res.promotionTemplate,
    });
    expect(ledger.entries()[2].payload).toMatchObject({ action: 'shadow', evidence: { admission: manifestHash(admission!) } });
  });

  it('sidecars name the JavaScript evaluator; candidates have the bytes candidateSlm gives (as garden breed and the app); smoke reports finite', async () => {
    const w = world();
    const res = await runLabRound(
      {
        slot: 'toy',
        policy: w.policy,
        approved: ['A', 'B'],
        parents: ['A', 'B'],
        champion: 'A',
        recipes: [blend([0.5, 0.5]), blend([0.3, 0.7], 5)],
      },
      w.lab.deps,
    );
    expect(new Set(res.sidecars.map((s) => s.evaluator.id))).toEqual(new Set(['slm-garden/evaluate-classifier-js']));
    for (const [i, c] of res.candidates.entries()) {
      const recipe = [blend([0.5, 0.5]), blend([0.3, 0.7], 5)][i];
      const parents = recipe.parents.map((p) => w.models.get(p)!);
      const direct = await breed(
        { operator: recipe.operator, params: recipe.params as never, seed: recipe.seed, parents: parents.map((p) => p.tensors) },
        cpuBackend,
      );
      const file = candidateSlm(direct, parents);
      expect(c.id).toBe(file.hash);
      expect(sha256Hex(w.lab.candidates.get(c.id!)!)).toBe(file.hash);
      expect(Buffer.from(w.lab.candidates.get(c.id!)!).equals(Buffer.from(file.bytes))).toBe(true);
    }
    expect(res.smokes.map((m) => [m.finite, m.passed])).toEqual([
      [true, true],
      [true, true],
    ]);
  });

  it('gives a no-op when no candidate beats no-op (the best parent unchanged), naming the numbers', async () => {
    const w = world();
    const res = await runLabRound(
      {
        slot: 'toy',
        policy: w.policy,
        approved: ['A', 'B'],
        parents: ['A', 'B'],
        champion: null,
        recipes: [blend([1, 0]), blend([0, 1], 2)],
      },
      w.lab.deps,
    );
    expect(res.decision).toBe('no-op');
    expect(res.winner).toBeNull();
    expect(res.reasons[0]).toBe('no-op: none of 2 candidates is viable; every candidate archived');
    for (const c of res.candidates) {
      expect(c.status).toBe('archived');
      expect(c.reasons.join(' ')).toMatch(/vs no-op [AB] 0\.\d{4}, gain [+−]0\.\d{4} is below the margin 0\.0200/);
    }
    expect(res.promotionTemplate).toBeNull();
  });

  it('a candidate that fails the runtime smoke is not evaluated and is archived as failed', async () => {
    // Inference that overflows on saturated inputs (the smoke's all-ones probe row), never on suite rows.
    const fragile: Forward = (params, x, batch) => {
      const y = mlpForward(params, x, batch);
      for (let n = 0; n < batch; n++) if (x.subarray(n * 4, n * 4 + 4).every((v) => v === 1)) y[n * 3] = NaN;
      return y;
    };
    const w = world(fragile);
    const res = await runLabRound(
      { slot: 'toy', policy: w.policy, approved: ['A', 'B'], parents: ['A', 'B'], champion: 'A', recipes: [blend([0.5, 0.5])] },
      w.lab.deps,
    );
    expect(res.decision).toBe('no-op');
    expect(res.candidates[0].status).toBe('failed');
    expect(res.candidates[0].reasons[0]).toMatch(/^runtime smoke failed: .*non-finite|^runtime smoke failed: .*NaN/i);
    expect(res.smokes[0]).toMatchObject({ passed: false, finite: false });
    expect(res.sidecars.map((s) => s.candidate)).not.toContain(res.candidates[0].id);
  });

  it('refuses operators outside the allowlist and parents outside the approved pool, with reasons', async () => {
    const w = world();
    const res = await runLabRound(
      {
        slot: 'toy',
        policy: w.policy,
        approved: ['A'],
        parents: ['A', 'B'],
        champion: 'A',
        recipes: [
          { operator: 'mutate', parents: ['A'], params: {}, seed: 1 },
          blend([0.5, 0.5]),
          { operator: 'nope', parents: ['A'], params: {}, seed: 1 },
        ],
      },
      w.lab.deps,
    );
    expect(res.decision).toBe('no-op');
    expect(res.reasons).toContain('parent B is not in the approved pool; left out');
    expect(res.candidates.map((c) => c.status)).toEqual(['refused', 'refused', 'refused']);
    expect(res.candidates[0].reasons[0]).toBe('recipe 0: operator "mutate" is not in the policy allowlist (blend)');
    expect(res.candidates[1].reasons[0]).toBe('recipe 1: parent B not among the approved parents of this round');
    expect(res.candidates[2].reasons[0]).toMatch(/^recipe 2: unknown operator "nope"; valid: blend, /);

    // The refused operator becomes a proposal (an unknown one does not: nothing could run it).
    expect(res.proposals.map((q) => [q.kind, q.subject, q.candidate])).toEqual([['operator', 'mutate', null]]);
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const release = ReleaseController.open(ledger);
    await release.createSlot('toy', { inputLength: 4, outputLength: 3, timeoutMs: 1000, compare: 'argmax' }, 'A', []);
    expect(await applyRound(res, { ledger, release }, fakeClock())).toBeNull();
    expect(await applyRound(res, { ledger, release }, fakeClock())).toBeNull();
    const written = ledger.entries().filter((e) => e.type === 'proposal');
    expect(written.map((e) => [e.payload.subject, e.payload.slot])).toEqual([['mutate', 'toy']]); // once, though applied twice
    expect(String(written[0].payload.reason)).toMatch(/not in the policy allowlist \(blend\); allowing it is a policy change/);
    expect(ledger.verify().ok).toBe(true);
  });

  it('a guardrail regression in a round is archived with its reasons', async () => {
    const w = world();
    const res = await runLabRound(
      { slot: 'toy', policy: w.policy, approved: ['A', 'B'], parents: ['A', 'B'], champion: 'A', recipes: [blend([0.5, 0.5])] },
      {
        ...w.lab.deps,
        // The evaluator reports a candidate that gains on test but collapses on robust.
        evaluate: async (id, suite) => {
          const m = await w.lab.deps.evaluate(id, suite);
          return !['A', 'B'].includes(id) && suite.name === 'robust' ? { ...m, accuracy: 0.2 } : m;
        },
      },
    );
    expect(res.decision).toBe('no-op');
    expect(res.candidates[0].reasons.join('\n')).toMatch(
      /guardrail accuracy on robust regressed: 0\.2000 vs champion A 0\.\d{4}, a regression of 0\.\d{4} beyond the tolerance 0\.0500/,
    );
  });
});

describe('trust zones', () => {
  it('operator and candidate code cannot write the suites, the policy or the ledger', async () => {
    const attempts: string[] = [];
    // Candidate-zone inference code that tries to corrupt what it is handed.
    const evilForward: Forward = (params, x, batch) => {
      const y = mlpForward(params, x, batch);
      x.fill(0); // scribble on the suite rows it was given
      params.w1.fill(123); // and on its own weights
      attempts.push('forward wrote its inputs');
      return y;
    };
    const w = world(evilForward);
    const ledger = await Ledger.open(new MemoryLedgerStore(), { now: fakeClock() });
    const policyZone = await PolicyZone.open(ledger, w.policy);
    const guarded = new Set<unknown>([ledger, policyZone, policyZone.current(), w.suites, w.test, w.robust, w.models]);
    const suiteHashes = [sha256Hex(w.test), sha256Hex(w.robust)];
    const parentHashes = [...w.models.values()].map((m) => m.tensors.map((t) => sha256Hex(t.data)).join());
    const head = ledger.head;
    const policyHash = policyZone.hash;

    // Operator-zone code: everything it can reach from its arguments.
    const reachable = new Set<unknown>();
    const walk = (v: unknown) => {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function') || reachable.has(v)) return;
      reachable.add(v);
      for (const k of Reflect.ownKeys(v as object)) {
        try {
          walk((v as Record<string | symbol, unknown>)[k]);
        } catch {
          /* getters */
        }
      }
    };
    const evilBreed = async function (this: unknown, recipe: Readonly<RoundRecipe>) {
      walk(recipe);
      walk(this);
      for (const hit of [
        () => ((recipe.params as Record<string, unknown>).weights = [1, 0]),
        () => (recipe.params.weights as number[]).push(7),
        () => ((recipe as { parents: string[] }).parents = ['A']),
        () => Object.defineProperty(recipe, 'operator', { value: 'mutate' }),
      ]) {
        try {
          hit();
          attempts.push('recipe write succeeded');
        } catch (e) {
          expect(e).toBeInstanceOf(TypeError);
        }
      }
      return w.lab.deps.breed(recipe);
    };

    const res = await runLabRound(
      { slot: 'toy', policy: policyZone.current(), approved: ['A', 'B'], parents: ['A', 'B'], champion: 'A', recipes: [blend([0.5, 0.5])] },
      { ...w.lab.deps, breed: evilBreed },
    );
    expect(attempts).not.toContain('recipe write succeeded');
    expect(attempts).toContain('forward wrote its inputs');
    for (const g of guarded) expect(reachable.has(g)).toBe(false);
    // The round still ran on intact data: the suites, parents, policy and ledger are unchanged.
    expect([sha256Hex(w.test), sha256Hex(w.robust)]).toEqual(suiteHashes);
    expect(
      [...w.models.entries()].filter(([k]) => k === 'A' || k === 'B').map(([, m]) => m.tensors.map((t) => sha256Hex(t.data)).join()),
    ).toEqual(parentHashes);
    expect(policyZone.hash).toBe(policyHash);
    expect(ledger.head).toEqual(head);
    expect(ledger.verify().ok).toBe(true);
    expect(res.candidates[0].scored!.metrics.test.accuracy).toBeGreaterThan(0.97); // scribbling did not change the scores
    // The policy the round saw is frozen; it changes only through a ledgered change.
    expect(() => ((policyZone.current().primary as { margin: number }).margin = 0)).toThrow(TypeError);
    expect(() => (policyZone.current().allowlist as string[]).push('mutate')).toThrow(TypeError);
    expect(() => ((ledger.entries()[0].payload as Record<string, unknown>).policy = null)).toThrow(TypeError);
  });
});
