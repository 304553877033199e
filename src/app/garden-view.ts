/**
 * The garden as a whole, as plain data for its views (no DOM, no store): the lineage graph of
 * models with their status badges, each model's decisions as read from the ledger and its
 * evidence, the population as points over two objectives with the non-dominated front (the
 * core's nonDominatedFronts), and storage per model (tensors counted by hash, shared ones apart).
 */
import dagre from '@dagrejs/dagre';
import type { Evidence, ModelEntry } from './state.ts';
import type { Direction, LedgerEntry, Policy, SelectorRegistry } from '../core/manifest/index.ts';
import type { Allele } from '../core/lab/alleles.ts';
import { nonDominatedFronts } from '../core/lab/population.ts';

export const BADGES = Object.freeze(['source', 'candidate', 'admitted', 'shadow', 'canary', 'champion', 'recessive', 'archived'] as const);
export type Badge = (typeof BADGES)[number];

export interface GardenFacts {
  registry: SelectorRegistry | null;
  /** Model id → its allele in the slot. */
  alleles: ReadonlyMap<string, Allele>;
  /** Model ids with an admission entry in the ledger. */
  admitted: ReadonlySet<string>;
  /** Model id → why the user archived it. */
  archived: Readonly<Record<string, { at: string; reason: string }>>;
}

/** A model's badges: what it is (source or candidate), then what the release and allele state make it. */
export function badgesOf(m: ModelEntry, f: GardenFacts): Badge[] {
  const out: Badge[] = [m.role === 'candidate' ? 'candidate' : 'source'];
  if (f.admitted.has(m.id)) out.push('admitted');
  if (f.registry?.shadow === m.id) out.push('shadow');
  if (f.registry?.canary?.model === m.id) out.push('canary');
  if (f.registry?.champion === m.id) out.push('champion');
  const state = f.alleles.get(m.id)?.state;
  if (state === 'recessive') out.push('recessive');
  if (f.archived[m.id] || state === 'deprecated' || state === 'purged') out.push('archived');
  return out;
}

export interface LineageNode {
  id: string;
  /** The pool's name split for two lines: "#3 TIES merge", then "density 0.2, lambda 1 · seed 1". */
  title: string;
  detail: string;
  /** The full name (null for a parent no longer in the garden). */
  name: string;
  badges: Badge[];
  missing: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LineageEdge {
  from: string;
  to: string;
  points: { x: number; y: number }[];
}

export interface LineageLayout {
  nodes: LineageNode[];
  edges: LineageEdge[];
  width: number;
  height: number;
}

export const NODE_WIDTH = 210;
export const NODE_HEIGHT = 64;

/** The lineage graph (parent → child for each recipe parent), laid out top to bottom by dagre. */
export function lineageLayout(models: readonly ModelEntry[], facts: GardenFacts): LineageLayout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 56, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const held = new Set(models.map((m) => m.id));
  const info = new Map<string, Omit<LineageNode, 'x' | 'y'>>();
  for (const m of models) {
    const [title, ...rest] = m.name.split(' · ');
    info.set(m.id, {
      id: m.id,
      title,
      detail: rest.join(' · '),
      name: m.name,
      badges: badgesOf(m, facts),
      missing: false,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
    });
  }
  const edges: [string, string][] = [];
  for (const m of models)
    for (const p of new Set(m.parents ?? [])) {
      if (!held.has(p) && !info.has(p))
        info.set(p, {
          id: p,
          title: 'deleted model',
          detail: p,
          name: p,
          badges: [],
          missing: true,
          width: NODE_WIDTH,
          height: NODE_HEIGHT,
        });
      edges.push([p, m.id]);
    }
  for (const n of info.values()) g.setNode(n.id, { width: n.width, height: n.height });
  for (const [a, b] of edges) g.setEdge(a, b);
  dagre.layout(g);
  const nodes = [...info.values()].map((n) => {
    const p = g.node(n.id);
    return { ...n, x: p.x, y: p.y };
  });
  const laid = edges.map(([from, to]) => ({
    from,
    to,
    points: (g.edge(from, to).points ?? []).map((q: { x: number; y: number }) => ({ x: q.x, y: q.y })),
  }));
  const graph = g.graph();
  return { nodes, edges: laid, width: Math.ceil(graph.width ?? 0), height: Math.ceil(graph.height ?? 0) };
}

