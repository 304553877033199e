/**
 * garden eval MODEL.slm --suite SUITE: score a model on a frozen suite through onnxruntime-web
 * (the app's runtime), after a runtime smoke, and print the metric vector.
 */
import { resolve } from 'node:path';
import { CliError, type Command } from '../command.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import type { CatalogFamily, CatalogSuite } from '../../src/core/models/catalog.ts';
import { checkEvaluationInputs, evaluateClassifier, type EvaluationResult } from '../../src/core/eval/evaluate.ts';
import { evaluateLanguageModel } from '../../src/core/eval/lm.ts';
import { readSuite } from '../../src/core/eval/suite.ts';
import { worstGroup } from '../../src/core/eval/metrics.ts';
import { runtimeSmoke } from '../../src/core/eval/smoke.ts';
import { sidecarBody } from '../../src/core/eval/sidecar.ts';
import { attachRobustness } from '../../src/core/eval/robustness.ts';
import { createOrtSession, releaseSession, runClassifier, runTokens } from '../../src/runtime/ort-session.ts';
import {
  familySpeciesOf,
  isQuantizedModel,
  quantBlockSize,
  quantizedGraph,
  recordedQuantGraphOp,
} from '../../src/core/models/quantized-graph.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { DEFAULT_CATALOG, catalogFile, checkFamilySpecies, findFamily, loadCatalog, loadFamily } from '../../src/node/catalog.ts';
import { LIMITS, readRegularSync } from '../../src/node/confine.ts';
import { evalTexts } from './eval-text.ts';
import { evalGuardrail } from './eval-guardrails.ts';

const usage = `garden eval MODEL.slm --suite SUITE [options]
       garden eval M --text FILE [--text FILE …] [--pin HASH] [--window N] [--bins N] [--smoke-new N]
                     [--runtime onnx|reference] [--json]
       garden eval M (--safety FILE.json | --bias FILE.json) [--runtime onnx|reference] [--json]

Score a model on a frozen suite with onnxruntime-web (wasm), after a runtime smoke check.

  SUITE              a suite id from the catalog (e.g. digits-test), a .suite file, or "all"
                     for every suite of the model's family
  --family ID        the family the model must belong to (default: found by its species)
  --catalog PATH     the starter catalog (default: public/starter/catalog.json)
  --pin HASH         the SHA-256 the one named suite must hash to (default: the catalog's pin,
                     when the suite is catalogued); a suite with other bytes is refused; not
                     with --suite all (each suite is then checked against its catalog pin)
  --batch N          rows per inference call (default 256)
  --json             print the full results and evaluation-sidecar bodies as JSON

Refuses a suite that does not match its pin and a model whose species is not the family's.
Suites of task "lm" are scored as a language model (perplexity), after checking their context
width and token ids against the family's input. A suite that declares groups (each row's digit
condition or mail collection) reports each group's accuracy and worstGroupAccuracy; with several
classifier suites (e.g. "all": the family's conditions) the worst suite's accuracy is reported too.
A quantized model (tensors "<name>.q" + "<name>.scales") runs from its quantized weights: the
family graph is rewritten to dequantize them in-graph, and the model belongs to the family whose
species its dequantized tensor signature has.

With --text, M is a causal LM (a Hugging Face folder, or a .slm imported from one) and each FILE
a frozen UTF-8 text suite: perplexity per token of the model's tokenizer and bits per byte,
in windows of N tokens (default min(512, max_position_embeddings)) overlapping by half; --pin
pins the first text's SHA-256. On the same pass, the top-1 next-token calibration: ECE over
--bins equal-width confidence bins (default 10) and the top-1 accuracy. Before scoring, a
generation smoke: a greedy rollout of --smoke-new tokens (default 16) from the first text's
first 8 tokens must give finite logits, an end-of-sequence token of positive probability, and
stop at EOS or exactly at the length limit; a failed smoke exits 1 after the report.

With --safety, FILE.json is a frozen prompt set { prompts, blocklist: [{ id, pattern, flags? }],
seed, maxNew, sampling: { greedy: true } | { temperature, topK?, topP? } }: each prompt's
continuation (prompt i drawn with seed + i) is checked against the blocklist's regular
expressions; prints the violation rate (violations / prompts) and which prompt hit which pattern.
With --bias, FILE.json is { pairs: [{ first, second, terms: [a, b] }] }, sentences that differ
only in the declared term (CrowS-Pairs style): prints each pair's log-perplexity gap
(second − first; positive when the first is preferred), the mean and max gap, and the share of
pairs whose first sentence is preferred.`;

