/**
 * Evaluate every model of a starter family on every suite of it, through onnxruntime-web (the
 * same runtime the app uses), with the core evaluator.
 */
import { readSlm } from '../../src/core/format/slm.ts';
import { evaluateClassifier, type EvaluationResult, type MetricVector } from '../../src/core/eval/evaluate.ts';
import { evaluateLanguageModel } from '../../src/core/eval/lm.ts';
import { attachRobustness, type Robustness } from '../../src/core/eval/robustness.ts';
import { readSuite, type Suite } from '../../src/core/eval/suite.ts';
import { runtimeSmoke } from '../../src/core/eval/smoke.ts';
import type { CatalogFamily } from '../../src/core/models/catalog.ts';
import type { Tensor } from '../../src/core/tensor.ts';
import { createOrtSession, releaseSession, runClassifier, runTokens } from '../../src/runtime/ort-session.ts';

export interface ReportRow {
  model: string;
  suite: string;
  metrics: MetricVector;
  /** Robustness suites: the comparison with their clean baseline suite. */
  robustness?: Robustness;
}

export interface FamilyReport {
  family: string;
  rows: ReportRow[];
  smoke: { model: string; ok: boolean; message: string }[];
}

/** A run function over an onnxruntime session for a family's input kind. */
export function familyRunner(family: CatalogFamily, session: Awaited<ReturnType<typeof createOrtSession>>) {
  const F = family.input.shape[0];
  if (family.input.kind === 'tokens') {
    return (x: Float32Array, batch: number) => runTokens(session, Int32Array.from(x), batch, F);
  }
  return (x: Float32Array, batch: number) => runClassifier(session, x, batch, F);
}

export async function evaluateFamily(
  family: CatalogFamily,
  files: (path: string) => Uint8Array,
  models?: { id: string; tensors: Tensor[]; species: string }[],
): Promise<FamilyReport> {
  const graph = files(family.graph);
  const suites: Suite[] = family.suites.map((s) => readSuite(files(s.file), s.hash));
  const list =
    models ??
    family.models.map((m) => {
      const slm = readSlm(files(m.file));
      if (slm.hash !== m.hash) throw new Error(`model ${m.id}: file hashes to ${slm.hash}, catalog says ${m.hash}`);
      return { id: m.id, tensors: slm.tensors, species: slm.species };
    });
  const report: FamilyReport = { family: family.id, rows: [], smoke: [] };
  for (const m of list) {
    const session = await createOrtSession(graph, m.tensors);
    const run = familyRunner(family, session);
    const V = family.input.vocabulary?.length;
    const smoke = await runtimeSmoke(run, {
      featureSize: family.input.shape[0],
      outputSize: family.output.labels.length,
      inputRange: family.input.kind === 'tokens' ? { min: 0, max: (V ?? 1) - 1, integer: true } : { min: 0, max: 1 },
    });
    report.smoke.push({ model: m.id, ok: smoke.ok, message: smoke.message });
    const results: EvaluationResult[] = [];
    for (const s of suites) {
      const opts = {
        expectedSuiteHash: family.suites.find((c) => c.id === s.id)!.hash,
        expectedSpecies: family.species,
        modelSpecies: m.species,
        family: family.id,
      };
      results.push(
        s.task === 'lm'
          ? await evaluateLanguageModel(run, s, { ...opts, contextWidth: family.input.shape[0], vocabulary: V })
          : await evaluateClassifier(run, s, opts),
      );
    }
    for (const r of attachRobustness(results))
      report.rows.push({ model: m.id, suite: r.suite.id, metrics: r.metrics, ...(r.robustness ? { robustness: r.robustness } : {}) });
    await releaseSession(session);
  }
  return report;
}

/** A plain-text table of one metric: models down, suites across. */
export function formatTable(report: FamilyReport, metric: 'accuracy' | 'ece' | 'perplexity' = 'accuracy', markdown = false): string {
  return formatGrid(report, metric, (v) => (metric === 'accuracy' ? (100 * v).toFixed(1) + '%' : v.toFixed(3)), markdown);
}

/**
 * Robustness of every model: per robustness suite, its declared perturbation, then per model the
 * quality on the clean baseline suite, under the perturbation, and the drop (accuracy points;
 * for language models perplexity and the perplexity ratio). Empty when the family has none.
 */
export function formatRobustness(report: FamilyReport, markdown = false): string {
  const rows = report.rows.filter((r) => r.robustness);
  if (rows.length === 0) return '';
  const lm = rows.some((r) => r.robustness!.perplexity !== null);
  const header = lm
    ? ['model', 'robustness suite', 'clean perplexity', 'perturbed perplexity', 'ratio', 'accuracy drop']
    : ['model', 'robustness suite', 'clean accuracy', 'perturbed accuracy', 'accuracy drop', 'ECE (perturbed)'];
  const pct = (v: number) => (100 * v).toFixed(1) + '%';
  const body = rows.map((r) => {
    const x = r.robustness!;
    const suite = `${x.suite.id} vs ${x.baseline.id}`;
    return lm
      ? [
          r.model,
          suite,
          x.baselinePerplexity!.toFixed(3),
          x.perplexity!.toFixed(3),
          '×' + x.perplexityRatio!.toFixed(3),
          (100 * x.accuracyDrop).toFixed(1) + ' pts',
        ]
      : [r.model, suite, pct(x.baselineAccuracy), pct(x.accuracy), (100 * x.accuracyDrop).toFixed(1) + ' pts', r.metrics.ece.toFixed(3)];
  });
  const perturbations = [...new Map(rows.map((r) => [r.robustness!.suite.id, r.robustness!.perturbation])).entries()].map(
    ([id, p]) => `${id}: ${p}`,
  );
  const table = markdown
    ? [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n')
    : (() => {
        const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => r[i].length)));
        return [header, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
      })();
  return [`declared perturbations — ${perturbations.join('; ')}`, '', table].join('\n');
}

function formatGrid(
  report: FamilyReport,
  metric: 'accuracy' | 'ece' | 'perplexity',
  show: (v: number) => string,
  markdown: boolean,
): string {
  const models = [...new Set(report.rows.map((r) => r.model))];
  const suites = [...new Set(report.rows.map((r) => r.suite))];
  const cell = (m: string, s: string) => {
    const v = report.rows.find((r) => r.model === m && r.suite === s)?.metrics[metric];
    return v === null || v === undefined ? '—' : show(v);
  };
  const header = [`${metric} (${report.family})`, ...suites];
  const body = models.map((m) => [m, ...suites.map((s) => cell(m, s))]);
  if (markdown) {
    return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  }
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => r[i].length)));
  return [header, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}
