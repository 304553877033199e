import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useGarden } from '../state.ts';
import { decisionsOf, lineageLayout, type LineageNode } from '../garden-view.ts';
import { allModels, gardenFacts, ledgerEntries, refreshArchive, useGardenView } from '../garden-actions.ts';
import './garden-view.css';

/** Badge colours in the graph (fill, text): each pair well above 4.5:1. */
const BADGE_COLOURS: Record<string, [string, string]> = {
  source: ['#e2ecf6', '#1d4266'],
  candidate: ['#fff1d6', '#6a4400'],
  admitted: ['#dff0e3', '#1f5135'],
  shadow: ['#e6e6e6', '#333333'],
  canary: ['#fde9c8', '#6a4400'],
  champion: ['#1f5135', '#ffffff'],
  recessive: ['#efe5f6', '#4d2768'],
  archived: ['#ece9e4', '#4a4a4a'],
};

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * The lineage of the garden: every model a node (named as the pool names it, with its badges),
 * an edge from each recipe parent to its child, laid out by dagre. A node is a button: Enter,
 * Space or a click shows its decisions below; the arrow keys move between nodes.
 */
export function LineageGraph() {
  const pool = useGarden((s) => s.models);
  const archivedModels = useGardenView((s) => s.archivedModels);
  // Archived models stay in the lineage (badged), out of the pool.
  const models = useMemo(() => allModels(pool, archivedModels), [pool, archivedModels]);
  useEffect(() => void refreshArchive(), [pool]);
  const registry = useGarden((s) => s.registry);
  const ledgerLength = useGarden((s) => s.ledger.length);
  const evidence = useGarden((s) => s.evidence);
  const archived = useGardenView((s) => s.archived);
  const [picked, setPicked] = useState<string | null>(null);
  const nodeRefs = useRef(new Map<string, SVGGElement>());
  const explanationRef = useRef<HTMLDivElement>(null);
  // The ledger's entries change with its length (the registry with them).
  const entries = useMemo(() => ledgerEntries(), [ledgerLength, registry]);
  const facts = useMemo(() => gardenFacts(entries, archived), [entries, archived]);
  const layout = useMemo(() => lineageLayout(models, facts), [models, facts]);
  const model = models.find((m) => m.id === picked);
  const names = useMemo(() => new Map(models.map((m) => [m.id, m.name])), [models]);

  const pick = (id: string) => {
    setPicked(id);
    requestAnimationFrame(() => explanationRef.current?.focus());
  };
  const onKey = (e: KeyboardEvent, n: LineageNode, i: number) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      if (!n.missing) pick(n.id);
      return;
    }
    const step = e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = layout.nodes[(i + step + layout.nodes.length) % layout.nodes.length];
    nodeRefs.current.get(next.id)?.focus();
  };

  return (
    <section className="step" aria-labelledby="lineage-h" data-testid="lineage-panel">
      <h2 id="lineage-h">
        <span className="num">G</span> The garden: lineage
      </h2>
      <p className="hint">
        Every model and where it came from: an arrow runs from each parent to the candidate bred from it. Pick a model (click, or Tab to it
        and press Enter; the arrow keys move between models) to read why it is where it is.
      </p>
      <div className="lineage-scroll">
        <svg
          className="lineage"
          width={layout.width}
          height={layout.height}
          viewBox={`0 0 ${layout.width} ${layout.height}`}
          role="group"
          aria-label={`Lineage graph: ${layout.nodes.length} models, ${layout.edges.length} parent-to-child edges`}
          data-testid="lineage-graph"
        >
          <defs>
            <marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" fill="#5b6b61" />
            </marker>
          </defs>
          <g aria-hidden="true">
            {layout.edges.map((e) => (
              <path
                key={`${e.from}>${e.to}`}
                className="lineage-edge"
                d={e.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' ')}
                markerEnd="url(#lineage-arrow)"
                data-testid={`lineage-edge-${e.from}-${e.to}`}
              />
            ))}
          </g>
          {layout.nodes.map((n, i) => {
            const x = n.x - n.width / 2;
            const y = n.y - n.height / 2;
            let bx = x + 8;
            return (
              <g
                key={n.id}
                ref={(el) => {
                  if (el) nodeRefs.current.set(n.id, el);
                  else nodeRefs.current.delete(n.id);
                }}
                className={`lineage-node${picked === n.id ? ' picked' : ''}${n.missing ? ' missing' : ''}${n.badges.includes('archived') ? ' archived' : ''}`}
                role="button"
                tabIndex={0}
                aria-pressed={picked === n.id}
                aria-disabled={n.missing || undefined}
                data-testid={`lineage-node-${n.id}`}
                data-badges={n.badges.join(' ')}
                onClick={() => !n.missing && pick(n.id)}
                onKeyDown={(e) => onKey(e, n, i)}
              >
                <title>{n.missing ? `deleted parent ${n.id}: no longer in the garden` : `${n.name}: ${n.badges.join(', ')}`}</title>
                <rect x={x} y={y} width={n.width} height={n.height} rx={8} />
                <text x={x + 8} y={y + 16} className="lineage-title">
                  {clip(n.title, 30)}
                </text>
                <text x={x + 8} y={y + 31} className="lineage-detail">
                  {clip(n.detail, 36)}
                </text>
                {n.badges.map((b) => {
                  const w = b.length * 6.2 + 10;
                  const at = bx;
                  bx += w + 4;
                  const [fill, ink] = BADGE_COLOURS[b];
                  return (
                    <g key={b} aria-hidden="true">
                      <rect x={at} y={y + 40} width={w} height={16} rx={8} fill={fill} />
                      <text x={at + w / 2} y={y + 52} textAnchor="middle" className="lineage-badge" fill={ink}>
                        {b}
                      </text>
                    </g>
                  );
                })}
              </g>
            );
          })}
        </svg>
      </div>
      <div className="lineage-explanation" ref={explanationRef} tabIndex={-1} aria-live="polite" data-testid="lineage-explanation">
        {model ? (
          <>
            <h3>
              {model.name} <span className="hint">({layout.nodes.find((n) => n.id === model.id)?.badges.join(', ')})</span>
            </h3>
            {model.parents?.length ? (
              <p className="hint">Parents: {model.parents.map((p) => names.get(p) ?? `${p} (deleted)`).join(', ')}</p>
            ) : null}
            <ol className="decisions" data-testid="lineage-decisions">
              {decisionsOf(model, { entries, evidence: evidence[model.hash], archived, names }).map((d, i) => (
                <li key={i} data-kind={d.kind}>
                  <strong>{d.kind}</strong>
                  {d.index !== undefined && <span className="hint"> (ledger entry {d.index})</span>}: {d.text}
                </li>
              ))}
            </ol>
          </>
        ) : (
          <p className="hint">No model picked.</p>
        )}
      </div>
    </section>
  );
}
