import { useGarden } from '../state.ts';
import { releaseStep } from '../garden.ts';
import { pct } from '../format.ts';
import { BenefitView } from './BenefitView.tsx';
import { useLab } from '../lab.ts';

/** The selector registry of the family's slot and the release controller's steps. */
export function ReleasePanel() {
  const reg = useGarden((s) => s.registry);
  const versions = useGarden((s) => s.registryVersions);
  const models = useGarden((s) => s.models);
  const shadow = useGarden((s) => s.shadow);
  const canRollback = useGarden((s) => s.canRollback);
  const gate = useGarden((s) => s.championGate);
  const benefit = useLab((s) => s.benefit);
  if (!reg) return null;
  const name = (id: string | null | undefined) => (id ? (models.find((m) => m.id === id)?.name ?? id) : '—');
  // Benefit-centred release gates Make champion: with a champion to judge against, only a
  // challenger whose verdict says "release" can be promoted; the verdict's failed parts say why.
  const challenger = reg.canary?.model ?? reg.shadow;
  const judged = benefit?.challenger === challenger && benefit.champion === reg.champion ? benefit : null;
  const benefitWhy =
    !challenger || !reg.champion
      ? null
      : !judged
        ? `Make champion waits: benefit-centred release of ${name(challenger)} is being judged.`
        : !judged.verdict
          ? `Make champion refused: benefit-centred release could not judge ${name(challenger)}: ${judged.error}.`
          : judged.verdict.decision !== 'release'
            ? `Make champion refused: benefit-centred release keeps ${name(challenger)} as an experiment: ${judged.verdict.reasons.join('; ')}.`
            : null;
  return (
    <section className="step" aria-labelledby="release-h" data-testid="release-panel">
      <h2 id="release-h">
        <span className="num">4</span> Release
      </h2>
      <p className="hint">
        Shadow runs beside the champion and never answers; a canary answers a share of requests; rollback restores the previous registry
        version exactly. Every step is a ledger entry.
      </p>
      <table className="registry">
        <tbody>
          <tr>
            <th>champion</th>
            <td data-testid="registry-champion">{name(reg.champion)}</td>
          </tr>
          <tr>
            <th>canary</th>
            <td data-testid="registry-canary">{reg.canary ? `${name(reg.canary.model)} · ${pct(reg.canary.share)} of requests` : '—'}</td>
          </tr>
          <tr>
            <th>shadow</th>
            <td data-testid="registry-shadow">
              {name(reg.shadow)}
              {shadow && shadow.compared > 0 ? ` · disagreed on ${shadow.disagreed} of ${shadow.compared} routed requests` : ''}
            </td>
          </tr>
          <tr>
            <th>fallback</th>
            <td>{reg.fallback.length ? reg.fallback.map(name).join(' → ') : '—'}</td>
          </tr>
          <tr>
            <th>version</th>
            <td data-testid="registry-version">
              {reg.version} (of {versions} kept)
            </td>
          </tr>
        </tbody>
      </table>
      <div className="row">
        <button onClick={() => void releaseStep('canary')} disabled={!reg.shadow} data-testid="to-canary">
          Canary: 10 % of requests
        </button>
        <button
          className="primary"
          onClick={() => void releaseStep('champion')}
          disabled={!gate?.ok || !!benefitWhy}
          aria-describedby="champion-why champion-benefit-why"
          data-testid="to-champion"
        >
          Make champion
        </button>
        <button onClick={() => void releaseStep('rollback')} disabled={!canRollback} data-testid="rollback">
          Roll back
        </button>
      </div>
      <BenefitView />
      {gate && !gate.ok && (
        <p className="hint" id="champion-why" data-testid="champion-why">
          Make champion {gate.reason.startsWith('needs') ? '' : 'waits: '}
          {gate.reason}
          {/routed/.test(gate.reason) ? ' (ask once below)' : ''}.
        </p>
      )}
      {benefitWhy && (
        <p className="hint" id="champion-benefit-why" data-testid="champion-benefit-why">
          {benefitWhy}
        </p>
      )}
    </section>
  );
}
