import { useGarden } from '../state.ts';
import { bytes, pct, short } from '../format.ts';
import { byCreation } from '../naming.ts';
import { APP_FAMILY } from '../garden.ts';

export function ParentPool() {
  const models = useGarden((s) => s.models);
  const evidence = useGarden((s) => s.evidence);
  const selected = useGarden((s) => s.selected);
  const toggle = useGarden((s) => s.toggleSelected);
  const registry = useGarden((s) => s.registry);
  return (
    <section className="step" aria-labelledby="pool-h">
      <h2 id="pool-h">
        <span className="num">1</span> Parent pool
      </h2>
      <p className="hint">
        Models kept in this browser (IndexedDB). Tick the parents to breed from; for operators with a base, tick the base first.
      </p>
      <ul className="cards" data-testid="parent-pool">
        {byCreation(models).map((m) => {
          const ev = evidence[m.hash]?.evaluations;
          const isSel = selected.includes(m.id);
          return (
            <li key={m.id} className={`card ${isSel ? 'selected' : ''}`} data-testid={`model-${m.id}`}>
              <label>
                <input type="checkbox" checked={isSel} onChange={() => toggle(m.id)} aria-label={`Select ${m.name}`} />
                <span className="card-title">{m.name}</span>
              </label>
              <div className="badges">
                <span className={`badge ${m.role}`}>{m.role}</span>
                {registry?.champion === m.id && <span className="badge champion">champion</span>}
                {registry?.canary?.model === m.id && <span className="badge canary">canary</span>}
                {registry?.shadow === m.id && <span className="badge shadow">shadow</span>}
              </div>
              <p className="desc">{m.description}</p>
              {m.role === 'candidate' && (
                <button
                  className="link"
                  onClick={() =>
                    useGarden.setState((st) => ({ candidateId: m.id, receipt: st.receipt?.output === m.hash ? st.receipt : null }))
                  }
                  data-testid={`review-${m.id}`}
                >
                  Review this candidate
                </button>
              )}
              <dl className="facts">
                {APP_FAMILY.suites.map((x, i) => [
                  <dt key={`${x.name}-t`} title={x.title}>
                    {x.name}
                  </dt>,
                  <dd key={`${x.name}-v`} data-testid={i === 0 ? `acc-${m.id}` : undefined}>
                    {ev?.[x.name] ? pct(ev[x.name].metrics.accuracy) : '…'}
                  </dd>,
                ])}
                <dt>size</dt>
                <dd>{bytes(m.bytes)}</dd>
                <dt>hash</dt>
                <dd className="mono" title={m.hash}>
                  {short(m.hash)}
                </dd>
              </dl>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
