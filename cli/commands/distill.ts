/**
 * garden distill --teacher T.slm [--teacher …] --data UNLABELLED.jsonl --hidden N --out STUDENT.slm:
 * a teacher (or an ensemble, the mean of the teachers' softmaxes) labels the user's unlabelled
 * inputs with soft targets at a temperature, and a smaller MLP student (a new species: fewer
 * hidden units) is trained on them (src/core/train/distill.ts). The inputs are refused when one
 * equals a row of a frozen suite of the teachers' family. --catalog-out writes a catalog of the
 * student's species (its graph and the family's suites, same bytes and pins) for garden eval.
 */
import { mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CliError, type Command } from '../command.ts';
import { checkSlmMetadata, readSlm, speciesId, speciesSignature, writeSlm, type SlmFile } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { readSuite } from '../../src/core/eval/suite.ts';
import { CATALOG_VERSION, type Catalog } from '../../src/core/models/catalog.ts';
import { mlpGraph } from '../../src/core/models/mlp.ts';
import { distill } from '../../src/core/train/distill.ts';
import { ADAMW_DEFAULTS, SCHEDULES, type ScheduleKind } from '../../src/core/train/optim.ts';
import { encodeJsonl, ENCODINGS, refuseSuiteOverlap, type Encoding } from '../../src/core/train/spec.ts';
import { parseCommandArgs } from '../../src/node/args.ts';
import { DEFAULT_CATALOG, catalogFile, loadCatalog, loadFamily } from '../../src/node/catalog.ts';
import { LIMITS, readRegularSync, writeFileAtomicSync } from '../../src/node/confine.ts';

const usage = `garden distill --teacher T.slm [--teacher T2.slm …] --data UNLABELLED.jsonl --hidden N --out STUDENT.slm [options]

Distil a classifier of the MLP species into a smaller one: the teacher (several --teacher: an
ensemble, the mean of their softmaxes) labels your unlabelled inputs with soft targets at
temperature T, and a fresh student MLP with N hidden units is trained on them with the soft
cross-entropy T²·KL(teacher ‖ student) (CPU, float32, seeded: the same flags give the same bytes).
The student is a new species (its own graph, the teacher's labels).

UNLABELLED.jsonl: one input a line, {"features": [...]} or, for the mail family, {"message": …}
or {"body": …}; a "label" is ignored. A line whose model input equals a row of a frozen suite of
the teachers' family is refused.

  --teacher FILE       a teacher .slm (repeat for an ensemble; same inputs and labels)
  --data FILE          the unlabelled inputs
  --hidden N           the student's hidden units
  --out FILE           the student .slm
  --temperature T      soft-target temperature (default 2)
  --steps N            optimizer steps (default 2000)
  --batch N            rows per step (default 64)
  --lr X               peak learning rate (default 0.003)
  --schedule S         ${SCHEDULES.join(' | ')} (default cosine)
  --warmup-steps N     linear warm-up (default steps / 20)
  --weight-decay X     AdamW weight decay (default 0)
  --seed N             student initialisation and batch order (default 1)
  --encoding E         ${Object.keys(ENCODINGS).join(' | ')} (default: mail-text for the mail family, else features)
  --catalog PATH       the starter catalog (default: public/starter/catalog.json)
  --catalog-out DIR    also write DIR/catalog.json: the student's species as the family (its graph,
                       the family's suites copied), so garden eval --catalog DIR/catalog.json scores it
  --json               print the result as JSON`;