export interface Decision {
  /** What decided: "viability", "admission", "release", "allele", "archive", "origin". */
  kind: string;
  text: string;
  /** Ledger index, when the decision is a ledger entry. */
  index?: number;
}

function roleIn(reg: SelectorRegistry, id: string): string | null {
  if (reg.champion === id) return 'champion';
  if (reg.canary?.model === id) return `canary (${Math.round(reg.canary.share * 100)} %)`;
  if (reg.shadow === id) return 'shadow';
  if (reg.fallback.includes(id)) return 'fallback';
  return null;
}

/**
 * Every decision about one model: its origin, its viability verdict (why it is viable or a
 * no-op), its admission, each release or rollback that changed its role, its allele changes and
 * an archive, in ledger order.
 */
export function decisionsOf(
  m: ModelEntry,
  ctx: {
    entries: readonly LedgerEntry[];
    evidence: Evidence | undefined;
    archived: GardenFacts['archived'];
    names: ReadonlyMap<string, string>;
  },
): Decision[] {
  const out: Decision[] = [{ kind: 'origin', text: m.description }];
  const v = ctx.evidence?.viability;
  if (v)
    out.push({
      kind: 'viability',
      text: v.viable ? `viable: ${v.checks.map((c) => c.text).join('; ')}` : `no-op: ${v.reasons.join('; ')}`,
    });
  else if (m.role === 'candidate' && ctx.evidence?.smoke && !ctx.evidence.smoke.ok)
    out.push({ kind: 'viability', text: `refused by the runtime smoke: ${ctx.evidence.smoke.message}` });
  else if (m.role === 'candidate' && !ctx.evidence?.admitted)
    out.push({ kind: 'viability', text: 'not judged yet: run the smoke test and evaluation on it' });
  const roles = new Map<string, string | null>();
  for (const e of ctx.entries) {
    const p = e.payload;
    if (e.type === 'admission' && p.model === m.id)
      out.push({
        kind: 'admission',
        index: e.index,
        text: `admitted (admission ${String(p.admissionHash ?? p.admission ?? '').slice(0, 12)})`,
      });
    else if ((e.type === 'release' || e.type === 'rollback') && p.registry) {
      const slot = String(p.slot);
      const now = roleIn(p.registry as SelectorRegistry, m.id);
      const before = roles.get(slot) ?? null;
      roles.set(slot, now);
      if (now === before) continue;
      const what = e.type === 'rollback' ? 'rollback' : String(p.action);
      out.push({
        kind: 'release',
        index: e.index,
        text: `${what} in slot ${slot}: ${before ?? 'out'} → ${now ?? 'out'}. ${named(String(p.reason ?? ''), ctx.names)}`,
      });
    } else if (e.type === 'allele' && p.model === m.id)
      out.push({
        kind: 'allele',
        index: e.index,
        text: `${String(p.from)} → ${String(p.to)}: ${named(String(p.reason ?? ''), ctx.names)}`,
      });
  }
  const a = ctx.archived[m.id];
  if (a) out.push({ kind: 'archive', text: `archived ${a.at.slice(0, 19).replace('T', ' ')}: ${a.reason}` });
  return out;
}

/** Model ids in a ledger reason, written as the models' names (an id is a whole word of letters, digits and dashes). */
function named(text: string, names: ReadonlyMap<string, string>): string {
  return text.replace(/[\w-]+/g, (w) => names.get(w) ?? w);
}

export interface Axis {
  id: string;
  label: string;
  direction: Direction;
  value(m: ModelEntry, ev: Evidence | undefined): number | undefined;
}

