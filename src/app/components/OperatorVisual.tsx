/**
 * What the operator did, for a class: one real tensor of the candidate just bred, recomputed from
 * the stored parents and candidate (src/core/operators/visualize.ts), beside the receipt's numbers.
 */
import { useEffect, useMemo, useState } from 'react';
import { useGarden, type Receipt } from '../state.ts';
import { modelTensors } from '../garden.ts';
import { visualizeLayer, type LayerVisual } from '../../core/operators/visualize.ts';
import { HeatmapCanvas, HistogramChart, type Series } from './Charts.tsx';

const BEFORE = '#24507a';
const AFTER = '#c2410c';

function pct(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

/** The tensor shown first: the largest one the operator ran on. */
function defaultTensor(r: Receipt): string {
  const run = r.tensors.filter((t) => !t.skipped);
  return [...(run.length ? run : r.tensors)].sort((a, b) => b.bytes - a.bytes)[0]?.name ?? '';
}

export function OperatorVisual() {
  const receipt = useGarden((s) => s.receipt);
  const models = useGarden((s) => s.models);
  const [tensor, setTensor] = useState('');
  const [visual, setVisual] = useState<LayerVisual | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [panel, setPanel] = useState<number | null>(null);
  const name = receipt && receipt.tensors.some((t) => t.name === tensor) ? tensor : receipt ? defaultTensor(receipt) : '';

  useEffect(() => {
    if (!receipt || !name) return;
    let live = true;
    setVisual(null);
    setError(null);
    (async () => {
      const parents = receipt.inputs.map((h) => models.find((m) => m.hash === h));
      const cand = models.find((m) => m.hash === receipt.output);
      if (!cand || parents.some((p) => !p)) throw new Error('the candidate or a parent of this receipt is no longer in the garden');
      const [candidate, ...parentTensors] = await Promise.all([modelTensors(cand.id), ...parents.map((p) => modelTensors(p!.id))]);
      return visualizeLayer({
        operator: receipt.operator,
        params: receipt.params,
        seed: receipt.seed,
        parents: parentTensors,
        candidate,
        tensor: name,
      });
    })().then(
      (v) => live && setVisual(v),
      (e: unknown) => live && setError((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [receipt, models, name]);

  const panels = useMemo(() => (visual && receipt ? buildPanels(visual, receipt) : []), [visual, receipt]);
  useEffect(() => {
    if (panel === null) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'ArrowRight' || e.key === ' ' || e.key === 'PageDown')
        setPanel((p) => (p === null ? p : Math.min(panels.length - 1, p + 1)));
      else if (e.key === 'ArrowLeft' || e.key === 'PageUp') setPanel((p) => (p === null ? p : Math.max(0, p - 1)));
      else if (e.key === 'Escape') setPanel(null);
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [panel, panels.length]);

  if (!receipt) return null;
  const stat = receipt.tensors.find((t) => t.name === name);
  const shown = panel === null ? panels : panels.slice(panel, panel + 1);
  return (
    <section className={`step visual${panel !== null ? ' presenting' : ''}`} aria-labelledby="visual-h" data-testid="operator-visual">
      <h2 id="visual-h">
        <span className="num">2b</span> What {receipt.operator} did to one layer
      </h2>
      <div className="row">
        <label>
          Layer{' '}
          <select value={name} onChange={(e) => setTensor(e.target.value)} data-testid="visual-tensor">
            {receipt.tensors.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
                {t.skipped ? ' (copied unchanged)' : ''}
              </option>
            ))}
          </select>
        </label>
        {panel === null ? (
          <button onClick={() => setPanel(0)} disabled={!panels.length} data-testid="present">
            Present (one panel at a time, → to advance, Esc to leave)
          </button>
        ) : (
          <>
            <button onClick={() => setPanel(Math.max(0, panel - 1))} disabled={panel === 0}>
              ← Back
            </button>
            <span data-testid="present-position">
              {panel + 1} of {panels.length}
            </span>
            <button
              onClick={() => setPanel(Math.min(panels.length - 1, panel + 1))}
              disabled={panel >= panels.length - 1}
              data-testid="present-next"
            >
              Next →
            </button>
            <button onClick={() => setPanel(null)}>Leave presentation</button>
          </>
        )}
      </div>
      {error && (
        <p className="fail" role="alert">
          The visual could not be computed: {error}
        </p>
      )}
      {!visual && !error && <p className="hint">Reading the stored tensors…</p>}
      {visual && stat && (
        <p className="hint" data-testid="visual-check">
          Recomputed from the stored parents and candidate: ‖Δ‖{' '}
          <strong data-testid="visual-delta-norm">{visual.stats.deltaNorm.toFixed(3)}</strong>, sparsity{' '}
          <strong data-testid="visual-zeros">{pct(visual.stats.sparsity)}</strong>, output hash{' '}
          {visual.outputHash === stat.outputHash ? (
            <span className="ok" data-testid="visual-hash-match">
              equals the receipt’s
            </span>
          ) : (
            <span className="fail">differs from the receipt’s</span>
          )}
          {visual.recomputed !== null && (
            <>
              {' '}
              · the operator rerun on the CPU{' '}
              {visual.recomputed === 0 ? 'gives these weights bit for bit' : `differs by at most ${visual.recomputed.toExponential(2)}`}
            </>
          )}
          .
        </p>
      )}
      <div className="panels">
        {shown.map((p) => (
          <article key={p.id} className="panel" data-testid={`visual-${p.id}`} aria-labelledby={`visual-${p.id}-h`}>
            <h3 id={`visual-${p.id}-h`}>{p.title}</h3>
            <p className="says">{p.says}</p>
            {p.body}
          </article>
        ))}
      </div>
    </section>
  );
}

interface Panel {
  id: string;
  title: string;
  says: string;
  body: React.ReactNode;
}

function buildPanels(v: LayerVisual, r: Receipt): Panel[] {
  const out: Panel[] = [];
  const series = (a: number[], b: number[] | null, la: string, lb: string): Series[] => [
    ...(b ? [{ label: lb, counts: b, color: BEFORE }] : []),
    { label: la, counts: a, color: AFTER },
  ];
  out.push({
    id: 'weights',
    title: 'Weights before and after',
    says: `How the ${v.shape.join('×')} weights of ${v.tensor} are spread, in the first parent (blue) and in the candidate (orange).`,
    body: (
      <HistogramChart
        edges={v.weights.edges}
        series={series(v.weights.after, v.weights.before, 'candidate', 'first parent')}
        label={`Histogram of ${v.tensor} weights before and after`}
      />
    ),
  });
  out.push({
    id: 'deltas',
    title: 'Changes (deltas) before and after',
    says: v.deltas.before
      ? 'How far each other parent is from the first (blue), and how far the candidate moved from it (orange): the operator turned the first into the second.'
      : 'How far the candidate moved from its parent, weight by weight.',
    body: (
      <HistogramChart
        edges={v.deltas.edges}
        series={series(v.deltas.after, v.deltas.before, 'candidate − first parent', 'parents − first parent')}
        label={`Histogram of ${v.tensor} deltas`}
      />
    ),
  });
  out.push({
    id: 'sparsity',
    title: 'Sparsity',
    says: `Exact zeros: ${pct(v.sparsityBefore)} of the first parent’s weights, ${pct(v.stats.sparsity)} of the candidate’s; ${pct(v.stats.changedFraction)} of the weights changed.`,
    body: (
      <dl className="facts big">
        <dt>zeros before</dt>
        <dd>{pct(v.sparsityBefore)}</dd>
        <dt>zeros after</dt>
        <dd>{pct(v.stats.sparsity)}</dd>
        <dt>changed</dt>
        <dd data-testid="visual-changed">{pct(v.stats.changedFraction)}</dd>
      </dl>
    ),
  });
  if (v.crossover) {
    out.push({
      id: 'crossover',
      title: 'Crossover mask',
      says: `Which parent each weight was taken from: dark is the ${v.crossover.share.length > 2 ? 'later parents' : 'second parent'}, light the first (${v.crossover.share.map((s, i) => `parent ${i + 1} ${pct(s)}`).join(', ')}).`,
      body: (
        <HeatmapCanvas
          map={{ ...v.crossover.map, cells: v.crossover.map.cells.map((c) => c / Math.max(1, v.crossover!.share.length - 1)) }}
          label="share from the later parent(s)"
          testId="crossover-map"
        />
      ),
    });
  }
  if (v.drop) {
    out.push({
      id: 'drop',
      title: 'DARE drop mask',
      says: `Dark weights of each parent’s delta were dropped at random (p = ${v.drop.p}, from the seed ${r.seed}); the survivors were rescaled.`,
      body: (
        <div className="maps">
          {v.drop.masks.map((m, i) => (
            <HeatmapCanvas key={i} map={m} label={`parent ${i + 1}: dropped`} color={[163, 33, 42]} testId={`drop-map-${i}`} />
          ))}
        </div>
      ),
    });
  }
  if (v.ties) {
    const t = v.ties;
    out.push({
      id: 'ties-trim',
      title: 'TIES step 1: trim',
      says: t.steps[0].text,
      body: (
        <div className="maps">
          {t.kept.map((m, i) => (
            <HeatmapCanvas key={i} map={m} label={`parent ${i + 1}: kept after trim`} testId={`trim-map-${i}`} />
          ))}
        </div>
      ),
    });
    out.push({
      id: 'ties-elect',
      title: 'TIES step 2: elect a sign',
      says: t.steps[1].text,
      body: (
        <div className="maps">
          <HeatmapCanvas map={t.elected} label="elected sign + (dark) or − (light)" color={[36, 80, 122]} />
          <HeatmapCanvas map={t.conflicts} label="sign conflicts" color={[163, 33, 42]} testId="conflict-map" />
          <p className="big-number">
            sign conflicts: <strong data-testid="visual-sign-conflicts">{t.signConflicts}</strong>
          </p>
        </div>
      ),
    });
    out.push({
      id: 'ties-mean',
      title: 'TIES step 3: disjoint mean',
      says: t.steps[2].text,
      body: <HeatmapCanvas map={t.agreeing} label="kept mask: weights with an agreeing delta" testId="kept-map" />,
    });
  }
  if (v.slerp) {
    const s = v.slerp;
    out.push({
      id: 'slerp',
      title: 'SLERP angle',
      says: s.linear
        ? `The parents point almost the same way (cos θ = ${s.dot.toFixed(4)}), so SLERP falls back to a straight line at t = ${s.t}.`
        : `The two parents’ ${v.tensor} are ${s.thetaDeg.toFixed(2)}° apart; at t = ${s.t} the candidate is ${s.s0.toFixed(3)}× the first plus ${s.s1.toFixed(3)}× the second.`,
      body: (
        <p className="big-number">
          θ = <strong data-testid="visual-slerp-angle">{s.thetaDeg.toFixed(2)}°</strong>
        </p>
      ),
    });
  }
  if (v.quant) {
    const q = v.quant;
    out.push({
      id: 'quant',
      title: 'Quantization error',
      says: `How far each stored ${q.scheme} weight (blocks of ${q.blockSize}) is from the float weight it replaces: at most ${q.maxAbsError.toExponential(2)}, ${q.meanAbsError.toExponential(2)} on average.`,
      body: (
        <HistogramChart
          edges={q.error.edges}
          series={[{ label: 'stored − float', counts: q.error.counts, color: AFTER }]}
          label={`Histogram of the quantization error of ${v.tensor}`}
        />
      ),
    });
  }
  return out;
}
