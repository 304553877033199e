import { describe, expect, it } from 'vitest';
import type { Evidence, ModelEntry } from './state.ts';
import type { SelectorRegistry } from '../core/manifest/index.ts';
import type { EvaluationResult } from '../core/eval/types.ts';
import {
  archiveRefusal,
  badgesOf,
  decisionsOf,
  deleteRefusal,
  lineageLayout,
  objectiveAxes,
  paretoPoints,
  storageRows,
  type GardenFacts,
} from './garden-view.ts';

const model = (id: string, role: ModelEntry['role'], parents?: string[], bytes = 100): ModelEntry => ({
  id,
  name: role === 'candidate' ? `#${id} Blend · weights 1/1 · seed 1` : id,
  role,
  family: 'digits',
  hash: `h-${id}`,
  species: 's',
  bytes,
  description: `${id} described`,
  ...(parents ? { parents } : {}),
});

const registry = (champion: string, shadow: string | null = null): SelectorRegistry =>
  ({
    kind: 'selector-registry',
    schemaVersion: 1,
    slot: 'digits',
    version: 1,
    contract: { inputLength: 1, outputLength: 1, timeoutMs: 1, compare: 'argmax' },
    champion,
    canary: null,
    shadow,
    fallback: [],
  }) as unknown as SelectorRegistry;

const facts = (over: Partial<GardenFacts> = {}): GardenFacts => ({
  registry: registry('base'),
  alleles: new Map(),
  admitted: new Set(),
  archived: {},
  ...over,
});

const scoredOn = (mixed: number, clean: number): Evidence => {
  const r = (accuracy: number) => ({ metrics: { accuracy, medianLatencyPerRowMs: 0.1 } }) as unknown as EvaluationResult;
  return { evaluations: { mixed: r(mixed), clean: r(clean) }, sidecars: {} };
};

describe('the garden as a whole', () => {
  it('lays out an edge from each parent to its child, and badges from the release state', () => {
    const models = [
      model('base', 'base'),
      model('rot', 'specialist'),
      model('1', 'candidate', ['base', 'rot']),
      model('2', 'candidate', ['1', 'gone']),
    ];
    const f = facts({
      registry: registry('base', '1'),
      admitted: new Set(['1']),
      archived: { rot: { at: '2026-01-01T00:00:00Z', reason: 'old' } },
    });
    const g = lineageLayout(models, f);
    expect(g.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual(['1>2', 'base>1', 'gone>2', 'rot>1']);
    const node = (id: string) => g.nodes.find((n) => n.id === id)!;
    expect(node('base').badges).toEqual(['source', 'champion']);
    expect(node('rot').badges).toEqual(['source', 'archived']);
    expect(node('1').badges).toEqual(['candidate', 'admitted', 'shadow']);
    expect(node('1').title).toBe('#1 Blend');
    expect(node('gone').missing).toBe(true);
    // Top to bottom: each child below its parents.
    expect(node('1').y).toBeGreaterThan(node('base').y);
    expect(node('2').y).toBeGreaterThan(node('1').y);
    expect(badgesOf(models[3], f)).toEqual(['candidate']);
  });

  it('marks the non-dominated front over the two chosen objectives', () => {
    const policy = {
      primary: { suite: 'mixed', metric: 'accuracy', direction: 'max', margin: 0 },
      guardrails: [{ suite: 'clean', metric: 'accuracy', direction: 'max', tolerance: 0 }],
    } as never;
    const axes = objectiveAxes(policy);
    expect(axes.map((a) => a.id)).toEqual(['mixed-accuracy', 'clean-accuracy', 'bytes', 'latency']);
    const models = [
      model('a', 'base', undefined, 100),
      model('b', 'candidate', [], 100),
      model('c', 'candidate', [], 50),
      model('d', 'candidate'),
    ];
    const evidence = { 'h-a': scoredOn(0.9, 0.8), 'h-b': scoredOn(0.8, 0.95), 'h-c': scoredOn(0.7, 0.7) };
    const acc = paretoPoints(models, evidence, axes[0], axes[1]);
    expect(acc.points.filter((p) => p.front).map((p) => p.id)).toEqual(['a', 'b']);
    expect(acc.unscored).toEqual([models[3].name]);
    const size = paretoPoints(models, evidence, axes[0], axes[2]);
    expect(size.points.filter((p) => p.front).map((p) => p.id)).toEqual(['a', 'c']);
  });

  it('counts storage per model by tensor hash, shared tensors apart', () => {
    const rows = storageRows(
      new Map([
        [
          'p',
          [
            { hash: 'x', bytes: 10 },
            { hash: 'y', bytes: 20 },
          ],
        ],
        ['q', [{ hash: 'z', bytes: 30 }]],
        [
          'c',
          [
            { hash: 'x', bytes: 10 },
            { hash: 'z', bytes: 30 },
            { hash: 'w', bytes: 5 },
            { hash: 'w', bytes: 5 },
          ],
        ],
      ]),
    );
    expect(rows.get('c')).toMatchObject({ bytes: 45, shared: 40, own: 5, tensors: 3, sharedTensors: 2 });
    expect(rows.get('c')!.sharedWith.sort()).toEqual(['p', 'q']);
    expect(rows.get('p')).toMatchObject({ bytes: 30, shared: 10, own: 20, sharedWith: ['c'] });
  });

  it('refuses to delete what the slot, an admission or the starter holds, and explains each decision', () => {
    const f = facts({ registry: registry('base', 's'), admitted: new Set(['a']) });
    const starters = new Set(['base', 'rot']);
    expect(deleteRefusal(model('base', 'base'), f, starters)).toMatch(/champion/);
    expect(deleteRefusal(model('s', 'candidate'), f, starters)).toMatch(/shadow/);
    expect(deleteRefusal(model('a', 'candidate'), f, starters)).toMatch(/admitted/);
    expect(deleteRefusal(model('rot', 'specialist'), f, starters)).toMatch(/starter/);
    expect(deleteRefusal(model('c', 'candidate'), f, starters)).toBeNull();
    // What the slot routes to cannot leave the pool; an admitted or starter model may be archived.
    expect(archiveRefusal(model('base', 'base'), f)).toMatch(/champion: release another model first/);
    expect(archiveRefusal(model('s', 'candidate'), f)).toMatch(/shadow/);
    expect(archiveRefusal(model('a', 'candidate'), f)).toBeNull();
    expect(archiveRefusal(model('rot', 'specialist'), f)).toBeNull();
    const c = model('c', 'candidate');
    const noop: Evidence = {
      evaluations: {},
      sidecars: {},
      viability: { candidate: 'h-c', viable: false, checks: [], reasons: ['primary vs no-op: −0.0100 (needs ≥ +0.0050)'] },
    };
    const entries = [
      { index: 3, type: 'release', payload: { slot: 'digits', action: 'shadow', registry: registry('base', 'c'), reason: 'c admitted' } },
      { index: 4, type: 'release', payload: { slot: 'digits', action: 'canary', registry: registry('base', 'c'), reason: 'unrelated' } },
    ] as never;
    const names = new Map([['c', '#c Blend']]);
    const d = decisionsOf(c, { entries, evidence: noop, archived: {}, names });
    expect(d.map((x) => x.kind)).toEqual(['origin', 'viability', 'release']);
    expect(d[1].text).toBe('no-op: primary vs no-op: −0.0100 (needs ≥ +0.0050)');
    expect(d[2]).toMatchObject({ index: 3, text: 'shadow in slot digits: out → shadow. #c Blend admitted' });
  });
});
