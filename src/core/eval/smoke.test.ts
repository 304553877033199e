import { describe, expect, it } from 'vitest';
import { runtimeSmoke, smokeReport } from './smoke.ts';

describe('smokeReport', () => {
  it('records a passing run: probes, output shape, finite, no reasons', async () => {
    const r = await runtimeSmoke(async (x, b) => new Float32Array(b * 3).fill(x[0]), { featureSize: 4, outputSize: 3 });
    expect(smokeReport(r, 'test runtime', 3)).toEqual({
      passed: true,
      finite: true,
      runtime: 'test runtime',
      probes: r.probeRows,
      outputShape: [r.probeRows, 3],
      reasons: [],
    });
  });

  it('a non-finite output fails the finite check and names it; a run that throws is not finite either', async () => {
    const nan = smokeReport(
      await runtimeSmoke(async (_x, b) => new Float32Array(b * 3).fill(NaN), { featureSize: 4, outputSize: 3 }),
      'r',
      3,
    );
    expect(nan).toMatchObject({ passed: false, finite: false });
    expect(nan.reasons).toContain('finite: output 0 is NaN');
    const thrown = smokeReport(
      await runtimeSmoke(async () => Promise.reject(new Error('boom')), { featureSize: 4, outputSize: 3 }),
      'r',
      3,
    );
    expect(thrown).toMatchObject({ passed: false, finite: false, reasons: ['runs: run failed: boom'] });
  });
});
