import { useEffect } from 'react';
import { useGarden } from '../state.ts';
import { digestLabel, reexpress, refreshAlleles, resilienceCheck, roundFromCluster, useLab } from '../lab.ts';
import { EVIDENCE_KINDS } from '../../core/lab/temporal-fitness.ts';
import { pct } from '../format.ts';
import './garden-view.css';

/** A model id as a whole word (not inside a longer id). */
const idPattern = (id: string) => new RegExp(`(?<![\\w-])${id.replace(/[.*+?^$()|[\]{}\\]/g, '\\$&')}(?![\\w-])`, 'g');

/** The slot's alleles (dominant, recessive …) with their reason and fitness history, its failure cluster and the rounds and checks it drives. */
export function AllelePanel() {
  const models = useGarden((s) => s.models);
  const ledger = useGarden((s) => s.ledger.length);
  const { alleles, credits, digest, round, busy, message } = useLab();
  useEffect(() => refreshAlleles(), [ledger]);
  const name = (id: string | null) => (id ? (models.find((m) => m.id === id)?.name ?? id) : '—');
  // Reasons are written with model ids (the ledger's); shown with the models' names, the ids in the tooltip.
  const named = (text: string) =>
    models
      .map((m) => m.id)
      .sort((a, b) => b.length - a.length)
      .reduce((t, id) => t.replace(idPattern(id), name(id)), text);
  // The table's roles are spelled out: the narrow layout stacks its cells (display: block), which would drop its semantics.
  return (
    <section className="step" aria-labelledby="alleles-h" data-testid="allele-panel">
      <h2 id="alleles-h">
        <span className="num">7</span> Alleles and failures
      </h2>
      <p className="hint">
        Every model that was champion stays an allele: a displaced one is recessive, kept with why and its fitness, and can be re-expressed
        without breeding. Answers marked wrong form the slot&apos;s failure cluster (private: only its count and hash are shown).
      </p>
      {alleles.length === 0 ? (
        <p className="hint">No allele yet: the first champion change makes one.</p>
      ) : (
        <table className="registry allele-table" role="table" data-testid="alleles">
          <thead role="rowgroup">
            <tr role="row">
              <th scope="col" role="columnheader">
                model
              </th>
              <th scope="col" role="columnheader">
                state
              </th>
              <th scope="col" role="columnheader">
                why
              </th>
              <th scope="col" role="columnheader">
                fitness
              </th>
              <th scope="col" role="columnheader">
                <span className="sr-only">actions</span>
              </th>
            </tr>
          </thead>
          <tbody role="rowgroup">
            {alleles.map((a) => (
              <tr role="row" key={a.model} data-testid={`allele-${a.model}`}>
                <td role="cell" title={a.model} data-label="model" className="allele-model">
                  {name(a.model)}
                </td>
                <td role="cell" data-testid={`allele-state-${a.model}`} data-label="state">
                  {a.state}
                </td>
                <td role="cell" data-label="why" className="allele-why">
                  <span title={a.reason} data-testid={`allele-reason-${a.model}`}>
                    {named(a.reason)}
                  </span>
                  {a.history.length > 0 && (
                    <ol className="evidence" data-testid={`allele-history-${a.model}`}>
                      {a.history.map((h) => (
                        <li key={`${h.index}-${h.source}`}>
                          entry {h.index}: {h.fitness.toFixed(4)} ({named(h.detail)})
                        </li>
                      ))}
                    </ol>
                  )}
                </td>
                <td role="cell" data-testid={`allele-fitness-${a.model}`} data-label="fitness" className="allele-fitness">
                  {a.fitness.toFixed(4)}
                  {credits[a.model] && (
                    <span className="hint credits">
                      {' '}
                      (
                      {EVIDENCE_KINDS.map(
                        (k) => `${k} ${credits[a.model].credits[k] === null ? '—' : credits[a.model].credits[k]!.toFixed(2)}`,
                      ).join(', ')}
                      )
                    </span>
                  )}
                </td>
                <td role="cell" className="allele-actions">
                  {a.state === 'recessive' && (
                    <button onClick={() => void reexpress(a.model, name(a.model))} disabled={!!busy} data-testid={`reexpress-${a.model}`}>
                      Re-express
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p data-testid="cluster-digest">
        Failure cluster:{' '}
        {digest
          ? `${digestLabel(digest)} (${digest.bySource['user-marked']} marked wrong, ${digest.bySource['stack-failed']} stack failures)`
          : 'empty'}
      </p>
      <div className="row">
        <button onClick={() => void resilienceCheck(models)} disabled={!!busy || !digest} data-testid="resilience-check">
          Resilience check of the champion on these examples
        </button>
        <button onClick={() => void roundFromCluster(models)} disabled={!!busy || !digest} data-testid="cluster-round">
          Start a lab round from the cluster
        </button>
      </div>
      {busy && <p className="hint">Working ({busy})…</p>}
      {message && (
        <p className="hint" data-testid="lab-message">
          {message}
        </p>
      )}
      {round && (
        <div data-testid="cluster-round-result">
          <p>
            Proposal (nothing promoted): parents {round.parents.map(name).join(', ')} ranked on the selection half (
            {round.ranking.map((r) => `${name(r.model)} ${pct(r.accuracy)}`).join(', ')}); held-out half {round.heldOut.count} examples.
            Decision: <strong data-testid="cluster-round-decision">{round.round.decision}</strong>.
          </p>
          <ul className="checks">
            {round.round.reasons.map((r, i) => (
              <li key={i}>{named(r)}</li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
