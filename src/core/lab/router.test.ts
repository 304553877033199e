import { describe, expect, it } from 'vitest';
import { ReleaseController } from './release.ts';
import { SelectorRouter, canaryBucket, type Invoke } from './router.ts';
import { CONTRACT, memoryLedger, rng } from './test-helpers.ts';
import { Ledger, MemoryLedgerStore, type LedgerStore } from './ledger.ts';

/** Models as plain functions of the input: each returns 3 logits. */
function models(table: Record<string, (x: Float32Array) => ArrayLike<number> | Promise<ArrayLike<number>>>): {
  invoke: Invoke;
  calls: string[];
} {
  const calls: string[] = [];
  return {
    calls,
    invoke: async (id, x) => {
      calls.push(id);
      const f = table[id];
      if (!f) throw new Error(`no model ${id}`);
      return f(x);
    },
  };
}
const good = (x: Float32Array) => [x[0], x[1], x[2]];
const other = (x: Float32Array) => [x[2], x[1], x[0] + 1];
const input = (i: number) => Float32Array.from([i % 3, (i * 7) % 5, (i * 3) % 4, 1]);

async function setup(champion: string, fallback: string[]) {
  const { ledger } = await memoryLedger();
  const release = ReleaseController.open(ledger);
  await release.createSlot('s', CONTRACT, champion, fallback);
  return { ledger, release };
}

