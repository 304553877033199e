import { describe, expect, it } from 'vitest';
import {
  benefitVerdict,
  candidateRoundTrip,
  tensorsDiffer,
  dataRoundTrip,
  pairedLatency,
  DEFAULT_BENEFIT_POLICY,
  type BenefitInput,
} from './benefit.ts';
import { memoryLedger } from './test-helpers.ts';
import { fromFloat32, type Tensor } from '../tensor.ts';

const exitOk = [
  { name: 'candidate export', ok: true, detail: '' },
  { name: 'data export', ok: true, detail: '' },
];

function input(over: Partial<BenefitInput> = {}, cand: { acc?: number; bytes?: number; lat?: number; old?: number } = {}): BenefitInput {
  return {
    candidate: {
      id: 'c',
      bytes: cand.bytes ?? 1000,
      metrics: { mine: { accuracy: cand.acc ?? 0.9, latencyMs: cand.lat ?? 1 }, old: { accuracy: cand.old ?? 0.8 } },
    },
    champion: { id: 'h', bytes: 1000, metrics: { mine: { accuracy: 0.85, latencyMs: 1 }, old: { accuracy: 0.8 } } },
    user: { suite: 'mine', metric: 'accuracy', direction: 'max' },
    exit: exitOk,
    retained: [{ suite: 'old', metric: 'accuracy', direction: 'max', champion: 'first', value: 0.8 }],
    ...over,
  };
}

describe('benefit-centred release', () => {
  it('releases when benefit > 0, exit meets the minimum, efficiency is within tolerance and retention holds', () => {
    const v = benefitVerdict(input());
    expect(v.decision).toBe('release');
    expect(v.benefit).toMatchObject({ passed: true, value: expect.closeTo(0.05, 12) });
    expect(v.efficiency).toMatchObject({ passed: true, value: 0, bytes: 0, latency: 0 });
    expect(v.reasons).toEqual([]);
  });

  it("no gain on the user's suite keeps it as an experiment, with the numbers", () => {
    const v = benefitVerdict(input({}, { acc: 0.85 }));
    expect(v.decision).toBe('experiment');
    expect(v.reasons).toEqual(["benefit: accuracy on the user's suite mine 0.8500 vs champion 0.8500, gain +0.0000 is not above 0"]);
  });

  it('exit below the policy minimum refuses', () => {
    const v = benefitVerdict(input({ exit: [exitOk[0], { name: 'data export', ok: false, detail: 'quota' }] }));
    expect(v.exit).toMatchObject({ passed: false, value: 0.5 });
    expect(v.reasons[0]).toBe('exit: 1 of 2 exit checks hold (0.5000; the policy minimum is 1.0000); data export failed: quota');
    expect(
      benefitVerdict(input({ exit: [exitOk[0], { name: 'data export', ok: false, detail: 'quota' }] }), {
        ...DEFAULT_BENEFIT_POLICY,
        exitMinimum: 0.5,
      }).decision,
    ).toBe('release');
    expect(benefitVerdict(input({ exit: [] })).exit.passed).toBe(false);
  });

  it('efficiency: positive passes; a cost within tolerance passes; beyond it refuses', () => {
    expect(benefitVerdict(input({}, { bytes: 500 })).efficiency).toMatchObject({ passed: true, value: 0.25 });
    expect(benefitVerdict(input({}, { bytes: 1040 })).efficiency.passed).toBe(true);
    const v = benefitVerdict(input({}, { bytes: 1200 }));
    expect(v.efficiency.passed).toBe(false);
    expect(v.efficiency.text).toContain('bytes +20.0000 % more');
  });

  it("a latency measured for the verdict replaces the suites' figures, and says how it was measured", () => {
    const slow = input({ latency: { saved: -0.5, how: 'paired, 31 inputs' } });
    const v = benefitVerdict(slow);
    expect(v.efficiency).toMatchObject({ passed: false, latency: -0.5 });
    expect(v.efficiency.text).toContain('latency +50.0000 % more (paired, 31 inputs) against the champion beyond the tolerance');
    expect(benefitVerdict(input({ latency: { saved: 0, how: 'the same work' } }, { lat: 9 })).efficiency).toMatchObject({
      passed: true,
      latency: 0,
    });
  });

  it('paired latency: the two alternate on each input, so load that grows during the measurement weighs on both', async () => {
    // A clock where every run costs the model's own time plus a load that grows with each call.
    let t = 0;
    let calls = 0;
    const cost = (own: number) => async () => {
      t += own + calls++ * 0.5;
    };
    const order: string[] = [];
    const r = await pairedLatency(
      {
        candidate: async (i) => (order.push(`c${i}`), cost(2)()),
        champion: async (i) => (order.push(`h${i}`), cost(1)()),
      },
      5,
      () => t,
    );
    expect(order).toEqual(['c0', 'h0', 'h1', 'c1', 'c2', 'h2', 'h3', 'c3', 'c4', 'h4']);
    // Medians: candidate 2 + load of its calls (0, 3, 4, 7, 8) × 0.5 → 2 + 2; champion 1 + (1, 2, 5, 6, 9) × 0.5 → 1 + 2.5.
    expect(r).toEqual({ candidate: 4, champion: 3.5, inputs: 5 });
    await expect(pairedLatency({ candidate: async () => 0, champion: async () => 0 }, 0, () => 0)).rejects.toThrow('≥ 1, got 0');
  });

  it('retention: a regression beyond tolerance on a suite an earlier champion passed refuses', () => {
    expect(benefitVerdict(input({}, { old: 0.79 })).decision).toBe('release');
    const v = benefitVerdict(input({}, { old: 0.7 }));
    expect(v.decision).toBe('experiment');
    expect(v.reasons).toEqual([
      'retention accuracy on old: 0.7000 vs 0.8000 when first passed it, a regression of 0.1000 beyond the tolerance 0.0200',
    ]);
  });

  it('the exit checks: a candidate round-trips through safetensors bit for bit; the ledger and data round-trip', async () => {
    const ts: Tensor[] = [
      fromFloat32('b', [2], Float32Array.from([1, NaN])),
      fromFloat32('a', [2, 2], Float32Array.from([0.1, -0, 3, 4]), 'F16'),
    ];
    expect(candidateRoundTrip(ts)).toMatchObject({ ok: true, detail: '2 tensors exported to safetensors and re-imported bit for bit' });
    const flipped = ts.map((t) => ({ ...t, data: t.data.slice() }));
    flipped[1].data[3] ^= 1;
    expect(tensorsDiffer(ts, flipped)).toBe('tensor a differs at byte 3');
    expect(tensorsDiffer(ts, [ts[0]])).toBe('2 tensors went out, 1 came back');
    expect(tensorsDiffer(ts, [ts[0], { ...ts[1], dtype: 'F32' }])).toBe('tensor a came back as F32[2,2], not F16[2,2]');
    const { ledger } = await memoryLedger();
    await ledger.append('allele', { slot: 's', model: 'm', from: null, to: 'recessive', reason: 'r' });
    expect(await dataRoundTrip(ledger, { cluster: { rows: 3 } })).toMatchObject({ ok: true });
  });
});
