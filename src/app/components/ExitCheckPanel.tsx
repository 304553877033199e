import { useGarden } from '../state.ts';
import { cancelExitCheck, runExitCheck, useLab } from '../lab.ts';
import { WorkProgress } from './StoragePanel.tsx';
import { EXIT_CRITERIA } from '../../core/lab/exit-check.ts';

const QUESTION: Record<(typeof EXIT_CRITERIA)[number], string> = {
  reproduce: 'Can it breed every admitted candidate again, bit for bit, from its lineage?',
  reject: 'Does it refuse known-bad candidates (a seeded regression set from the champion)?',
  explain: 'Does every decision in the ledger say why?',
  verify: 'Does every hash hold (chain, registries, admissions, policies, candidate files)?',
  rollback: 'Can every slot roll back, one version at a time, to its creation (on a copy)?',
};

/** The exit check of src/core/lab/exit-check.ts on this garden: five answers, each with its evidence. */
export function ExitCheckPanel() {
  const models = useGarden((s) => s.models);
  const report = useLab((s) => s.exit);
  const busy = useLab((s) => s.busy);
  const xp = useLab((s) => s.exitProgress);
  return (
    <section className="step" aria-labelledby="exit-h" data-testid="exit-panel">
      <h2 id="exit-h">
        <span className="num">8</span> Exit check
      </h2>
      <p className="hint">
        Could you walk away from this garden with everything, and trust what it did? Five questions, each answered with its evidence.
      </p>
      <button onClick={() => void runExitCheck(models)} disabled={!!busy} data-testid="run-exit-check">
        {busy === 'exit' ? 'Checking…' : 'Run the exit check'}
      </button>
      {xp && <WorkProgress testId="exit" label="Exit check progress" p={xp} verb="of candidates read" onCancel={cancelExitCheck} />}
      {report && (
        <ul className="checks" data-testid="exit-report">
          {EXIT_CRITERIA.map((k) => (
            <li key={k} className={report[k].ok ? 'ok' : 'fail'} data-testid={`exit-${k}`}>
              <strong>
                {report[k].ok ? '✓' : '✗'} {k}
              </strong>{' '}
              — {QUESTION[k]} <span data-testid={`exit-${k}-summary`}>{report[k].summary}</span>
              {report[k].evidence
                .filter((e) => e.ok === false)
                .map((e, i) => (
                  <p key={i} className="fail">
                    {String(e.reason ?? JSON.stringify(e))}
                  </p>
                ))}
              <details>
                <summary>evidence ({report[k].evidence.length})</summary>
                <ol className="evidence">
                  {report[k].evidence.map((e, i) => (
                    <li key={i} className={e.ok === false ? 'fail' : 'ok'}>
                      <code>
                        {JSON.stringify(e, (_k, v: unknown) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 16)}…` : v))}
                      </code>
                    </li>
                  ))}
                </ol>
              </details>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
