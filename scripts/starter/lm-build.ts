/**
 * `npm run starter`'s LM step: the committed weights of scripts/starter/lm-weights/ (retrained
 * when their stamp is stale or with --force), written as Hugging Face folders under
 * public/starter/lm/<model>/, the frozen text suites under public/starter/lm/suites/, and
 * public/starter/lm/manifest.json: every file pinned by SHA-256 and the perplexity of every model
 * on every suite (the generated ONNX decoder in onnxruntime-web). The build fails unless each
 * specialist beats the base on its own suite.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex, hashJson } from '../../src/core/hash.ts';
import { parseSafetensors } from '../../src/core/format/safetensors.ts';
import { loadTokenizer } from '../../src/core/models/tokenizer.ts';
import { perplexity } from '../../src/core/models/perplexity.ts';
import { generate } from '../../src/core/models/generate.ts';
import { createCausalLmSession } from '../../src/runtime/causal-lm-session.ts';
import {
  hfFolder,
  LM_DEFAULT,
  LM_MODELS,
  LM_SOURCE_NAMES,
  LM_SOURCES,
  LM_WEIGHTS_DIR,
  lmCfg,
  lmStamp,
  loadLmCorpus,
  readCommitted,
  trainLm,
  writeCommitted,
  type LmConfig,
  type LmStamp,
} from './lm.ts';
import { seconds } from './family.ts';

export interface LmManifest {
  family: 'lm';
  stamp: string;
  architecture: 'LlamaForCausalLM';
  params: LmConfig;
  parameters: number;
  models: { id: string; role: 'base' | 'specialist'; speciality?: string; folder: string; files: Record<string, string> }[];
  suites: { id: string; file: string; hash: string; bytes: number; description: string }[];
  /** Perplexity (per token) and bits per byte of every model on every suite. */
  rows: { model: string; suite: string; tokens: number; perplexity: number; bitsPerByte: number }[];
  samples: { model: string; prompt: string; greedy: string; sampled: string }[];
  training: Pick<LmStamp, 'losses' | 'timings' | 'tokensPerSecond'>;
}

export const LM_PROMPTS = Object.freeze(['The whale', 'The Congress of the United States', 'She said that']);

const SUITE_DESCRIPTIONS: Record<string, string> = {
  moby: `held-out chapters of ${LM_SOURCE_NAMES.moby}`,
  sotu: `held-out addresses of ${LM_SOURCE_NAMES.sotu}`,
  brown: `held-out files of ${LM_SOURCE_NAMES.brown}`,
  mixed: 'a third each of other held-out Moby-Dick chapters, addresses and Brown files',
};

/** The stamp the committed weights were trained under ("" when there are none). */
function recordedStamp(): string {
  const p = join(LM_WEIGHTS_DIR, 'stamp.json');
  return existsSync(p) ? ((JSON.parse(readFileSync(p, 'utf8')) as LmStamp).stamp ?? '') : '';
}

function filesIntact(dir: string, m: LmManifest): boolean {
  const all = [
    ...m.models.flatMap((x) => Object.entries(x.files).map(([f, h]) => [`${x.folder}/${f}`, h])),
    ...m.suites.map((s) => [s.file, s.hash]),
  ];
  return all.every(([f, h]) => existsSync(join(dir, f)) && sha256Hex(readFileSync(join(dir, f))) === h);
}

