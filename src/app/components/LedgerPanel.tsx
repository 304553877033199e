import { useGarden } from '../state.ts';
import { short } from '../format.ts';

export function LedgerPanel() {
  const ledger = useGarden((s) => s.ledger);
  const ok = useGarden((s) => s.ledgerOk);
  return (
    <section className="step" aria-labelledby="ledger-h">
      <h2 id="ledger-h">
        <span className="num">6</span> Promotion ledger
      </h2>
      <p className="hint">Append-only and hash-chained: every policy change, admission, release and rollback, in order.</p>
      {ok && (
        <p className={ok.ok ? 'ok' : 'fail'} data-testid="ledger-verdict">
          {ok.ok ? '✓' : '✗'} {ok.message}
        </p>
      )}
      {ledger.length === 0 ? (
        <p className="hint">No entries yet.</p>
      ) : (
        <ol className="ledger" data-testid="ledger">
          {ledger.map((e) => (
            <li key={e.index}>
              <span className="badge">{e.type}</span> {e.summary}{' '}
              <span className="mono" title={e.hash}>
                {short(e.hash)}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
