import { useRef } from 'react';
import { useGarden, type RouteAnswer } from '../state.ts';
import { labHandles, routeDrawing } from '../garden.ts';
import { MarkWrong } from './MarkWrong.tsx';
import { DrawPad, PAD_SIZE, type DrawPadHandle } from './DrawPad.tsx';

/** What a playground shows of the slot: the last answer, the champion's name, whether a request runs, the family's labels. */
export function useRouteView() {
  const route = useGarden((s) => s.route);
  const champion = useGarden((s) => s.registry?.champion ?? null);
  const championName = useGarden((s) => s.models.find((m) => m.id === champion)?.name);
  const routing = useGarden((s) => !!s.tasks.route);
  return { route, championName, routing, labels: labHandles().family.output.labels };
}

export function RoutePanel() {
  const pad = useRef<DrawPadHandle>(null);
  const { route, championName, routing, labels } = useRouteView();

  function ask() {
    void routeDrawing(pad.current!.gray(), PAD_SIZE, PAD_SIZE);
  }
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
        {route && <RouteAnswerView route={route} labels={labels} />}
      </div>
      <MarkWrong />
    </section>
  );
}

/** A routed request's answer: the label, which model answered (and whether a shadow ran beside it), and the class probabilities. */
export function RouteAnswerView({ route, labels }: { route: RouteAnswer; labels: readonly string[] }) {
  // Room for the longest label left of the bars (one character for the digits).
  const gutter = 9 + 7 * Math.max(1, ...labels.map((l) => l.length));
  return (
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
      <svg width={gutter + 254} height={route.probabilities.length * 16} role="img" aria-label="Class probabilities">
        {route.probabilities.map((p, i) => (
          <g key={i} transform={`translate(0, ${i * 16})`}>
            <text x="0" y="11" className="axis">
              {labels[i] ?? i}
            </text>
            <rect
              x={gutter}
              y="2"
              width={p * 190}
              height="11"
              rx="2"
              className={(labels[i] ?? String(i)) === route.label ? 'bar-cand' : 'bar-fg'}
            />
            <text x={gutter + 6 + p * 190} y="11" className="axis">
              {p >= 0.01 ? `${(p * 100).toFixed(0)}%` : ''}
            </text>
          </g>
        ))}
      </svg>
    </div>
  );
}