/** Build (or reuse) the LM family under `outDir` (public/starter/lm). */
export async function buildLmFamily(outDir: string, o: { force: boolean; log?: (s: string) => void }): Promise<LmManifest> {
  const log = o.log ?? console.log;
  const c = LM_DEFAULT;
  const stamp = lmStamp(c);
  const manifestPath = join(outDir, 'manifest.json');
  const buildStamp = hashJson({ stamp, committed: recordedStamp(), build: sha256Hex(readFileSync(new URL(import.meta.url))) });
  if (!o.force && existsSync(manifestPath)) {
    const prev = JSON.parse(readFileSync(manifestPath, 'utf8')) as LmManifest;
    if (prev.stamp === buildStamp && filesIntact(outDir, prev)) {
      log(`starter: lm is up to date (stamp ${buildStamp.slice(0, 12)})`);
      return prev;
    }
  }
  const t0 = performance.now();
  const corpus = loadLmCorpus(c);
  let committed = o.force ? null : readCommitted(LM_WEIGHTS_DIR, stamp);
  if (committed) log(`starter: lm uses the committed weights (stamp ${stamp.slice(0, 12)})`);
  else if (!o.force && (committed = readCommitted(LM_WEIGHTS_DIR, recordedStamp())))
    // Training takes minutes: a source changed since the weights were trained, so they are used as
    // committed (intact, by their recorded hashes) and the retraining is left to --force.
    log(
      `starter: lm's sources changed since its committed weights were trained (stamp ${stamp.slice(0, 12)}, committed ${committed.stamp.stamp.slice(0, 12)}); ` +
        'using them as committed; `npm run starter -- --force --only lm` retrains',
    );
  else {
    log(`starter: training lm (${o.force ? '--force' : 'no committed weights with stamp ' + stamp.slice(0, 12)})…`);
    const trained = trainLm(c, corpus, log);
    writeCommitted(LM_WEIGHTS_DIR, stamp, c, trained);
    committed = readCommitted(LM_WEIGHTS_DIR, stamp);
    if (!committed) throw new Error('the weights just written do not read back');
    log(`starter: trained lm in ${seconds(t0)}s (${trained.tokensPerSecond} tokens/s); commit scripts/starter/lm-weights/`);
  }
  const { files } = committed;
  mkdirSync(join(outDir, 'suites'), { recursive: true });
  const manifest: LmManifest = {
    family: 'lm',
    stamp: buildStamp,
    architecture: 'LlamaForCausalLM',
    params: c,
    parameters: 0,
    models: [],
    suites: [],
    rows: [],
    samples: [],
    training: { losses: committed.stamp.losses, timings: committed.stamp.timings, tokensPerSecond: committed.stamp.tokensPerSecond },
  };
  for (const id of LM_MODELS) {
    const folder = hfFolder(c, files, id);
    mkdirSync(join(outDir, id), { recursive: true });
    for (const [f, b] of folder) writeFileSync(join(outDir, id, f), b);
    manifest.models.push({
      id,
      role: id === 'base' ? 'base' : 'specialist',
      ...(id === 'base' ? {} : { speciality: id }),
      folder: id,
      files: Object.fromEntries([...folder].map(([f, b]) => [f, sha256Hex(b)])),
    });
  }
  const suiteTexts: [string, string][] = [...LM_SOURCES.map((s) => [s, corpus.suite[s]] as [string, string]), ['mixed', corpus.mixed]];
  for (const [id, text] of suiteTexts) {
    const bytes = new TextEncoder().encode(text);
    const file = `suites/${id}.txt`;
    writeFileSync(join(outDir, file), bytes);
    manifest.suites.push({ id, file, hash: sha256Hex(bytes), bytes: bytes.length, description: SUITE_DESCRIPTIONS[id] });
  }
  const e0 = performance.now();
  const dec = new TextDecoder();
  const tok = loadTokenizer({ tokenizer: dec.decode(files.get('tokenizer.json')), config: dec.decode(files.get('tokenizer_config.json')) });
  const cfg = lmCfg(c);
  for (const id of LM_MODELS) {
    const { tensors } = parseSafetensors(files.get(`${id}.safetensors`)!);
    if (id === 'base') manifest.parameters = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    const session = await createCausalLmSession(cfg, tensors);
    try {
      for (const [suite, text] of suiteTexts) {
        const p = await perplexity(session, tok, text, { window: 512 });
        manifest.rows.push({ model: id, suite, tokens: p.tokens, perplexity: round(p.perplexity), bitsPerByte: round(p.bitsPerByte) });
      }
      for (const prompt of LM_PROMPTS) {
        const ids = tok.encode(prompt);
        const greedy = await generate(session, ids, { maxNew: 24, greedy: true, eosTokenIds: [1] });
        const sampled = await generate(session, ids, { maxNew: 24, temperature: 0.8, topP: 0.95, seed: 1, eosTokenIds: [1] });
        manifest.samples.push({ model: id, prompt, greedy: tok.decode(greedy.ids), sampled: tok.decode(sampled.ids) });
      }
    } finally {
      await session.release();
    }
  }
  const problems = LM_SOURCES.flatMap((s) => {
    const get = (m: string) => manifest.rows.find((r) => r.model === m && r.suite === s)!.perplexity;
    return get(s) < get('base') ? [] : [`lm ${s} (perplexity ${get(s)}) does not beat the base (${get('base')}) on suite ${s}`];
  });
  if (problems.length) throw new Error(`lm build failed its checks: ${problems.join('; ')}`);
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 1) + '\n');
  log(`starter: built lm in ${seconds(t0)}s (evaluate ${seconds(e0)}s)`);
  log(formatLmTable(manifest));
  return manifest;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** Perplexity of every model (rows) on every suite (columns). */
export function formatLmTable(m: LmManifest): string {
  const suites = m.suites.map((s) => s.id);
  const lines = [`| model | ${suites.join(' | ')} |`, `|---|${suites.map(() => '---:').join('|')}|`];
  for (const model of m.models.map((x) => x.id)) {
    const cells = suites.map((s) => m.rows.find((r) => r.model === model && r.suite === s)!.perplexity.toFixed(2));
    lines.push(`| ${model} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
