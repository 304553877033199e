/**
 * "Train on your own writing" (in the language-model lab): text pasted or dropped as .txt/.md,
 * the LoRA form (rank, alpha, dropout, target modules, steps, batch, window, learning rate,
 * validation share and cadence, patience, seed; a value out of range is refused here), Train /
 * Pause / Cancel, progress with ETA, the live train and validation loss (uPlot), and the result:
 * the trained candidate in the pool, its validation and held-out perplexity against the base,
 * and the adapter's PEFT files.
 */
import { useState } from 'react';
import { FileDrop } from './FileDrop.tsx';
import { LossChart } from './Charts.tsx';
import { duration as seconds, etaSeconds } from '../format.ts';
import { ruleProblem } from '../train-form.ts';
import { useText, type TextModelEntry } from '../text.ts';
import {
  addTextFiles,
  cancelLmTraining,
  checkLmForm,
  downloadLmAdapter,
  LM_TARGETS,
  LM_TRAIN_FIELDS,
  lmTrainRunning,
  pauseLmTraining,
  removeTextFile,
  resumeLmTraining,
  startLmTraining,
  useLmTrain,
  type LmTrainField,
} from '../lm-train.ts';

const initialTexts = () =>
  Object.fromEntries(Object.entries(LM_TRAIN_FIELDS).map(([k, f]) => [k, f.initial])) as Record<LmTrainField, string>;

const ppl = (loss: number) => Math.exp(loss).toFixed(2);

