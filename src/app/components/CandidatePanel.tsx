import { useGarden } from '../state.ts';
import { admitCandidate, evaluateCandidate } from '../garden.ts';
import { pct, short } from '../format.ts';

export function CandidatePanel() {
  const s = useGarden();
  const cand = s.models.find((m) => m.id === s.candidateId);
  if (!cand) {
    return (
      <section className="step muted" aria-labelledby="cand-h">
        <h2 id="cand-h"><span className="num">3</span> Evaluate and admit</h2>
        <p className="hint">Breed a candidate first.</p>
      </section>
    );
  }
  const ev = s.evidence[cand.hash] ?? {};
  const evaluating = s.busy?.task === 'evaluate';
  const admitted = s.champion === cand.id;
  const parents = (cand.parents ?? []).map((id) => s.models.find((m) => m.id === id)).filter((m) => m !== undefined);
  const rows = [cand, ...parents].map((m) => ({ m, acc: s.evidence[m.hash]?.evaluation?.metrics.accuracy }));
  const gates = [
    { name: 'runtime smoke', ok: ev.smoke?.ok, detail: ev.smoke?.message },
    { name: 'evaluation sidecar on the frozen suite', ok: ev.sidecarHash ? true : undefined, detail: ev.sidecarHash ? `sidecar ${short(ev.sidecarHash)}` : undefined },
  ];
  const allPassed = gates.every((g) => g.ok === true);
  return (
    <section className="step" aria-labelledby="cand-h" data-testid="candidate-panel">
      <h2 id="cand-h"><span className="num">3</span> Evaluate and admit</h2>
      <p>
        Candidate <strong data-testid="candidate-name">{cand.name}</strong> <span className="mono" title={cand.hash}>{short(cand.hash)}</span>, stored in this browser.
      </p>
      <div className="row">
        <button className="primary" onClick={() => void evaluateCandidate()} disabled={evaluating || !!ev.evaluation} data-testid="evaluate-button">
          {evaluating ? `Evaluating… ${s.busy?.done ?? 0}/${s.busy?.total ?? 0}` : ev.evaluation ? 'Evaluated' : 'Run smoke test and evaluate'}
        </button>
      </div>
      {ev.smoke && (
        <ul className="checks" data-testid="smoke-checks">
          {ev.smoke.checks.map((c) => (
            <li key={c.name} className={c.ok ? 'ok' : 'fail'}>{c.ok ? '✓' : '✗'} {c.name}: {c.detail}</li>
          ))}
        </ul>
      )}
      {ev.evaluation && (
        <div className="evaluation">
          <p>
            Suite <span className="mono" title={ev.evaluation.suite.hash}>{ev.evaluation.suite.id} · {short(ev.evaluation.suite.hash)}</span>, {ev.evaluation.suite.count} held-out digits,
            evaluator {ev.evaluation.evaluator.version}.
          </p>
          <table className="metrics">
            <thead><tr><th>model</th><th>accuracy</th><th /></tr></thead>
            <tbody>
              {rows.map(({ m, acc }) => (
                <tr key={m.id} className={m.id === cand.id ? 'candidate' : ''}>
                  <td>{m.name}</td>
                  <td data-testid={m.id === cand.id ? 'candidate-accuracy' : undefined}>{acc === undefined ? '…' : pct(acc)}</td>
                  <td><svg width="200" height="10" aria-hidden="true"><rect width="200" height="10" className="bar-bg" rx="2" /><rect width={(acc ?? 0) * 200} height="10" rx="2" className={m.id === cand.id ? 'bar-cand' : 'bar-fg'} /></svg></td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="hint">
            Calibration error (ECE, 15 bins) {ev.evaluation.metrics.ece.toFixed(3)} · median latency {ev.evaluation.metrics.medianLatencyMs.toFixed(1)} ms per batch of {ev.evaluation.metrics.batch}
          </p>
        </div>
      )}
      <h3>Gates</h3>
      <ul className="checks" data-testid="gates">
        {gates.map((g) => (
          <li key={g.name} className={g.ok === true ? 'ok' : g.ok === false ? 'fail' : 'pending'}>
            {g.ok === true ? '✓' : g.ok === false ? '✗' : '…'} {g.name}{g.detail ? `: ${g.detail}` : ' (pending)'}
          </li>
        ))}
      </ul>
      <button className="primary" disabled={!allPassed || admitted} onClick={() => void admitCandidate()} data-testid="admit-button">
        {admitted ? 'Admitted: champion of the digits slot' : 'Admit to the pool and route to it'}
      </button>
    </section>
  );
}
