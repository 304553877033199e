import { useRef } from 'react';
import { useGarden } from '../state.ts';
import { routeDrawing } from '../garden.ts';
import { MarkWrong } from './MarkWrong.tsx';
import { DrawPad, PAD_SIZE, type DrawPadHandle } from './DrawPad.tsx';

export function RoutePanel() {
  const pad = useRef<DrawPadHandle>(null);
  const route = useGarden((s) => s.route);
  const champion = useGarden((s) => s.registry?.champion ?? null);
  const models = useGarden((s) => s.models);
  const routing = useGarden((s) => !!s.tasks.route);

  function ask() {
    void routeDrawing(pad.current!.gray(), PAD_SIZE, PAD_SIZE);
  }
  const championName = models.find((m) => m.id === champion)?.name;
  return (
    <section className="step" aria-labelledby="route-h">
      <h2 id="route-h">
        <span className="num">5</span> Ask the garden
      </h2>
      <p className="hint">
        Draw a digit. The selector registry sends it to the digits slot's champion{championName ? ` (now ${championName})` : ''}, falling
        back down the stack on failure.
      </p>
      <div className="route">
        <div>
          <DrawPad padRef={pad} testId="draw-pad" label="Drawing pad for a digit" />
          <div className="row">
            <button className="primary" onClick={ask} disabled={routing} data-testid="ask-button">
              Ask
            </button>
            <button onClick={() => pad.current?.clear()}>Clear</button>
          </div>
        </div>
        {route && (
          <div className="answer" data-testid="answer">
            <p className="big" data-testid="answer-label">
              {route.label}
            </p>
            <p>
              answered by <strong data-testid="answered-by">{route.modelName}</strong> in {route.ms.toFixed(1)} ms
              {route.canary && ' (canary share)'}
              {route.fellBack.length > 0 && <> after falling back from {route.fellBack.join(', ')}</>}
            </p>
            {route.shadow && (
              <p className="hint" data-testid="shadow-note">
                Shadow {route.shadow.model} ran beside it and{' '}
                {route.shadow.agreed === null ? 'failed' : route.shadow.agreed ? 'agreed' : 'disagreed'} (it never answers).
              </p>
            )}
            <svg width="270" height={route.probabilities.length * 16} role="img" aria-label="Class probabilities">
              {route.probabilities.map((p, i) => (
                <g key={i} transform={`translate(0, ${i * 16})`}>
                  <text x="0" y="11" className="axis">
                    {i}
                  </text>
                  <rect x="16" y="2" width={p * 190} height="11" rx="2" className={String(i) === route.label ? 'bar-cand' : 'bar-fg'} />
                  <text x={22 + p * 190} y="11" className="axis">
                    {p >= 0.01 ? `${(p * 100).toFixed(0)}%` : ''}
                  </text>
                </g>
              ))}
            </svg>
          </div>
        )}
      </div>
      <MarkWrong />
    </section>
  );
}
