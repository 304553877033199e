/**
 * Benefit-centred release: promote a candidate only when it leaves the user more capable, free to
 * leave, and spending no more. Four conditions, each with its numbers:
 *
 *   benefit    > 0      — capability gain on the user's own suite, against the champion;
 *   exit       ≥ policy — the share of exit checks that hold: the candidate exports to an open format
 *                         (safetensors) and re-imports bit for bit; the user's data and ledger
 *                         export and re-import unchanged (candidateRoundTrip, dataRoundTrip);
 *   efficiency > 0, or within tolerance — bytes and latency against the champion;
 *   retention           — no regression beyond tolerance on the suites earlier champions passed.
 *
 * Otherwise the candidate is kept as an experiment, with the numbers (decision `experiment`).
 */
import { canonicalJson } from '../hash.ts';
import type { Direction } from '../manifest/kinds.ts';
import { parseSafetensors, serializeSafetensors } from '../format/safetensors.ts';
import type { Tensor } from '../tensor.ts';
import { openLedgerFile, serializeLedger, type Ledger } from './ledger.ts';
import type { Scored } from './viability.ts';
import { median } from '../eval/metrics.ts';

export interface BenefitPolicy {
  /** Share (0..1) of exit checks that must hold. */
  exitMinimum: number;
  /** Fractions of the champion's figure the candidate may exceed when efficiency is not positive. */
  efficiencyTolerance: { bytes: number; latency: number };
  /** Largest regression allowed on a retained suite (in the metric's units). */
  retentionTolerance: number;
}

export const DEFAULT_BENEFIT_POLICY: BenefitPolicy = Object.freeze({
  exitMinimum: 1,
  efficiencyTolerance: Object.freeze({ bytes: 0.05, latency: 0.1 }),
  retentionTolerance: 0.02,
});

