import { useEffect, useState } from 'react';
import { useGarden } from '../state.ts';
import { benefitOf } from '../lab.ts';
import type { BenefitVerdict } from '../../core/lab/benefit.ts';

/** What benefit-centred release (benefit.ts) decides for the model in canary or shadow against the champion, with its numbers. */
export function BenefitView() {
  const reg = useGarden((s) => s.registry);
  const models = useGarden((s) => s.models);
  const evidence = useGarden((s) => s.evidence);
  const [verdict, setVerdict] = useState<BenefitVerdict | string | null>(null);
  const challenger = models.find((m) => m.id === (reg?.canary?.model ?? reg?.shadow));
  const champion = models.find((m) => m.id === reg?.champion);
  useEffect(() => {
    if (!challenger || !champion) return setVerdict(null);
    let live = true;
    benefitOf(challenger, champion).then(
      (v) => live && setVerdict(v),
      (e: unknown) => live && setVerdict((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [challenger, champion, evidence]);
  if (!verdict) return null;
  if (typeof verdict === 'string') return <p className="fail">Benefit-centred release could not judge: {verdict}</p>;
  const parts = [verdict.benefit, verdict.exit, verdict.efficiency, ...verdict.retention];
  return (
    <div data-testid="benefit">
      <p>
        Benefit-centred release of {challenger?.name}:{' '}
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