export function LmTrainPanel({ models }: { models: TextModelEntry[] }) {
  const t = useLmTrain();
  const [texts, setTexts] = useState(initialTexts);
  const [targets, setTargets] = useState<string[]>([...LM_TARGETS]);
  const [baseId, setBaseId] = useState<string | null>(null);
  const sources = models.filter((m) => !m.lineage);
  const base = models.find((m) => m.id === baseId) ?? sources.find((m) => /base/i.test(m.name)) ?? sources[0] ?? models[0];
  const form = checkLmForm(targets, texts);
  const running = lmTrainRunning(t.status);
  const bytes = new TextEncoder().encode(t.pasted).length + t.files.reduce((a, f) => a + new TextEncoder().encode(f.text).length, 0);
  const eta = etaSeconds(t.step, t.total, t.elapsedMs);
  const lastVal = t.validation[t.validation.length - 1];
  const r = t.result;
  useText((s) => s.models);
  if (!base) return null;
  return (
    <fieldset className="lm-train" data-testid="lm-train">
      <legend>Train on your own writing (a LoRA of a stored model)</legend>
      <p className="hint">
        The text stays in this browser and is not stored; a text sharing 64 bytes with a frozen suite text is refused. A seeded share of its
        windows is held out for the validation loss and the early stop.
      </p>
      <FileDrop testId="lm-train-drop" onFiles={(files) => void addTextFiles(files)}>
        <label className="text-prompt">
          Your text (paste it, or drop .txt / .md files here)
          <textarea
            rows={5}
            value={t.pasted}
            disabled={running}
            onChange={(e) => useLmTrain.setState({ pasted: e.target.value })}
            data-testid="lm-train-text"
          />
        </label>
        <input
          type="file"
          accept=".txt,.md,text/plain,text/markdown"
          multiple
          disabled={running}
          aria-label="Add .txt or .md files"
          data-testid="lm-train-files"
          onChange={(e) => void addTextFiles(Array.from(e.target.files ?? []))}
        />
      </FileDrop>
      {t.files.length > 0 && (
        <ul className="lm-files" data-testid="lm-train-file-list">
          {t.files.map((f) => (
            <li key={f.name}>
              {f.name} <span className="hint">{f.text.length} characters</span>{' '}
              <button disabled={running} onClick={() => removeTextFile(f.name)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <p className="hint" data-testid="lm-train-size">
        {bytes} bytes of text
        {t.files.length ? ` (${t.files.length} file${t.files.length === 1 ? '' : 's'}${t.pasted.trim() ? ' and the box' : ''})` : ''}
      </p>
      <label className="text-prompt">
        Held-out text of the same author (optional: never trained on; base and candidate are scored on it)
        <textarea
          rows={3}
          value={t.heldOut}
          disabled={running}
          onChange={(e) => useLmTrain.setState({ heldOut: e.target.value })}
          data-testid="lm-train-heldout"
        />
      </label>
      <fieldset className="train-form" disabled={running}>
        <legend>LoRA</legend>
        <div className="row">
          <label>
            Base{' '}
            <select value={base.id} onChange={(e) => setBaseId(e.target.value)} data-testid="lm-train-base">
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
          <span>target modules:</span>
          {LM_TARGETS.map((m) => (
            <label key={m} className="param">
              <input
                type="checkbox"
                checked={targets.includes(m)}
                onChange={(e) =>
                  setTargets(e.target.checked ? LM_TARGETS.filter((x) => x === m || targets.includes(x)) : targets.filter((x) => x !== m))
                }
                data-testid={`lm-train-target-${m}`}
              />
              {m}
            </label>
          ))}
          {form.problems?.targets && (
            <span className="fail" role="alert">
              {form.problems.targets}
            </span>
          )}
        </div>
        <div className="train-fields">
          {(Object.keys(LM_TRAIN_FIELDS) as LmTrainField[]).map((k) => {
            const f = LM_TRAIN_FIELDS[k];
            const why = form.problems?.[k] ?? ruleProblem(f, texts[k]);
            return (
              <label key={k} className="param">
                <span>{f.label}</span>
                <input
                  type="text"
                  inputMode={f.integer ? 'numeric' : 'decimal'}
                  value={texts[k]}
                  aria-invalid={!!why}
                  aria-describedby={why ? `lm-train-${k}-why` : undefined}
                  data-testid={`lm-train-${k}`}
                  onChange={(e) => setTexts({ ...texts, [k]: e.target.value })}
                />
                {why && (
                  <span className="fail" id={`lm-train-${k}-why`} role="alert" data-testid={`lm-train-${k}-why`}>
                    {why}
                  </span>
                )}
              </label>
            );
          })}
        </div>
        <p className="hint">
          AdamW (weight decay 0.01), cosine schedule with 10 % warm-up, on WebGPU's training kernels where the GPU is hardware, else the CPU
          tape (float32); seeded and deterministic per engine. The best validation&apos;s adapter is kept.
        </p>
      </fieldset>
      <div className="row">
        <button
          className="primary"
          data-testid="lm-train-run"
          disabled={running || !form.settings || bytes === 0}
          onClick={() => form.settings && void startLmTraining(base, form.settings)}
        >
          {running ? 'Training…' : 'Train'}
        </button>
        <button
          data-testid="lm-train-pause"
          disabled={!(t.status === 'running' || t.status === 'paused')}
          onClick={() => (t.status === 'paused' ? resumeLmTraining() : pauseLmTraining())}
        >
          {t.status === 'paused' ? 'Resume' : 'Pause'}
        </button>
        <button data-testid="lm-train-cancel" disabled={!running} onClick={cancelLmTraining}>
          Cancel training
        </button>
        {bytes === 0 && <span className="hint">Paste or drop some text to train.</span>}
      </div>
      {t.status !== 'idle' && !(t.status === 'failed' && t.step === 0) && (
        <div className="progress" aria-label="Training progress" data-testid="lm-train-progress">
          <progress max={t.total || 1} value={t.step} />
          <span data-testid="lm-train-progress-text">
            {t.status === 'preparing' && t.step === 0
              ? 'checking the text against the frozen suite texts and tokenizing it…'
              : `step ${t.step} of ${t.total}` +
                (t.prepared ? ` · ${t.prepared.trainWindows} training and ${t.prepared.validationWindows} validation windows` : '') +
                (lastVal ? ` · validation loss ${lastVal.loss.toFixed(3)} (perplexity ${ppl(lastVal.loss)})` : '') +
                (t.status === 'paused' ? ' · paused' : '') +
                (running && eta !== null ? ` · about ${seconds(eta)} left` : '') +
                (!running ? ` · ${seconds(t.elapsedMs / 1000)}` : '')}
          </span>
        </div>
      )}
      {t.trainLoss.length > 0 && (
        <LossChart
          train={t.trainLoss}
          validation={t.validation}
          label="Training and validation loss (next-token cross-entropy) by step"
          testId="lm-train-chart"
        />
      )}
      {t.message && (
        <p className={t.status === 'failed' ? 'fail' : 'hint'} role="status" data-testid="lm-train-message">
          {t.message}
        </p>
      )}
      {r && t.status === 'done' && (
        <div className="receipt" data-testid="lm-train-result">
          <p>
            Candidate <strong data-testid="lm-trained-candidate">{r.candidateName}</strong> (base + adapter merged, operator lora-merge)
            stored in the pool: {r.stepsRun} steps in {seconds(r.ms / 1000)} ({r.tokensPerSecond} tokens/s)
            {r.stoppedEarly ? `; stopped early, keeping step ${r.keptStep} (the lowest validation loss)` : ''}. Evaluate, admit and route it
            below.
          </p>
          {r.validation && (
            <p className="hint" data-testid="lm-train-validation">
              Validation ({r.validation.windows} windows): perplexity {ppl(r.validation.baseLoss)} (base) → {ppl(r.validation.adapterLoss)}{' '}
              (candidate).
            </p>
          )}
          {r.heldOut && (
            <p
              className={r.heldOut.candidateLoss < r.heldOut.baseLoss ? 'ok' : 'fail'}
              data-testid="lm-train-heldout-result"
              data-base={Math.exp(r.heldOut.baseLoss)}
              data-candidate={Math.exp(r.heldOut.candidateLoss)}
            >
              Held-out text ({r.heldOut.windows} windows): perplexity {ppl(r.heldOut.baseLoss)} (base) → {ppl(r.heldOut.candidateLoss)}{' '}
              (candidate), {(100 * (Math.exp(r.heldOut.candidateLoss - r.heldOut.baseLoss) - 1)).toFixed(1)} %.
            </p>
          )}
          <p className="hint mono" data-testid="lm-train-hashes">
            candidate {r.hash.slice(0, 12)}… · lineage key {r.lineageKey.slice(0, 12)}… · receipt {r.records.receipt.slice(0, 12)}…
          </p>
          <button onClick={downloadLmAdapter} data-testid="lm-train-download">
            Download the adapter (PEFT: adapter_config.json, adapter_model.safetensors, garden_training.json)
          </button>
        </div>
      )}
    </fieldset>
  );
}