export interface ExitEvidence {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RetainedSuite {
  suite: string;
  metric: string;
  direction: Direction;
  /** The earlier champion that passed it, and its score. */
  champion: string;
  value: number;
}

export interface BenefitInput {
  candidate: Scored;
  champion: Scored;
  /** The user's own suite and its metric. */
  user: { suite: string; metric: string; direction: Direction };
  exit: readonly ExitEvidence[];
  retained: readonly RetainedSuite[];
  /**
   * Latency as measured for this verdict, as the share saved against the champion and how it was
   * measured (pairedLatency, or a structural argument); without it, the suites' latencyMs are compared.
   */
  latency?: { saved: number; how: string };
}

export interface BenefitPart {
  passed: boolean;
  value: number | null;
  text: string;
}

export interface BenefitVerdict {
  decision: 'release' | 'experiment';
  benefit: BenefitPart;
  exit: BenefitPart & { checks: readonly ExitEvidence[] };
  efficiency: BenefitPart & { bytes: number | null; latency: number | null };
  /** Per retained suite: `delta` is the candidate's change against the earlier champion's score, in the objective's direction. */
  retention: (RetainedSuite & { passed: boolean; delta: number | null; text: string })[];
  reasons: string[];
}

const f = (x: number) => x.toFixed(4);
const value = (s: Scored, suite: string, metric: string): number | null => {
  const v = s.metrics[suite]?.[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/** Judge a candidate against the champion by benefit, exit, efficiency and retention. */
export function benefitVerdict(input: BenefitInput, policy: BenefitPolicy = DEFAULT_BENEFIT_POLICY): BenefitVerdict {
  const { candidate: c, champion: h, user: u } = input;
  const cu = value(c, u.suite, u.metric);
  const hu = value(h, u.suite, u.metric);
  const gain = cu === null || hu === null ? null : u.direction === 'max' ? cu - hu : hu - cu;
  const benefit: BenefitPart =
    gain === null
      ? {
          passed: false,
          value: null,
          text: `benefit: no ${u.metric} on the user's suite ${u.suite} for ${cu === null ? 'the candidate' : 'the champion'}`,
        }
      : {
          passed: gain > 0,
          value: gain,
          text: `benefit: ${u.metric} on the user's suite ${u.suite} ${f(cu!)} vs champion ${f(hu!)}, gain ${gain >= 0 ? '+' : '−'}${f(Math.abs(gain))}${gain > 0 ? '' : ' is not above 0'}`,
        };

  const held = input.exit.filter((e) => e.ok).length;
  const share = input.exit.length ? held / input.exit.length : 0;
  const exitPassed = input.exit.length > 0 && share + 1e-9 >= policy.exitMinimum;
  const exit = {
    passed: exitPassed,
    value: share,
    checks: input.exit,
    text: `exit: ${held} of ${input.exit.length} exit checks hold (${f(share)}; the policy minimum is ${f(policy.exitMinimum)})${input.exit
      .filter((e) => !e.ok)
      .map((e) => `; ${e.name} failed: ${e.detail}`)
      .join('')}`,
  };

  const ratio = (cand: number | null | undefined, champ: number | null | undefined) =>
    typeof cand === 'number' && typeof champ === 'number' && champ > 0 ? (champ - cand) / champ : null;
  const bytes = ratio(c.bytes, h.bytes);
  const latency = input.latency ? input.latency.saved : ratio(value(c, u.suite, 'latencyMs'), value(h, u.suite, 'latencyMs'));
  const known = [bytes, latency].filter((x): x is number => x !== null);
  const eff = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
  const within =
    (bytes === null || bytes >= -policy.efficiencyTolerance.bytes) && (latency === null || latency >= -policy.efficiencyTolerance.latency);
  const effPassed = eff !== null && (eff > 0 || within);
  const pct = (x: number | null) => (x === null ? 'unknown' : `${x >= 0 ? '' : '+'}${f(Math.abs(x) * 100)} % ${x >= 0 ? 'saved' : 'more'}`);
  const efficiency = {
    passed: effPassed,
    value: eff,
    bytes,
    latency,
    text: `efficiency: bytes ${pct(bytes)}, latency ${pct(latency)}${input.latency ? ` (${input.latency.how})` : ''} against the champion${eff === null ? ': no figures' : eff > 0 ? '' : within ? ' (within tolerance)' : ` beyond the tolerance (bytes ${policy.efficiencyTolerance.bytes}, latency ${policy.efficiencyTolerance.latency})`}`,
  };

  const retention = input.retained.map((r) => {
    const v = value(c, r.suite, r.metric);
    const delta = v === null ? null : r.direction === 'max' ? v - r.value : r.value - v;
    const passed = delta !== null && delta + 1e-9 >= -policy.retentionTolerance;
    return {
      ...r,
      passed,
      delta,
      text:
        v === null
          ? `retention ${r.metric} on ${r.suite}: no value for the candidate`
          : `retention ${r.metric} on ${r.suite}: ${f(v)} vs ${f(r.value)} when ${r.champion} passed it${passed ? '' : `, a regression of ${f(-delta!)} beyond the tolerance ${f(policy.retentionTolerance)}`}`,
    };
  });

  const reasons = [benefit, exit, efficiency, ...retention].filter((p) => !p.passed).map((p) => p.text);
  return { decision: reasons.length ? 'experiment' : 'release', benefit, exit, efficiency, retention, reasons };
}

/** Why two tensor lists differ (by name: dtype, shape or a byte), or null when they are bit for bit the same. */
export function tensorsDiffer(out: readonly Tensor[], back: readonly Tensor[]): string | null {
  const key = (ts: readonly Tensor[]) => [...ts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const a = key(out);
  const b = key(back);
  if (a.length !== b.length) return `${a.length} tensors went out, ${b.length} came back`;
  for (let i = 0; i < a.length; i++) {
    const [t, u] = [a[i], b[i]];
    if (u.name !== t.name) return `tensor ${t.name} did not come back (got ${u.name})`;
    if (u.dtype !== t.dtype || canonicalJson(u.shape) !== canonicalJson(t.shape))
      return `tensor ${t.name} came back as ${u.dtype}${JSON.stringify(u.shape)}, not ${t.dtype}${JSON.stringify(t.shape)}`;
    if (u.data.length !== t.data.length) return `tensor ${t.name} came back with ${u.data.length} bytes, not ${t.data.length}`;
    for (let k = 0; k < t.data.length; k++) if (u.data[k] !== t.data[k]) return `tensor ${t.name} differs at byte ${k}`;
  }
  return null;
}

/** The candidate exports to safetensors and re-imports bit for bit (names, dtypes, shapes, bytes). */
export function candidateRoundTrip(tensors: readonly Tensor[]): ExitEvidence {
  try {
    const back = parseSafetensors(serializeSafetensors(tensors)).tensors;
    const diff = tensorsDiffer(tensors, back);
    if (diff) return { name: 'candidate export', ok: false, detail: diff };
    return { name: 'candidate export', ok: true, detail: `${tensors.length} tensors exported to safetensors and re-imported bit for bit` };
  } catch (e) {
    return { name: 'candidate export', ok: false, detail: (e as Error).message };
  }
}

/** The ledger and the user's data (JSON) export and re-import unchanged. */
export async function dataRoundTrip(ledger: Ledger, data: Readonly<Record<string, unknown>> = {}): Promise<ExitEvidence> {
  try {
    const back = await openLedgerFile(serializeLedger(ledger));
    if (back.head.hash !== ledger.head.hash || back.length !== ledger.length)
      return {
        name: 'data export',
        ok: false,
        detail: `the ledger came back with head ${back.head.hash.slice(0, 16)}… (${back.length} entries), not ${ledger.head.hash.slice(0, 16)}… (${ledger.length})`,
      };
    const text = canonicalJson(data);
    if (canonicalJson(JSON.parse(text)) !== text)
      return { name: 'data export', ok: false, detail: 'the user data did not come back unchanged' };
    return {
      name: 'data export',
      ok: true,
      detail: `ledger (${ledger.length} entries, head ${ledger.head.hash.slice(0, 16)}…) and ${Object.keys(data).length} user data sets exported and re-imported unchanged`,
    };
  } catch (e) {
    return { name: 'data export', ok: false, detail: (e as Error).message };
  }
}

/**
 * Latency of a candidate against the champion measured paired: both run the same inputs, in an
 * order that alternates from one input to the next, and each one's median is taken. Load that
 * changes while they are measured weighs on both alike; figures measured at different times (an
 * evaluation on open, another minutes later) compare the machine, not the models.
 */
export async function pairedLatency(
  run: { candidate: (i: number) => Promise<unknown>; champion: (i: number) => Promise<unknown> },
  inputs: number,
  now: () => number,
): Promise<{ candidate: number; champion: number; inputs: number }> {
  if (!(Number.isInteger(inputs) && inputs >= 1)) throw new Error(`paired latency needs a whole number of inputs ≥ 1, got ${inputs}`);
  const times = { candidate: [] as number[], champion: [] as number[] };
  const time = async (who: 'candidate' | 'champion', i: number) => {
    const t0 = now();
    await run[who](i);
    times[who].push(now() - t0);
  };
  for (let i = 0; i < inputs; i++) {
    const order = i % 2 ? (['champion', 'candidate'] as const) : (['candidate', 'champion'] as const);
    for (const who of order) await time(who, i);
  }
  return { candidate: median(times.candidate), champion: median(times.champion), inputs };
}
