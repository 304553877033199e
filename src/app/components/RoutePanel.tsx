import { useEffect, useRef } from 'react';
import { useGarden } from '../state.ts';
import { routeDrawing } from '../garden.ts';
import { MarkWrong } from './MarkWrong.tsx';

const SIZE = 280;

export function RoutePanel() {
  const canvas = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const route = useGarden((s) => s.route);
  const champion = useGarden((s) => s.registry?.champion ?? null);
  const models = useGarden((s) => s.models);
  const routing = useGarden((s) => !!s.tasks.route);

  useEffect(() => clear(), []);

  function ctx() {
    return canvas.current!.getContext('2d', { willReadFrequently: true })!;
  }
  function clear() {
    const c = ctx();
    c.fillStyle = '#000';
    c.fillRect(0, 0, SIZE, SIZE);
  }
  function at(e: React.PointerEvent) {
    const r = canvas.current!.getBoundingClientRect();
    return [((e.clientX - r.left) * SIZE) / r.width, ((e.clientY - r.top) * SIZE) / r.height] as const;
  }
  function down(e: React.PointerEvent) {
    drawing.current = true;
    canvas.current!.setPointerCapture?.(e.pointerId);
    const [x, y] = at(e);
    const c = ctx();
    c.strokeStyle = '#fff';
    c.lineWidth = 22;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(x, y);
    c.lineTo(x + 0.1, y + 0.1);
    c.stroke();
  }
  function move(e: React.PointerEvent) {
    if (!drawing.current) return;
    const [x, y] = at(e);
    const c = ctx();
    c.lineTo(x, y);
    c.stroke();
  }
  function ask() {
    const img = ctx().getImageData(0, 0, SIZE, SIZE);
    const gray = new Uint8ClampedArray(SIZE * SIZE);
    for (let i = 0; i < gray.length; i++) gray[i] = img.data[4 * i];
    void routeDrawing(gray, SIZE, SIZE);
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
          <canvas
            ref={canvas}
            width={SIZE}
            height={SIZE}
            className="pad"
            data-testid="draw-pad"
            aria-label="Drawing pad for a digit"
            onPointerDown={down}
            onPointerMove={move}
            onPointerUp={() => (drawing.current = false)}
            onPointerLeave={() => (drawing.current = false)}
          />
          <div className="row">
            <button className="primary" onClick={ask} disabled={routing} data-testid="ask-button">
              Ask
            </button>
            <button onClick={clear}>Clear</button>
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
