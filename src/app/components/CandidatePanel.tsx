import { useEffect, useState } from 'react';
import { useGarden } from '../state.ts';
import { admitCandidate, APP_FAMILY, cancelEvaluation, evaluateCandidate } from '../garden.ts';
import { etaText, pct, short } from '../format.ts';
import { cancelExport, exportModel, refreshArchive, unarchiveModel, useGardenView } from '../garden-actions.ts';
import { WorkProgress } from './StoragePanel.tsx';

export function CandidatePanel() {
  const s = useGarden();
  const { archived, archivedModels, busy, exportProgress: xp } = useGardenView();
  const [downloaded, setDownloaded] = useState<{ id: string; message: string } | null>(null);
  const cand = s.models.find((m) => m.id === s.candidateId);
  // A breed (or import) whose result is exactly an archived model gets that model back from the store: it is not in the pool.
  const archivedCand = cand ? undefined : archivedModels.find((m) => m.id === s.candidateId);
  useEffect(() => {
    if (s.candidateId && !cand) void refreshArchive();
  }, [s.candidateId, cand]);
  if (archivedCand) {
    const mark = archived[archivedCand.id];
    return (
      <section className="step" aria-labelledby="cand-h" data-testid="candidate-panel">
        <h2 id="cand-h">
          <span className="num">3</span> Evaluate and admit
        </h2>
        <p data-testid="candidate-archived">
          This candidate is identical to the archived model <strong>{archivedCand.name}</strong>
          {mark ? ` (archived: ${mark.reason})` : ''}; restore it to evaluate it?{' '}
          <button
            onClick={() => void unarchiveModel(archivedCand, 'restored as the candidate: a breed gave exactly its tensors')}
            disabled={!!busy}
            data-testid="restore-candidate"
          >
            Restore {archivedCand.name}
          </button>
        </p>
      </section>
    );
  }
  if (!cand) {
    return (
      <section className="step muted" aria-labelledby="cand-h">
        <h2 id="cand-h">
          <span className="num">3</span> Evaluate and admit
        </h2>
        <p className="hint">Breed a candidate first.</p>
      </section>
    );
  }
  const ev = s.evidence[cand.hash] ?? { evaluations: {}, sidecars: {} };
  const progress = s.tasks.evaluate;
  const evaluating = !!progress;
  const evaluatingThis = progress?.model === cand.id;
  // Evaluated: the smoke ran and, when it passed, the viability verdict exists.
  const evaluated = !!ev.smoke && (!ev.smoke.ok || !!ev.viability);
  const suiteNames = s.policy ? [s.policy.primary.suite, ...s.policy.guardrails.map((g) => g.suite)] : [];
  const champion = s.models.find((m) => m.id === s.registry?.champion);
  const parents = (cand.parents ?? []).map((id) => s.models.find((m) => m.id === id)).filter((m) => m !== undefined);
  const rows = [cand, ...(champion && champion.id !== cand.id && !parents.includes(champion) ? [champion] : []), ...parents];
  const gates = [
    { name: 'runtime smoke in onnxruntime-web', ok: ev.smoke?.ok, detail: ev.smoke?.message },
    ...suiteNames.map((n) => ({
      name: `evaluation sidecar on the pinned "${n}" suite`,
      ok: ev.sidecars[n] ? true : undefined,
      detail: ev.sidecars[n] ? `sidecar ${short(ev.sidecars[n])}` : undefined,
    })),
    ...(ev.viability?.checks ?? []).map((c) => ({
      name: `viability (${c.kind}${c.baseline ? ` vs ${c.baseline}` : ''})`,
      ok: c.passed,
      detail: c.text,
    })),
  ];
  if (ev.admitted && !ev.viability)
    gates.push({ name: 'admitted', ok: true, detail: `admission record ${short(ev.admitted)} in the ledger` });
  else if (!ev.viability) gates.push({ name: 'viability against the champion and no-op', ok: undefined, detail: undefined });
  const allPassed = gates.every((g) => g.ok === true);
  return (
    <section className="step" aria-labelledby="cand-h" data-testid="candidate-panel">
      <h2 id="cand-h">
        <span className="num">3</span> Evaluate and admit
      </h2>
      <p>
        Candidate <strong data-testid="candidate-name">{cand.name}</strong>{' '}
        <span className="mono" title={cand.hash}>
          {short(cand.hash)}
        </span>
        , stored in this browser.{' '}
        <button
          className="link"
          data-testid="download-candidate"
          disabled={!!busy}
          onClick={() => void exportModel(cand).then((message) => message && setDownloaded({ id: cand.id, message }))}
        >
          Download .slm
        </button>
      </p>
      {xp && xp.model === cand.name && (
        <WorkProgress testId="candidate-download" label="Download progress" p={xp} verb="read from the store" onCancel={cancelExport} />
      )}
      {downloaded?.id === cand.id && (
        <p role="status" className="hint" data-testid="candidate-download-message">
          {downloaded.message}
        </p>
      )}
      <div className="row">
        <button
          className="primary"
          onClick={() => void evaluateCandidate()}
          disabled={evaluating || !!ev.admitted}
          data-testid="evaluate-button"
        >
          {evaluatingThis
            ? `Evaluating… ${Math.round(progress.done / 10)} %${etaText(progress.startedAt, progress.done, progress.total)}`
            : evaluating
              ? 'Another evaluation is running…'
              : evaluated
                ? 'Run smoke test and evaluation again'
                : 'Run smoke test and evaluate'}
        </button>
        {evaluatingThis && (
          <button onClick={cancelEvaluation} data-testid="cancel-evaluation">
            Cancel
          </button>
        )}
      </div>
      {ev.smoke && (
        <ul className="checks" data-testid="smoke-checks">
          {ev.smoke.checks.map((c) => (
            <li key={c.name} className={c.ok ? 'ok' : 'fail'}>
              {c.ok ? '✓' : '✗'} {c.name}: {c.detail}
            </li>
          ))}
        </ul>
      )}
      {Object.keys(ev.evaluations).length > 0 && (
        <div className="evaluation">
          <table className="metrics">
            <thead>
              <tr>
                <th>model</th>
                {suiteNames.map((n) => (
                  <th key={n} colSpan={2}>
                    {n}
                    {n === s.policy?.primary.suite ? ' (primary)' : ' (guardrail)'}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((m) => (
                <tr key={m.id} className={m.id === cand.id ? 'candidate' : ''}>
                  <td>
                    {m.name}
                    {m.id === champion?.id ? ' · champion' : ''}
                  </td>
                  {suiteNames.map((n) => {
                    const acc = s.evidence[m.hash]?.evaluations[n]?.metrics.accuracy;
                    return [
                      <td key={`${n}-v`} data-testid={m.id === cand.id ? `candidate-accuracy-${n}` : undefined}>
                        {acc === undefined ? '…' : pct(acc)}
                      </td>,
                      <td key={`${n}-b`}>
                        <svg width="120" height="10" aria-hidden="true">
                          <rect width="120" height="10" className="bar-bg" rx="2" />
                          <rect width={(acc ?? 0) * 120} height="10" rx="2" className={m.id === cand.id ? 'bar-cand' : 'bar-fg'} />
                        </svg>
                      </td>,
                    ];
                  })}
                </tr>
              ))}
            </tbody>
          </table>
          {suiteNames.map((n) => {
            const r = ev.evaluations[n];
            return r ? (
              <p className="hint" key={n}>
                {n}: suite{' '}
                <span className="mono" title={r.suite.hash}>
                  {r.suite.id} · {short(r.suite.hash)}
                </span>
                , {r.suite.count} {APP_FAMILY.rows} · ECE (15 bins) {r.metrics.ece.toFixed(3)} · median{' '}
                {r.metrics.medianLatencyMs.toFixed(1)} ms per batch of {r.metrics.batch} · evaluator {r.evaluator.version}
              </p>
            ) : null;
          })}
        </div>
      )}
      <h3>Gates</h3>
      <ul className="checks" data-testid="gates">
        {gates.map((g, i) => (
          <li key={i} className={g.ok === true ? 'ok' : g.ok === false ? 'fail' : 'pending'}>
            {g.ok === true ? '✓' : g.ok === false ? '✗' : '…'} {g.name}
            {g.detail ? `: ${g.detail}` : ' (pending)'}
          </li>
        ))}
      </ul>
      {ev.viability && !ev.viability.viable && (
        <p className="noop" data-testid="noop-decision">
          No-op: the garden keeps its champion. {ev.viability.reasons.join('; ')}
        </p>
      )}
      <button
        className="primary"
        disabled={!allPassed || !!ev.admitted || evaluating}
        onClick={() => void admitCandidate()}
        data-testid="admit-button"
      >
        {ev.admitted ? `Admitted: ${roleIn(s.registry, cand.id)}` : 'Admit to the pool (runs in shadow)'}
      </button>
    </section>
  );
}

/** The candidate's place in the slot's live registry, in words. */
function roleIn(reg: ReturnType<typeof useGarden.getState>['registry'], id: string): string {
  if (!reg) return 'in the pool';
  if (reg.champion === id) return 'champion of the slot';
  if (reg.canary?.model === id) return `canary, ${Math.round(reg.canary.share * 100)} % of requests`;
  if (reg.shadow === id) return 'running in shadow';
  if (reg.fallback.includes(id)) return 'in the fallback stack';
  return 'in the pool, no role in the slot';
}