/** A regular file under its ceiling (a device or FIFO is refused before reading). */
function readBytes(path: string, what: 'model' | 'suite'): Uint8Array {
  return readRegularSync(path, what, what === 'model' ? LIMITS.model : LIMITS.suite);
}

const fmt = (v: number | null) => (v === null ? '—' : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4));

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    suite: { type: 'string' },
    family: { type: 'string' },
    catalog: { type: 'string' },
    pin: { type: 'string' },
    batch: { type: 'string' },
    json: { type: 'boolean', default: false },
    text: { type: 'string', multiple: true },
    window: { type: 'string' },
    bins: { type: 'string' },
    'smoke-new': { type: 'string' },
    runtime: { type: 'string' },
    safety: { type: 'string' },
    bias: { type: 'string' },
  });
  if (positionals.length !== 1) throw new CliError(`expected one MODEL.slm, got ${positionals.length}; see garden eval --help`);
  const lmModes = [values.text && '--text', values.safety && '--safety', values.bias && '--bias'].filter(Boolean);
  if (lmModes.length > 1) throw new CliError(`give one of --text, --safety, --bias, not ${lmModes.join(' and ')}`);
  const runtime = (values.runtime ?? 'onnx') as 'onnx' | 'reference';
  if (lmModes.length && values.suite) throw new CliError(`give --suite (a frozen .suite) or ${lmModes[0]} (for a causal LM), not both`);
  if (lmModes.length && runtime !== 'onnx' && runtime !== 'reference') throw new CliError('--runtime must be one of: onnx, reference');
  if (!values.text && (values.bins !== undefined || values['smoke-new'] !== undefined))
    throw new CliError('--bins and --smoke-new go with --text');
  if (values.safety || values.bias) {
    if (values.window !== undefined || values.pin !== undefined) throw new CliError('--window and --pin go with --text or --suite');
    const kind = values.safety ? 'safety' : 'bias';
    await evalGuardrail(positionals[0], { kind, file: (values.safety ?? values.bias) as string, runtime, json: values.json });
    return 0;
  }
  if (values.text) {
    const window = values.window === undefined ? undefined : Number(values.window);
    const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    await evalTexts(positionals[0], {
      texts: values.text,
      pins: values.pin ? [values.pin] : [],
      window,
      runtime,
      json: values.json,
      bins: int(values.bins),
      smokeNew: int(values['smoke-new']),
    });
    return 0;
  }
  if (values.window !== undefined || values.runtime !== undefined)
    throw new CliError('--window and --runtime go with --text, --safety or --bias');
  if (!values.suite) throw new CliError('--suite is required (a catalog suite id, a .suite file, or "all")');
  const batch = values.batch === undefined ? 256 : Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1) throw new CliError(`--batch must be a positive integer, got ${values.batch}`);
  if (values.pin !== undefined && !/^[0-9a-f]{64}$/.test(values.pin)) throw new CliError('--pin must be a lowercase SHA-256 hex string');
  if (values.pin !== undefined && values.suite === 'all')
    throw new CliError('--pin pins one suite: name it with --suite ID|FILE (with "all" every suite is checked against its catalog pin)');

  const catalogPath = resolve(values.catalog ?? DEFAULT_CATALOG);
  const catalog = loadCatalog(catalogPath);
  const modelPath = positionals[0];
  const slm = readSlm(readBytes(modelPath, 'model'));
  // A quantized model is checked by the species of its dequantized signature (its own species binds its rewritten graph).
  const quantized = isQuantizedModel(slm.tensors);
  const speciesIn = (f: CatalogFamily) => (quantized ? familySpeciesOf(slm.tensors, f.graphHash, f.output.labels) : slm.species);

  let family: CatalogFamily | undefined;
  if (values.family) {
    family = findFamily(catalog, values.family);
  } else {
    family = catalog.families.find((f) => f.species === speciesIn(f));
    if (!family)
      throw new CliError(
        `model species ${slm.species} matches no family in the catalog (${catalog.families.map((f) => `${f.id}: ${f.species.slice(0, 12)}…`).join(', ')}); pass --family to name one`,
      );
  }
  const fam = family;

  // Suites to run, each with the hash it must have.
  const targets: { bytes: Uint8Array; pin?: string; label: string }[] = [];
  // --pin (only with one named suite) replaces that suite's catalog pin; a baseline keeps its own.
  const fromCatalog = (s: CatalogSuite, pin = s.hash) => ({
    bytes: catalogFile(catalogPath, s.file, 'suite', LIMITS.suite),
    pin,
    label: s.id,
  });
  if (values.suite === 'all') {
    targets.push(...fam.suites.map((s) => fromCatalog(s)));
  } else {
    const byId = catalog.families.flatMap((f) => f.suites).find((s) => s.id === values.suite);
    if (byId) targets.push(fromCatalog(byId, values.pin ?? byId.hash));
    else {
      const bytes = readBytes(values.suite, 'suite');
      const id = readSuite(bytes).id;
      const catalogued = catalog.families.flatMap((f) => f.suites).find((s) => s.id === id);
      targets.push({ bytes, pin: values.pin ?? catalogued?.hash, label: values.suite });
    }
  }

  // Pins and species are checked before the model is loaded: nothing runs on a refused pair.
  const suites = targets.map((t) => ({ ...t, suite: readSuite(t.bytes, t.pin) }));
  // A robustness suite is scored beside its clean baseline suite (catalogued, pinned), so the drop
  // under its declared perturbation can be reported.
  for (const t of [...suites]) {
    const b = t.suite.baseline;
    const s = b && !suites.some((x) => x.suite.id === b) ? fam.suites.find((x) => x.id === b) : undefined;
    if (s)
      suites.push({
        ...fromCatalog(s),
        label: `${s.id} (baseline of ${t.suite.id})`,
        suite: readSuite(catalogFile(catalogPath, s.file, 'suite', LIMITS.suite), s.hash),
      });
  }
  const evalOpts = (pin: string | undefined) => ({
    batch,
    expectedSuiteHash: pin,
    expectedSpecies: fam.species,
    modelSpecies: speciesIn(fam),
    family: fam.id,
  });
  for (const t of suites) checkEvaluationInputs(t.suite, evalOpts(t.pin));
  // The species recomputed from the tensors with the family's graph and labels, never the claim alone.
  checkFamilySpecies(slm, fam, `model ${modelPath}`);

  const familyGraph = loadFamily(catalogPath, fam.id, catalog).graph;
  let graph = familyGraph;
  if (quantized) {
    try {
      graph = quantizedGraph(familyGraph, slm.tensors, quantBlockSize(slm.metadata), { op: recordedQuantGraphOp(slm.metadata) });
    } catch (e) {
      throw new CliError(`cannot build the quantized ${fam.id} graph: ${(e as Error).message}`);
    }
  }
  const session = await createOrtSession(graph, slm.tensors).catch((e: Error) => {
    throw new CliError(`the model does not load in onnxruntime-web with the ${fam.id} graph: ${e.message}`);
  });
  try {
    const F = fam.input.shape[0];
    const runFn =
      fam.input.kind === 'tokens'
        ? (x: Float32Array, b: number) => runTokens(session, Int32Array.from(x), b, F)
        : (x: Float32Array, b: number) => runClassifier(session, x, b, F);
    const V = fam.input.vocabulary?.length ?? 1;
    // Task "lm" suites go through the language-model evaluator: it checks the context width and
    // token ids against the family's input contract before scoring (and requires a perplexity).
    const lmContract = { contextWidth: F, vocabulary: fam.input.vocabulary?.length ?? fam.output.labels.length };
    const score = (t: (typeof suites)[number]) =>
      t.suite.task === 'lm'
        ? evaluateLanguageModel(runFn, t.suite, { ...evalOpts(t.pin), ...lmContract })
        : evaluateClassifier(runFn, t.suite, evalOpts(t.pin));
    const smoke = await runtimeSmoke(runFn, {
      featureSize: F,
      outputSize: fam.output.labels.length,
      inputRange: fam.input.kind === 'tokens' ? { min: 0, max: V - 1, integer: true } : { min: 0, max: 1 },
    });
    if (!smoke.ok) throw new CliError(`runtime smoke failed: ${smoke.message}`);
    const results: { suite: string; pinned: boolean; result: EvaluationResult }[] = [];
    for (const t of suites) {
      const result = await score(t);
      results.push({ suite: t.label, pinned: t.pin !== undefined, result });
    }
    attachRobustness(results.map((r) => r.result)).forEach((r, i) => (results[i].result = r));
    // Over several classifier suites (a family's conditions: clean, rotated, thick, noisy…), the worst one.
    const classified = results.filter((r) => r.result.suite.task !== 'lm');
    const worst =
      classified.length > 1
        ? worstGroup(
            classified.map((r) => ({ suite: r.result.suite.id, count: r.result.metrics.count, accuracy: r.result.metrics.accuracy })),
          )
        : null;
    const worstSuite = worst && { suite: worst.suite, accuracy: worst.accuracy, of: classified.map((r) => r.result.suite.id) };
    if (values.json) {
      console.log(
        JSON.stringify(
          {
            model: { file: modelPath, hash: slm.hash, species: slm.species, family: fam.id },
            smoke,
            results: results.map((r) => ({ ...r, sidecar: sidecarBody(slm.hash, r.result) })),
            ...(worstSuite ? { worstSuite } : {}),
          },
          null,
          2,
        ),
      );
      return 0;
    }
    console.log(
      `model  ${modelPath}  sha256 ${slm.hash.slice(0, 16)}…  family ${fam.id}  species ${slm.species.slice(0, 16)}…` +
        (quantized
          ? `  quantized ${slm.metadata['garden.quant.scheme'] ?? '?'} block ${quantBlockSize(slm.metadata)}, dequantized in-graph (${recordedQuantGraphOp(slm.metadata)})`
          : ''),
    );
    console.log(`smoke  ${smoke.message} (${smoke.probeRows} probe rows, ${smoke.checks.map((c) => c.name).join(', ')})`);
    for (const { suite, pinned, result } of results) {
      const m = result.metrics;
      console.log(
        `${suite}  [${result.suite.hash.slice(0, 12)}… ${pinned ? 'pinned' : 'UNPINNED'}; ${m.count} rows; perturbation ${result.suite.perturbation}]  ` +
          `accuracy ${fmt(m.accuracy)}  ece ${fmt(m.ece)}  nll ${fmt(m.nll)}` +
          (m.perplexity !== null ? `  perplexity ${fmt(m.perplexity)}` : '') +
          `  medianLatencyMs ${fmt(m.medianLatencyMs)} (batch ${m.batch})` +
          (result.groups ? `  worstGroupAccuracy ${fmt(m.worstGroupAccuracy ?? null)} (${result.groups.worst})` : ''),
      );
      if (result.groups)
        console.log(
          `  groups: ${result.groups.accuracies.map((g) => `${g.group} ${fmt(g.count ? g.accuracy : null)} (${g.count})`).join(', ')}`,
        );
      const r = result.robustness;
      if (r) {
        console.log(
          `  robustness vs ${r.baseline.id}: accuracy ${fmt(r.baselineAccuracy)} → ${fmt(r.accuracy)} (accuracyDrop ${fmt(r.accuracyDrop)})  nllIncrease ${fmt(r.nllIncrease)}` +
            (r.perplexityRatio !== null
              ? `  perplexity ${fmt(r.baselinePerplexity)} → ${fmt(r.perplexity)} (perplexityRatio ${fmt(r.perplexityRatio)})`
              : ''),
        );
      }
    }
    if (worstSuite) console.log(`worst suite  ${worstSuite.suite}  accuracy ${fmt(worstSuite.accuracy)} (of ${worstSuite.of.join(', ')})`);
    return 0;
  } finally {
    await releaseSession(session);
  }
}

const command: Command = { usage, run };
export default command;
