/**
 * garden train for a "text" spec: a LoRA of a Llama-family language model (a .slm imported from a
 * Hugging Face folder, or the folder) trained on .txt/.md files with the model's own tokenizer
 * (src/core/train/run-llama.ts), written in PEFT's layout with the run's data manifest.
 */
import { basename, join } from 'node:path';
import { loadTensors } from '../../src/core/format/model.ts';
import { printable } from '../../src/core/format/printable.ts';
import { hashJson, sha256Hex } from '../../src/core/hash.ts';
import { TRAINING_MANIFEST } from '../../src/core/train/run.ts';
import { runLlamaTraining, type TextFile } from '../../src/core/train/run-llama.ts';
import type { TextSpec, TrainSpec } from '../../src/core/train/spec.ts';
import { openCausalLm } from '../../src/node/hf-folder.ts';
import { writeAdapterDir } from '../../src/node/adapter-dir.ts';
import { speciesId, speciesSignature } from '../../src/core/format/slm.ts';
import { applyLlamaAdapter } from '../../src/core/train/llama.ts';
import { trainedCandidateSlm, trainedParams } from '../../src/core/train/trained.ts';
import { LIMITS, readRegularSync, writeFileAtomicSync } from '../../src/node/confine.ts';
import { CliError } from '../command.ts';

/** A text file read whole, fatal on invalid UTF-8 (the tokenizer would see replacement characters). */
function readText(path: string, rel: string, what: string): TextFile {
  const bytes = readRegularSync(path, what, LIMITS.json * 16);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CliError(`${rel} is not valid UTF-8`);
  }
  return { name: basename(rel), text, hash: sha256Hex(bytes) };
}

export async function trainLanguageModel(
  spec: TrainSpec & { text: TextSpec },
  at: (rel: string, what: string) => string,
  out: string,
  json: boolean,
  mergedOut?: string,
): Promise<number> {
  const text = spec.text;
  const files = (list: string[], what: string) => list.map((rel) => readText(at(rel, what), rel, what));
  const train = files(text.train, 'spec.data.train');
  const validation = files(text.validation, 'spec.data.validation');
  const suiteTexts = files(text.suiteTexts, 'spec.suite_texts');
  const { lm, close } = await openCausalLm(at(spec.base, 'spec.base'));
  try {
    const tensors = await loadTensors(lm.model);
    // The weights' identity for a folder or a .slm alike: the hash of each tensor's bytes, by name.
    const baseHash = hashJson(Object.fromEntries(tensors.map((x) => [x.name, sha256Hex(x.data)])));
    const t0 = performance.now();
    const result = await runLlamaTraining({
      spec,
      base: {
        name: basename(spec.base),
        hash: baseHash,
        species: lm.model.species,
        config: lm.config,
        tensors,
      },
      tokenize: (s) => lm.tokenizer.encode(s),
      train,
      validation,
      suiteTexts,
    });
    const seconds = (performance.now() - t0) / 1000;
    writeAdapterDir(out, result.files);
    const d = result.manifest.data as { trainWindows: number; validationWindows: number };
    const tokens = result.steps.length * Math.min(spec.train.batch, d.trainWindows) * text.seqLen;
    const manifest = { ...result.manifest, seconds: Math.round(seconds * 1000) / 1000, tokensPerSecond: Math.round(tokens / seconds) };
    writeFileAtomicSync(join(out, TRAINING_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    let merged: { path: string; hash: string } | undefined;
    if (mergedOut !== undefined) {
      // The trained candidate: base + adapter merged in each weight's own dtype, carrying the base's config and tokenizer.
      const m = lm.model;
      const recomputable = speciesId(speciesSignature(m.tensors, m.graphHash, m.vocabulary)) === m.species;
      const file = trainedCandidateSlm(
        {
          hash: baseHash,
          species: m.species,
          ...(recomputable ? { graph: m.graphHash, vocabulary: m.vocabulary } : {}),
          metadata: m.metadata,
        },
        applyLlamaAdapter(lm.config, tensors, result.files, 'merged', m.species).tensors,
        trainedParams(result.files, spec),
        spec.train.seed,
      );
      writeFileAtomicSync(mergedOut, file.bytes);
      merged = { path: mergedOut, hash: file.hash };
    }
    const summary = { adapter: out, weightsSha256: sha256Hex(result.files.weights), merged, ...manifest };
    if (json) {
      console.log(JSON.stringify(summary, null, 2));
      return 0;
    }
    console.log(
      `adapter    ${printable(out)}  LoRA r=${spec.adapter.r} alpha=${spec.adapter.alpha} on ${spec.adapter.targetModules.join(', ')}  weights ${summary.weightsSha256.slice(0, 12)}…`,
    );
    console.log(
      `data       ${train.length} text files, ${d.trainWindows} windows of ${text.seqLen} tokens (${d.validationWindows} for validation), kept apart from ${suiteTexts.length} suite texts`,
    );
    const first = result.steps[0].loss;
    const last = result.steps[result.steps.length - 1].loss;
    console.log(
      `training   ${result.steps.length}/${spec.train.steps} steps × ${spec.train.batch}, ${spec.train.schedule} lr ${spec.train.lr}, seed ${spec.train.seed}: loss ${first.toFixed(4)} → ${last.toFixed(4)} in ${seconds.toFixed(1)} s${result.stoppedEarly ? ' (stopped early)' : ''}`,
    );
    if (result.validation && result.best) {
      const v = result.validation;
      console.log(
        `validation ${v.windows} windows: loss base ${v.baseLoss.toFixed(4)} → adapter ${v.adapterLoss.toFixed(4)} (perplexity ${Math.exp(v.baseLoss).toFixed(2)} → ${Math.exp(v.adapterLoss).toFixed(2)}), kept step ${result.best.step}`,
      );
    }
    if (merged) console.log(`merged     ${printable(merged.path)}  ${merged.hash}  (operator lora-merge)`);
    return 0;
  } finally {
    await close();
  }
}
