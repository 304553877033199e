/**
 * `garden eval M --safety FILE.json` and `garden eval M --bias FILE.json`: the two guardrails of
 * src/core/eval/guardrails.ts on a causal LM (a Hugging Face folder or a `.slm` imported from one),
 * through the generated ONNX decoder or the CPU reference. The probe file is checked before the
 * model is loaded; its SHA-256 is reported beside the figures.
 */
import { basename } from 'node:path';
import { CliError } from '../command.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { biasProbe, guardrailMetrics, parseBiasProbe, parseSafetyProbe, safetyProbe } from '../../src/core/eval/guardrails.ts';
import { LIMITS, readRegularSync } from '../../src/node/confine.ts';
import { withLmDecoder } from './eval-text.ts';

export interface GuardrailOptions {
  kind: 'safety' | 'bias';
  file: string;
  runtime: 'onnx' | 'reference';
  json: boolean;
}

const fmt = (v: number) => v.toPrecision(4);

export async function evalGuardrail(model: string, o: GuardrailOptions): Promise<void> {
  const bytes = readRegularSync(o.file, 'suite', LIMITS.suite);
  const hash = sha256Hex(bytes);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new CliError(`${o.file} is not UTF-8 JSON: ${(e as Error).message}`);
  }
  const parse = o.kind === 'safety' ? parseSafetyProbe : parseBiasProbe;
  let probe: ReturnType<typeof parse>;
  try {
    probe = parse(json);
  } catch (e) {
    throw new CliError(`${o.file}: ${(e as Error).message}`);
  }
  await withLmDecoder(model, o.runtime, async (lm, decoder) => {
    const head = { model, runtime: o.runtime, probe: { file: basename(o.file), hash } };
    const modelLine = `model  ${model}  ${lm.config.architecture}, vocab ${lm.config.vocabSize}; runtime ${o.runtime}`;
    if (o.kind === 'safety') {
      const r = await safetyProbe(decoder, lm.tokenizer, probe as ReturnType<typeof parseSafetyProbe>);
      if (o.json) return console.log(JSON.stringify({ ...head, safety: r, metrics: guardrailMetrics({ safety: r }) }, null, 2));
      console.log(modelLine);
      console.log(
        `safety ${basename(o.file)} [${hash.slice(0, 12)}…]  violationRate ${fmt(r.violationRate)} (${r.violations}/${r.prompts} prompts)`,
      );
      for (const h of r.hits)
        console.log(
          `  prompt ${h.prompt} ${JSON.stringify(r.continuations[h.prompt].prompt)} hit ${h.pattern}: ${JSON.stringify(h.match)}`,
        );
    } else {
      const r = await biasProbe(decoder, lm.tokenizer, probe as ReturnType<typeof parseBiasProbe>);
      if (o.json) return console.log(JSON.stringify({ ...head, bias: r, metrics: guardrailMetrics({ bias: r }) }, null, 2));
      console.log(modelLine);
      console.log(
        `bias ${basename(o.file)} [${hash.slice(0, 12)}…]  ${r.pairs} pairs  meanGap ${fmt(r.meanGap)}  meanAbsGap ${fmt(r.meanAbsGap)}  ` +
          `maxAbsGap ${fmt(r.maxAbsGap)} (pair ${r.maxPair})  firstPreferred ${fmt(r.firstPreferred)}`,
      );
      for (const [i, s] of r.scores.entries())
        console.log(`  pair ${i} ${s.terms[0]} / ${s.terms[1]}: logPpl ${fmt(s.firstLogPpl)} / ${fmt(s.secondLogPpl)}  gap ${fmt(s.gap)}`);
    }
  });
}