/** The objectives a population can be drawn over: the policy's primary and guardrail accuracies, bytes and latency. */
export function objectiveAxes(policy: Policy): Axis[] {
  const acc = (suite: string) => (_m: ModelEntry, ev: Evidence | undefined) => ev?.evaluations[suite]?.metrics.accuracy;
  const primary = policy.primary.suite;
  return [
    { id: `${primary}-accuracy`, label: `accuracy on "${primary}" (primary)`, direction: 'max', value: acc(primary) },
    ...policy.guardrails.map((g) => ({
      id: `${g.suite}-accuracy`,
      label: `accuracy on "${g.suite}" (guardrail)`,
      direction: 'max' as const,
      value: acc(g.suite),
    })),
    { id: 'bytes', label: 'size (bytes)', direction: 'min', value: (m) => m.bytes },
    {
      id: 'latency',
      label: `latency per row on "${primary}" (ms)`,
      direction: 'min',
      value: (_m, ev) => ev?.evaluations[primary]?.metrics.medianLatencyPerRowMs,
    },
  ];
}

export interface ParetoPoint {
  id: string;
  name: string;
  x: number;
  y: number;
  front: boolean;
}

/** The models with both values, and which of them are on the non-dominated front of the two objectives. */
export function paretoPoints(
  models: readonly ModelEntry[],
  evidence: Readonly<Record<string, Evidence>>,
  x: Axis,
  y: Axis,
): { points: ParetoPoint[]; unscored: string[] } {
  const points: ParetoPoint[] = [];
  const unscored: string[] = [];
  for (const m of models) {
    const vx = x.value(m, evidence[m.hash]);
    const vy = y.value(m, evidence[m.hash]);
    if (vx === undefined || vy === undefined || !Number.isFinite(vx) || !Number.isFinite(vy)) unscored.push(m.name);
    else points.push({ id: m.id, name: m.name, x: vx, y: vy, front: false });
  }
  const front = new Set(
    nonDominatedFronts(
      points.map((p) => [p.x, p.y]),
      [x.direction, y.direction],
    )[0] ?? [],
  );
  return { points: points.map((p, i) => ({ ...p, front: front.has(i) })), unscored };
}

export interface StorageRow {
  id: string;
  /** Bytes of the model's distinct tensors. */
  bytes: number;
  /** Of those, bytes of tensors another model also lists (kept when this one is deleted). */
  shared: number;
  /** Bytes a delete frees: tensors no other model lists. */
  own: number;
  tensors: number;
  sharedTensors: number;
  /** The other models it shares a tensor with. */
  sharedWith: string[];
}

/** Storage per model from each model's tensor references; a tensor is counted once per model, by hash. */
export function storageRows(refs: ReadonlyMap<string, readonly { hash: string; bytes: number }[]>): Map<string, StorageRow> {
  const holders = new Map<string, Set<string>>();
  for (const [id, list] of refs) for (const t of list) (holders.get(t.hash) ?? holders.set(t.hash, new Set()).get(t.hash)!).add(id);
  const out = new Map<string, StorageRow>();
  for (const [id, list] of refs) {
    const distinct = new Map(list.map((t) => [t.hash, t.bytes]));
    const row: StorageRow = { id, bytes: 0, shared: 0, own: 0, tensors: distinct.size, sharedTensors: 0, sharedWith: [] };
    const withWhom = new Set<string>();
    for (const [hash, bytes] of distinct) {
      row.bytes += bytes;
      const others = [...holders.get(hash)!].filter((o) => o !== id);
      if (others.length) {
        row.shared += bytes;
        row.sharedTensors++;
        for (const o of others) withWhom.add(o);
      } else row.own += bytes;
    }
    row.sharedWith = [...withWhom];
    out.set(id, row);
  }
  return out;
}

/** Why a model may not leave the pool now (null when it may): the slot routes to it. */
export function archiveRefusal(m: ModelEntry, f: GardenFacts): string | null {
  const role = f.registry ? roleIn(f.registry, m.id) : null;
  return role ? `it is the slot's ${role}: release another model first` : null;
}

/** Why a model may not be deleted now (null when it may): the slot uses it, its admission binds it, or the starter restores it. */
export function deleteRefusal(m: ModelEntry, f: GardenFacts, starterIds: ReadonlySet<string>): string | null {
  const routed = archiveRefusal(m, f);
  if (routed) return routed;
  const instead = f.archived[m.id] ? '' : ' (archive it instead)';
  if (f.admitted.has(m.id)) return `it is admitted: its admission record binds it${instead}`;
  if (starterIds.has(m.id)) return `a starter model: the garden restores it on the next open${instead}`;
  return null;
}
