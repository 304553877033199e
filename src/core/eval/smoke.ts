/**
 * Runtime smoke: the model loads in the runtime and gives finite outputs of the contracted shape
 * on probe inputs (all zeros, all at the top of the range, and seeded random rows).
 */
import { randomUnit, tensorKey } from '../operators/prng.ts';
import type { RunFn } from './types.ts';

export interface SmokeContract {
  featureSize: number;
  outputSize: number;
  /** Inclusive range of probe values; integer probes for token ids. Default [0, 1], real. */
  inputRange?: { min: number; max: number; integer?: boolean };
  /** How many seeded random probe rows besides the zero and max rows (default 6). */
  randomRows?: number;
  seed?: number;
}

export interface SmokeCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SmokeResult {
  ok: boolean;
  checks: SmokeCheck[];
  probeRows: number;
  ms: number;
  /** One line: "passed" or the first failure. */
  message: string;
}

/** What a runtime smoke reports, as its manifest records it (a runtime-smoke body without the candidate). */
export interface SmokeReport {
  passed: boolean;
  /** Whether every probe output was a finite number (false when the run itself failed: nothing was seen). */
  finite: boolean;
  runtime: string;
  probes: number;
  outputShape: number[];
  reasons: string[];
}

/** The report of a smoke run on `runtime` of a model with `outputSize` outputs per row. */
export function smokeReport(r: SmokeResult, runtime: string, outputSize: number): SmokeReport {
  return {
    passed: r.ok,
    finite: r.checks.find((c) => c.name === 'finite')?.ok ?? false,
    runtime,
    probes: r.probeRows,
    outputShape: [r.probeRows, outputSize],
    reasons: r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
  };
}

export function smokeProbes(c: SmokeContract): { inputs: Float32Array; rows: number } {
  const F = c.featureSize;
  const range = c.inputRange ?? { min: 0, max: 1 };
  const rnd = c.randomRows ?? 6;
  const rows = 2 + rnd;
  const inputs = new Float32Array(rows * F);
  inputs.fill(range.min, 0, F);
  inputs.fill(range.max, F, 2 * F);
  const key = tensorKey(c.seed ?? 0, 'smoke-probe');
  for (let i = 2 * F; i < rows * F; i++) {
    const u = randomUnit(key, i);
    inputs[i] = range.integer
      ? Math.min(range.max, range.min + Math.floor(u * (range.max - range.min + 1)))
      : range.min + u * (range.max - range.min);
  }
  return { inputs, rows };
}

export async function runtimeSmoke(run: RunFn, c: SmokeContract, now: () => number = () => performance.now()): Promise<SmokeResult> {
  const { inputs, rows } = smokeProbes(c);
  const checks: SmokeCheck[] = [];
  const t0 = now();
  let out: Float32Array | null = null;
  try {
    out = await run(inputs, rows);
    checks.push({ name: 'runs', ok: true, detail: `ran ${rows} probe rows` });
  } catch (e) {
    checks.push({ name: 'runs', ok: false, detail: `run failed: ${(e as Error).message}` });
  }
  if (out) {
    const expected = rows * c.outputSize;
    checks.push({
      name: 'shape',
      ok: out.length === expected,
      detail: `${out.length} outputs for ${rows} rows × ${c.outputSize} (expected ${expected})`,
    });
    let bad = -1;
    for (let i = 0; i < out.length; i++)
      if (!Number.isFinite(out[i])) {
        bad = i;
        break;
      }
    checks.push({ name: 'finite', ok: bad < 0, detail: bad < 0 ? 'all outputs finite' : `output ${bad} is ${out[bad]}` });
    // The same input twice must give the same output: a runtime that is not a function is broken.
    try {
      const again = await run(inputs, rows);
      let same = again.length === out.length;
      for (let i = 0; same && i < out.length; i++) if (Math.abs(again[i] - out[i]) > 1e-5 * (1 + Math.abs(out[i]))) same = false;
      checks.push({
        name: 'repeatable',
        ok: same,
        detail: same ? 'a second run gave the same outputs' : 'a second run on the same probes gave different outputs',
      });
    } catch (e) {
      checks.push({ name: 'repeatable', ok: false, detail: `second run failed: ${(e as Error).message}` });
    }
  }
  const failed = checks.find((x) => !x.ok);
  return {
    ok: !failed,
    checks,
    probeRows: rows,
    ms: now() - t0,
    message: failed ? `smoke ${failed.name} check failed: ${failed.detail}` : 'passed',
  };
}