describe('selector router', () => {
  it('shadow runs beside the champion, never answers, and its disagreement is recorded', async () => {
    const { release } = await setup('A', []);
    await release.toShadow('s', 'S', 'trial');
    const m = models({ A: good, S: other });
    const router = new SelectorRouter({ invoke: m.invoke, release });
    let disagreements = 0;
    for (let i = 0; i < 20; i++) {
      const r = await router.route('s', `req-${i}`, input(i));
      expect(r.answeredBy).toBe('A');
      expect(Array.from(r.output)).toEqual(good(input(i)).map((v) => Math.fround(v)));
      const rec = await r.shadow;
      expect(rec).toMatchObject({ requestId: `req-${i}`, model: 'S', answeredBy: 'A' });
      const argmax = (v: ArrayLike<number>) => Array.from(v).indexOf(Math.max(...Array.from(v)));
      expect(rec!.agreed).toBe(argmax(good(input(i))) === argmax(other(input(i))));
      if (!rec!.agreed) disagreements++;
    }
    expect(disagreements).toBeGreaterThan(0);
    expect(m.calls.filter((c) => c === 'S')).toHaveLength(20);
    expect(router.shadowSummary('s')).toMatchObject({ model: 'S', compared: 20, disagreed: disagreements });
  });

  it('a shadow that fails or hangs never affects the answer', async () => {
    const { release } = await setup('A', []);
    await release.toShadow('s', 'S', 'trial');
    const router = new SelectorRouter({ invoke: models({ A: good, S: () => new Promise(() => undefined) }).invoke, release });
    const r = await router.route('s', 'r1', input(1));
    expect(r.answeredBy).toBe('A');
    expect(await r.shadow).toMatchObject({ agreed: null, failure: 'timeout' });
  });

  it('canary share 10 % holds within ±3σ (±2.85 points) over 1,000 routed requests, deterministically', async () => {
    const { release } = await setup('A', []);
    await release.toCanary('s', 0.1, 'canary', 'C');
    const router = new SelectorRouter({ invoke: models({ A: good, C: good }).invoke, release });
    for (const seed of [1, 2, 3]) {
      const r = rng(seed);
      let canary = 0;
      const ids = Array.from({ length: 1000 }, (_, i) => `req-${seed}-${i}-${Math.floor(r() * 1e9)}`);
      for (const id of ids) {
        const res = await router.route('s', id, input(1));
        expect(res.answeredBy).toBe(res.canary ? 'C' : 'A');
        if (res.canary) canary++;
      }
      // Binomial(1000, 0.1): σ = √(1000·0.1·0.9) ≈ 9.49 requests; ±3σ ≈ ±28.5.
      expect(canary).toBeGreaterThanOrEqual(72);
      expect(canary).toBeLessThanOrEqual(128);
      // Deterministic: the same request id always lands on the same side.
      for (const id of ids.slice(0, 50)) expect((await router.route('s', id, input(1))).canary).toBe(canaryBucket('s', id) < 0.1);
    }
  });

  it('a champion returning NaN is answered by the next model; three in a row demote it (ledgered)', async () => {
    const { release, ledger } = await setup('A', ['B']);
    const router = new SelectorRouter({ invoke: models({ A: () => [NaN, 0, 0], B: good }).invoke, release });
    for (let i = 0; i < 3; i++) {
      const r = await router.route('s', `r${i}`, input(i));
      expect(r.answeredBy).toBe('B');
      expect(r.attempts[0]).toMatchObject({ model: 'A', ok: false, failure: 'non-finite', detail: 'output[0] is NaN' });
      expect(r.demoted).toEqual(i === 2 ? ['A'] : []);
    }
    expect(release.current('s')).toMatchObject({ champion: 'B', fallback: ['A'] });
    const last = ledger.entries()[ledger.length - 1];
    expect(last).toMatchObject({
      type: 'release',
      payload: { action: 'demote', reason: '3 consecutive failures (last: non-finite: output[0] is NaN)' },
    });
    // After demotion B answers first.
    const r = await router.route('s', 'r4', input(4));
    expect(r.attempts.map((a) => a.model)).toEqual(['B']);
    expect(router.stats('s').A).toMatchObject({ invocations: 3, successes: 0, failures: 3 });
  });

  it('a success between failures resets the run: no demotion', async () => {
    const { release } = await setup('A', ['B']);
    let n = 0;
    const router = new SelectorRouter({ invoke: models({ A: () => (n++ % 3 === 2 ? [1, 0, 0] : [NaN, 0, 0]), B: good }).invoke, release });
    for (let i = 0; i < 9; i++) await router.route('s', `r${i}`, input(i));
    expect(release.current('s').champion).toBe('A');
  });

  it('falls through on thrown errors, contract violations and timeouts', async () => {
    const { release } = await setup('A', ['B', 'C', 'D']);
    const router = new SelectorRouter({
      invoke: models({
        A: () => {
          throw new Error('boom');
        },
        B: () => [1, 2],
        C: () => new Promise(() => undefined),
        D: good,
      }).invoke,
      release,
    });
    const r = await router.route('s', 'x', input(2));
    expect(r.answeredBy).toBe('D');
    expect(r.attempts.map((a) => [a.model, a.failure ?? 'ok'])).toEqual([
      ['A', 'error'],
      ['B', 'contract'],
      ['C', 'timeout'],
      ['D', 'ok'],
    ]);
    expect(r.attempts[1].detail).toBe('output has 2 values; the contract says 3');
  });

  it('refuses inputs that break the contract, and says when every model failed', async () => {
    const { release } = await setup('A', []);
    const router = new SelectorRouter({ invoke: models({ A: () => [Infinity, 0, 0] }).invoke, release });
    await expect(router.route('s', 'x', new Float32Array(5))).rejects.toThrow(/input has 5 values; the contract says 4/);
    await expect(router.route('s', 'x', input(0))).rejects.toThrow(
      /every model failed for request x: A \(non-finite: output\[0\] is Infinity\)/,
    );
  });

  it('a model cannot corrupt the input seen by the next model', async () => {
    const { release } = await setup('A', ['B']);
    const seen: number[][] = [];
    const router = new SelectorRouter({
      invoke: async (id, x) => {
        seen.push(Array.from(x));
        if (id === 'A') {
          x.fill(99);
          throw new Error('scribbled');
        }
        return good(x);
      },
      release,
    });
    const x = input(5);
    await router.route('s', 'x', x);
    expect(seen[1]).toEqual(Array.from(input(5)));
    expect(Array.from(x)).toEqual(Array.from(input(5)));
  });

  it('fitness-driven promotion: the canary needs a 0.1 lead over ≥ 50 invocations', async () => {
    const { release } = await setup('A', []);
    await release.toCanary('s', 1, 'all traffic to the canary first', 'C');
    let k = 0;
    // C always answers; A only sees traffic when C fails, so give A its own record by routing with C failing 20 % of the time.
    const router = new SelectorRouter({
      invoke: models({ A: () => (k++ % 2 ? [NaN, 0, 0] : [1, 0, 0]), C: (x) => (x[3] === 2 ? [NaN, 0, 0] : good(x)) }).invoke,
      release,
    });
    for (let i = 0; i < 49; i++) await router.route('s', `r${i}`, input(i));
    expect(router.promotionCheck('s', 'C')).toMatchObject({ eligible: false });
    await router.route('s', 'r49', input(49));
    const check = router.promotionCheck('s', 'C');
    expect(check.eligible).toBe(true);
    await release.toChampion('s', check, 'fitness lead');
    expect(release.current('s')).toMatchObject({ champion: 'C', canary: null, fallback: ['A'] });
  });

  it('a demotion that fails never fails the answer: it is reported, the run resets, and the next run demotes', async () => {
    let refuse = true;
    const store = new MemoryLedgerStore();
    const flaky: LedgerStore = {
      load: () => store.load(),
      head: () => store.head(),
      append: async (rec) => {
        if (refuse && rec.entry.payload.action === 'demote') throw new Error('disk full');
        return store.append(rec);
      },
    };
    const ledger = await Ledger.open(flaky);
    const release = ReleaseController.open(ledger);
    await release.createSlot('s', CONTRACT, 'A', ['B']);
    const router = new SelectorRouter({ invoke: models({ A: () => [NaN, 0, 0], B: good }).invoke, release });
    for (let i = 0; i < 3; i++) {
      const r = await router.route('s', `r${i}`, input(i));
      expect(r.answeredBy).toBe('B');
      expect(r.demoted).toEqual([]);
      expect(r.demoteErrors).toEqual(
        i === 2 ? [{ slot: 's', model: 'A', requestId: 'r2', message: 'demoting "A" in slot "s" failed: disk full' }] : [],
      );
    }
    expect(router.demoteErrors()).toHaveLength(1);
    expect(router.stats('s').A).toMatchObject({ failures: 3, consecutiveFailures: 0 });
    expect(release.current('s').champion).toBe('A');
    refuse = false;
    for (let i = 3; i < 6; i++) {
      const r = await router.route('s', `r${i}`, input(i));
      expect(r.demoted).toEqual(i === 5 ? ['A'] : []);
    }
    expect(release.current('s')).toMatchObject({ champion: 'B', fallback: ['A'] });
  });

  it('stats survive a reload through snapshotStats / initialStats, and bad stats are refused', async () => {
    const { release } = await setup('A', ['B']);
    let n = 0;
    const router = new SelectorRouter({
      invoke: models({ A: () => (n++ % 4 === 0 ? [NaN, 0, 0] : good(input(0))), B: good }).invoke,
      release,
    });
    for (let i = 0; i < 12; i++) await router.route('s', `r${i}`, input(i));
    const snap = JSON.parse(JSON.stringify(router.snapshotStats()));
    expect(snap.s.A).toMatchObject({ invocations: 12, failures: 3 });
    const again = new SelectorRouter({ invoke: models({ A: good, B: good }).invoke, release, initialStats: snap });
    expect(again.stats('s')).toEqual(router.stats('s'));
    await again.route('s', 'x', input(1));
    expect(again.stats('s').A.invocations).toBe(13);
    expect(
      () =>
        new SelectorRouter({
          invoke: models({}).invoke,
          release,
          initialStats: { s: { A: { invocations: 2, successes: 2, failures: 1, consecutiveFailures: 0 } } },
        }),
    ).toThrow(/initial stats s\.A: successes 2 \+ failures 1 ≠ invocations 2/);
    expect(
      () => new SelectorRouter({ invoke: models({}).invoke, release, initialStats: { s: { A: { invocations: -1 } as never } } }),
    ).toThrow(/initial stats s\.A\.invocations must be a non-negative integer, got -1/);
  });
});