function number(v: string | undefined, flag: string, dflt: number, ok: (x: number) => boolean, rule: string): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new CliError(`${flag} must be ${rule}, got ${JSON.stringify(v)}`);
  return x;
}
const posInt = (x: number) => Number.isInteger(x) && x >= 1;

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    teacher: { type: 'string', multiple: true },
    data: { type: 'string' },
    hidden: { type: 'string' },
    out: { type: 'string' },
    temperature: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    schedule: { type: 'string' },
    'warmup-steps': { type: 'string' },
    'weight-decay': { type: 'string' },
    seed: { type: 'string' },
    encoding: { type: 'string' },
    catalog: { type: 'string' },
    'catalog-out': { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 0) throw new CliError(`unexpected argument ${JSON.stringify(positionals[0])}; see garden distill --help`);
  if (!values.teacher?.length) throw new CliError('--teacher T.slm is required (repeat it for an ensemble)');
  if (!values.data) throw new CliError('--data UNLABELLED.jsonl is required');
  if (!values.out) throw new CliError('--out STUDENT.slm is required');
  const hidden = number(values.hidden, '--hidden', NaN, posInt, 'a positive integer');
  const temperature = number(values.temperature, '--temperature', 2, (x) => x > 0 && x <= 100, 'a number in (0, 100]');
  const steps = number(values.steps, '--steps', 2000, posInt, 'a positive integer');
  const batch = number(values.batch, '--batch', 64, posInt, 'a positive integer');
  const lr = number(values.lr, '--lr', 0.003, (x) => x > 0 && x < 10, 'a positive number below 10');
  const warmup = number(
    values['warmup-steps'],
    '--warmup-steps',
    Math.floor(steps / 20),
    (x) => Number.isInteger(x) && x >= 0 && x <= steps,
    `an integer in 0…${steps}`,
  );
  const weightDecay = number(values['weight-decay'], '--weight-decay', 0, (x) => x >= 0 && x < 1, 'in [0, 1)');
  const seed = number(values.seed, '--seed', 1, (x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32, 'an integer in 0…4294967295');
  const schedule = values.schedule ?? 'cosine';
  if (!(SCHEDULES as readonly string[]).includes(schedule)) throw new CliError(`--schedule must be one of: ${SCHEDULES.join(', ')}`);
  if (values.encoding !== undefined && !Object.prototype.hasOwnProperty.call(ENCODINGS, values.encoding))
    throw new CliError(`--encoding must be one of: ${Object.keys(ENCODINGS).join(', ')}`);

  const teachers: (SlmFile & { path: string })[] = values.teacher.map((path) => {
    const slm = readSlm(readRegularSync(path, 'teacher model', LIMITS.model));
    if (slm.shards !== 1) throw new CliError(`${path} is shard ${slm.shard + 1} of ${slm.shards}; distill takes single-file teachers`);
    return { ...slm, path };
  });
  const catalogPath = resolve(values.catalog ?? DEFAULT_CATALOG);
  const catalog = loadCatalog(catalogPath);
  const family = catalog.families.find((f) => f.species === teachers[0].species);
  const labelsOf = (t: SlmFile) =>
    checkSlmMetadata(t.metadata).vocabulary ?? catalog.families.find((f) => f.species === t.species)?.output.labels;
  const labels = labelsOf(teachers[0]);
  if (!labels?.length)
    throw new CliError(`${teachers[0].path} records no label set and is in no catalog family; distill needs the class names`);
  for (const t of teachers.slice(1))
    if (JSON.stringify(labelsOf(t)) !== JSON.stringify(labels)) throw new CliError(`${t.path} has other labels than ${teachers[0].path}`);
  const w1 = teachers[0].tensors.find((t) => t.name === 'fc1.weight');
  if (!w1 || w1.shape.length !== 2) throw new CliError(`${teachers[0].path} is not of the MLP species (no fc1.weight matrix)`);
  const encoding = (values.encoding as Encoding | undefined) ?? (family?.id === 'mail' ? 'mail-text' : 'features');

  const dataBytes = readRegularSync(values.data, 'unlabelled data', LIMITS.json * 16);
  const data = encodeJsonl(new TextDecoder().decode(dataBytes), encoding, labels, w1.shape[0], basename(values.data), false);
  const suiteFiles = (family?.suites ?? []).map((s) => ({
    entry: s,
    bytes: catalogFile(catalogPath, s.file, `suite ${s.id}`, LIMITS.suite),
  }));
  const { checked } = refuseSuiteOverlap(
    data,
    suiteFiles.map((s) => readSuite(s.bytes, s.entry.hash)),
    basename(values.data),
  );

  const t0 = performance.now();
  const r = distill(
    teachers.map((t) => t.tensors),
    data.x,
    {
      hidden,
      temperature,
      loop: {
        steps,
        batch,
        seed,
        schedule: { kind: schedule as ScheduleKind, lr, warmupSteps: warmup },
        adamw: { ...ADAMW_DEFAULTS, weightDecay },
      },
    },
  );
  const seconds = (performance.now() - t0) / 1000;

  const graph = mlpGraph(r.shape, family?.id ?? 'student');
  const graphHash = sha256Hex(graph);
  const species = speciesId(speciesSignature(r.student, graphHash, [...labels]));
  const bytes = writeSlm(r.student, {
    species,
    graph: graphHash,
    vocabulary: [...labels],
    extra: {
      'garden.distill.teachers': JSON.stringify(teachers.map((t) => t.hash)),
      'garden.distill.temperature': String(temperature),
      'garden.distill.data': JSON.stringify({ file: basename(values.data), sha256: sha256Hex(dataBytes), rows: data.y.length }),
    },
  });
  writeFileAtomicSync(values.out, bytes);

  let catalogOut: string | undefined;
  if (values['catalog-out']) {
    if (!family) throw new CliError('--catalog-out needs a teacher of a catalog family (its suites are what the student is scored on)');
    const dir = values['catalog-out'];
    const familyGraph = loadFamily(catalogPath, family.id, catalog).graph;
    mkdirSync(dir, { recursive: true });
    writeFileAtomicSync(join(dir, 'graph.onnx'), graph);
    for (const s of suiteFiles) {
      mkdirSync(join(dir, s.entry.file, '..'), { recursive: true });
      writeFileAtomicSync(join(dir, s.entry.file), s.bytes);
    }
    const out: Catalog = {
      version: CATALOG_VERSION,
      families: [
        {
          ...family,
          name: `${family.name}: distilled student`,
          description: `${family.description} A student MLP ${r.shape.inputs}→${r.shape.hidden}→${r.shape.classes} distilled from ${teachers.length} teacher(s) (graph ${sha256Hex(familyGraph).slice(0, 12)}… → ${graphHash.slice(0, 12)}…).`,
          species,
          graph: 'graph.onnx',
          graphHash,
          models: [],
        },
      ],
    };
    catalogOut = join(dir, 'catalog.json');
    writeFileAtomicSync(catalogOut, `${JSON.stringify(out, null, 2)}\n`);
  }

  const first = r.steps.slice(0, Math.min(10, r.steps.length));
  const last = r.steps.slice(-Math.min(10, r.steps.length));
  const mean = (xs: typeof first) => xs.reduce((s, v) => s + v.loss, 0) / xs.length;
  const result = {
    student: values.out,
    sha256: sha256Hex(bytes),
    species,
    shape: r.shape,
    studentParams: r.studentParams,
    teacherParams: r.teacherParams,
    smaller: Math.max(...r.teacherParams) / r.studentParams,
    rows: data.y.length,
    suitesKeptApart: checked,
    temperature,
    steps,
    batch,
    firstLoss: mean(first),
    lastLoss: mean(last),
    agreement: r.agreement,
    seconds: Math.round(seconds * 1000) / 1000,
    ...(catalogOut ? { catalog: catalogOut } : {}),
  };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return 0;
  }
  console.log(
    `student   ${values.out}  MLP ${r.shape.inputs}→${r.shape.hidden}→${r.shape.classes}, ${r.studentParams} parameters (teacher${teachers.length > 1 ? 's' : ''} ${r.teacherParams.join(', ')}: ${result.smaller.toFixed(2)}× smaller)  species ${species.slice(0, 12)}…`,
  );
  console.log(`data      ${data.y.length} unlabelled rows, kept apart from ${checked.length} frozen suites`);
  console.log(
    `training  ${steps} steps × ${batch}, ${schedule} lr ${lr}, T ${temperature}, seed ${seed}: soft loss ${result.firstLoss.toFixed(4)} → ${result.lastLoss.toFixed(4)} (means of the first and last 10) in ${seconds.toFixed(1)} s`,
  );
  console.log(`agreement the student's top class is the teacher's on ${(100 * r.agreement).toFixed(1)}% of the rows`);
  if (catalogOut)
    console.log(`catalog   ${catalogOut}  (garden eval ${values.out} --catalog ${catalogOut} --suite ${family!.suites[0].id})`);
  return 0;
}

const command: Command = { usage, run };
export default command;
