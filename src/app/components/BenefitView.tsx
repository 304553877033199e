import { useEffect } from 'react';
import { useGarden } from '../state.ts';
import { judgeBenefit, useLab } from '../lab.ts';

/**
 * What benefit-centred release (benefit.ts) decides for the model in canary or shadow against the
 * champion, with its numbers. The judgement lives in the lab store: it also gates Make champion.
 */
export function BenefitView() {
  const reg = useGarden((s) => s.registry);
  const models = useGarden((s) => s.models);
  const evidence = useGarden((s) => s.evidence);
  const ledger = useGarden((s) => s.ledger.length);
  const benefit = useLab((s) => s.benefit);
  const challenger = models.find((m) => m.id === (reg?.canary?.model ?? reg?.shadow));
  const champion = models.find((m) => m.id === reg?.champion);
  useEffect(() => {
    if (challenger && champion) void judgeBenefit(challenger, champion);
  }, [challenger, champion, evidence, ledger]);
  if (!challenger || !champion || benefit?.challenger !== challenger.id || benefit.champion !== champion.id) return null;
  if (!benefit.verdict) return <p className="fail">Benefit-centred release could not judge: {benefit.error}</p>;
  const verdict = benefit.verdict;
  const parts = [verdict.benefit, verdict.exit, verdict.efficiency, ...verdict.retention];
  return (
    <div data-testid="benefit">
      <p>
        Benefit-centred release of {challenger.name}:{' '}
        <strong data-testid="benefit-decision">{verdict.decision === 'release' ? 'release as champion' : 'keep as an experiment'}</strong>
      </p>
      <ul className="checks">
        {parts.map((p, i) => (
          <li key={i} className={p.passed ? 'ok' : 'fail'}>
            {p.passed ? '✓' : '✗'} {p.text}
          </li>
        ))}
      </ul>
    </div>
  );
}
