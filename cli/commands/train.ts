/**
 * garden train SPEC.json --out ADAPTER_DIR: train a LoRA adapter (and optionally a new head) on
 * the user's own labelled data, on the CPU engine of src/core/train, and write it in PEFT's
 * layout (adapter_config.json + adapter_model.safetensors) with the run's data manifest.
 * The data is checked against every frozen suite of the base's family (and the calibration splits
 * the spec names) and refused on overlap.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { CliError, type Command } from '../command.ts';
import { checkSlmMetadata, readSlm } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { readSuite, type Suite } from '../../src/core/eval/suite.ts';
import { printable } from '../../src/core/format/printable.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../../src/core/train/peft.ts';
import { WALL_WINDOW } from '../../src/core/train/text-wall.ts';
import { runTraining, TRAINING_MANIFEST } from '../../src/core/train/run.ts';
import { encodeJsonl, parseSpec, ENCODINGS, type Encoding } from '../../src/core/train/spec.ts';
import { federatedUpdateFile } from '../../src/core/train/federated.ts';
import { readCalibration } from '../../src/core/operators/calibration.ts';
import { trainedCandidateSlm, trainedParams } from '../../src/core/train/trained.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { trainLanguageModel } from './train-lm.ts';
import { writeAdapterDir } from '../../src/node/adapter-dir.ts';
import { DEFAULT_CATALOG, catalogFile, loadCatalog } from '../../src/node/catalog.ts';
import { LIMITS, confinedPath, declaredRoot, readRegularSync, readTextSync, writeFileAtomicSync } from '../../src/node/confine.ts';

const usage = `garden train SPEC.json --out ADAPTER_DIR [--merged-out FILE.slm] [--federated-update FILE.slm [--clip NORM]] [options]

Train a LoRA adapter of a classifier base on your own labelled data, or (a spec with "text") of a
Llama-family language model on your own text files (CPU, float32, seeded: the
same spec gives the same bytes) and write it in PEFT's layout:
  ADAPTER_DIR/${ADAPTER_CONFIG}, ADAPTER_DIR/${ADAPTER_WEIGHTS}, ADAPTER_DIR/${TRAINING_MANIFEST}
(the last holds hashes and counts of the data, never its contents).

SPEC.json (paths relative to the spec's folder, confined to --root):
  { "base": "base.slm",
    "data": { "train": "train.jsonl", "validation": "validation.jsonl" },
    "encoding": ${Object.keys(ENCODINGS)
      .map((k) => `"${k}"`)
      .join(' | ')}   (default: mail-text for the mail family, else features)
    "suites": ["extra.suite"],                 (optional; the family's suites are always checked)
    "calibration": ["my.calibration"],         (optional: declared calibration splits, as garden
                                                breed --calibration takes, kept apart from too)
    "adapter": { "r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
                 "target_modules": ["fc1", "fc2"], "modules_to_save": [] },
    "train": { "steps": 200, "batch": 16, "lr": 0.002, "schedule": "cosine",
               "warmup_steps": 20, "weight_decay": 0, "seed": 1 } }
Data lines: {"message": "<RFC 822 email>", "label": "spam"} (or "body"), or {"features": [...], "label": 3}.
${Object.entries(ENCODINGS)
  .map(([k, v]) => `  ${k.padEnd(10)} ${v}`)
  .join('\n')}

  --out DIR          the adapter folder (created)
  --merged-out FILE  also write the base with the adapter merged in, as a .slm of the same species:
                     a trained candidate whose recipe (garden.recipe) names operator lora-merge,
                     the adapter's and the spec's SHA-256 and the base; a policy admits it only
                     when its allowlist names "lora-merge"
  --federated-update FILE
                     also write the run's delta as a federated update: base + delta (a .slm of
                     the base's species) recording the example count (training rows) and the
                     base's SHA-256, for another garden's federated operator (weights = counts)
  --clip NORM        clip the update's L2 norm (over all its tensors) to NORM first (DP-FedAvg)
  --root DIR         the folder the spec's paths must stay in (default: the working directory
                     when the spec is inside it, else the spec's folder)
  --catalog PATH     the starter catalog (default: public/starter/catalog.json)
  --json             print the result as JSON

Refuses training or validation rows whose model input equals a row of a frozen suite, or of a
calibration split the spec names.

A language-model spec (base: a .slm imported from a Hugging Face folder, or the folder):
  { "base": "model.slm",
    "data": { "train": ["notes.md", "letters.txt"] },     (or "validation": "held-out.txt" instead of validation_split)
    "text": { "seq_len": 64, "validation_split": 0.1, "eval_every": 20, "patience": 3 },
    "suite_texts": ["eval.txt"],
    "adapter": { "r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"] },
    "train": { ... as above } }
The files are tokenized with the model's tokenizer (BOS per file) and cut into windows of seq_len
tokens; validation_split holds out a seeded fraction of them when no validation file is given.
Validation loss every eval_every steps; after patience evaluations without a new best the run
stops, and the best adapter is the one written. A training or validation file that shares any
${WALL_WINDOW}-byte window (lower-cased, whitespace folded) with a suite text is refused.`;

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    out: { type: 'string' },
    'merged-out': { type: 'string' },
    'federated-update': { type: 'string' },
    clip: { type: 'string' },
    root: { type: 'string' },
    catalog: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new CliError(`expected one SPEC.json, got ${positionals.length}; see garden train --help`);
  if (!values.out) throw new CliError('--out ADAPTER_DIR is required');
  const specPath = positionals[0];
  const spec = parseSpec(readTextSync(specPath, 'spec', LIMITS.json));
  const root = declaredRoot(specPath, values.root);
  const at = (rel: string, what: string) => confinedPath(root, dirname(resolve(specPath)), rel, what);
  const clip = values.clip === undefined ? undefined : Number(values.clip);
  if (clip !== undefined && !(clip > 0 && Number.isFinite(clip)))
    throw new CliError(`--clip must be a positive number, got ${values.clip}`);
  if (clip !== undefined && !values['federated-update']) throw new CliError('--clip goes with --federated-update');
  if (spec.text) {
    if (values['federated-update']) throw new CliError('--federated-update is for classifier specs');
    return trainLanguageModel({ ...spec, text: spec.text }, at, values.out, values.json, values['merged-out']);
  }

  const basePath = at(spec.base, 'spec.base');
  const baseBytes = readRegularSync(basePath, 'base model', LIMITS.model);
  const slm = readSlm(baseBytes);
  if (slm.shards !== 1) throw new CliError(`${spec.base} is shard ${slm.shard + 1} of ${slm.shards}; train takes a single-file base`);
  const info = checkSlmMetadata(slm.metadata);
  const catalogPath = resolve(values.catalog ?? DEFAULT_CATALOG);
  const catalog = loadCatalog(catalogPath);
  const family = catalog.families.find((f) => f.species === slm.species);
  const labels = info.vocabulary ?? family?.output.labels;
  if (!labels || labels.length === 0) throw new CliError(`${spec.base} records no label set; the trainer needs the class names`);
  const w1 = slm.tensors.find((t) => t.name === 'fc1.weight');
  if (!w1 || w1.shape.length !== 2)
    throw new CliError(
      `${spec.base} is not of the MLP species (no fc1.weight matrix); garden train trains classifier adapters of the MLP species, or a language model from a "text" spec`,
    );
  const featureSize = w1.shape[0];
  const encoding: Encoding = spec.encoding ?? (family?.id === 'mail' ? 'mail-text' : 'features');

  // Every suite of the family (from the catalog, pinned by hash) plus the spec's own.
  const suites: Suite[] = [];
  for (const s of family?.suites ?? []) suites.push(readSuite(catalogFile(catalogPath, s.file, `suite ${s.id}`, LIMITS.suite), s.hash));
  for (const rel of spec.suites) suites.push(readSuite(readRegularSync(at(rel, 'spec.suites'), 'suite', LIMITS.suite)));
  // The declared calibration splits the spec names (as garden breed --calibration reads them).
  const calibration = (spec.calibration ?? []).map((rel) =>
    readCalibration(readRegularSync(at(rel, 'spec.calibration'), 'calibration split', LIMITS.suite), rel),
  );

  const load = (rel: string, what: string) => {
    const bytes = readRegularSync(at(rel, what), what, LIMITS.json * 16);
    return {
      ...encodeJsonl(new TextDecoder().decode(bytes), encoding, labels, featureSize, rel),
      name: basename(rel),
      hash: sha256Hex(bytes),
    };
  };
  const train = load(spec.data.train, 'spec.data.train');
  const validation = spec.data.validation ? load(spec.data.validation, 'spec.data.validation') : undefined;

  const t0 = performance.now();
  const result = runTraining({
    spec,
    base: { name: basename(spec.base), hash: slm.hash, species: slm.species, tensors: slm.tensors, labels },
    train,
    ...(validation ? { validation } : {}),
    suites,
    calibration,
  });
  const seconds = (performance.now() - t0) / 1000;

  writeAdapterDir(values.out, result.files);
  const manifest = {
    ...result.manifest,
    seconds: Math.round(seconds * 1000) / 1000,
    examplesPerSecond: Math.round((spec.train.steps * Math.min(spec.train.batch, train.y.length)) / seconds),
  };
  writeFileAtomicSync(join(values.out, TRAINING_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  let merged: { path: string; hash: string } | undefined;
  if (values['merged-out']) {
    const file = trainedCandidateSlm(
      {
        hash: slm.hash,
        species: slm.species,
        ...(info.graph ? { graph: info.graph } : {}),
        ...(info.vocabulary ? { vocabulary: info.vocabulary } : {}),
      },
      result.merged,
      trainedParams(result.files, spec),
      spec.train.seed,
    );
    writeFileAtomicSync(values['merged-out'], file.bytes);
    merged = { path: values['merged-out'], hash: file.hash };
  }

  let update: { path: string; hash: string; examples: number; norm: number; factor: number } | undefined;
  if (values['federated-update']) {
    const u = federatedUpdateFile(
      {
        hash: slm.hash,
        species: slm.species,
        ...(info.graph ? { graph: info.graph } : {}),
        ...(info.vocabulary ? { vocabulary: info.vocabulary } : {}),
        tensors: slm.tensors,
      },
      result.merged,
      { examples: train.y.length, ...(clip ? { clipNorm: clip } : {}) },
    );
    writeFileAtomicSync(values['federated-update'], u.bytes);
    update = { path: values['federated-update'], hash: u.hash, examples: train.y.length, norm: u.norm, factor: u.factor };
  }

  const out = { adapter: values.out, weightsSha256: sha256Hex(result.files.weights), merged, update, encoding, ...manifest };
  if (values.json) {
    console.log(JSON.stringify(out, null, 2));
    return 0;
  }
  const first = result.steps[0].loss;
  const last = result.steps.slice(-Math.min(10, result.steps.length));
  const mean = last.reduce((s, r) => s + r.loss, 0) / last.length;
  console.log(
    `adapter   ${printable(values.out)}  LoRA r=${spec.adapter.r} alpha=${spec.adapter.alpha} on ${spec.adapter.targetModules.join(', ') || '(none)'}${spec.adapter.modulesToSave.length ? ` + new ${spec.adapter.modulesToSave.join(', ')}` : ''}  weights ${out.weightsSha256.slice(0, 12)}…`,
  );
  console.log(
    `data      ${train.y.length} rows (${labels.map((l, k) => `${train.counts[k]} ${printable(l)}`).join(', ')}), kept apart from ${suites.length} frozen suites${calibration.length ? ` and ${calibration.length} calibration split${calibration.length > 1 ? 's' : ''}` : ''}`,
  );
  console.log(
    `training  ${spec.train.steps} steps × ${spec.train.batch}, ${spec.train.schedule} lr ${spec.train.lr}, seed ${spec.train.seed}: loss ${first.toFixed(4)} → ${mean.toFixed(4)} (mean of the last ${last.length}) in ${seconds.toFixed(1)} s`,
  );
  if (result.validation) {
    const v = result.validation;
    console.log(
      `validation ${v.rows} rows: accuracy base ${(100 * v.baseAccuracy).toFixed(1)}% → adapter ${(100 * v.adapterAccuracy).toFixed(1)}%, loss ${v.baseLoss.toFixed(4)} → ${v.adapterLoss.toFixed(4)}`,
    );
  }
  if (merged) console.log(`merged    ${printable(merged.path)}  ${merged.hash}`);
  if (update)
    console.log(
      `update    ${printable(update.path)}  ${update.examples} examples, delta norm ${update.norm.toPrecision(4)}${update.factor < 1 ? ` clipped to ${clip}` : ''}  ${update.hash}`,
    );
  return 0;
}

const command: Command = { usage, run };
export default command;
