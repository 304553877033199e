import { useEffect, useRef, useState } from 'react';
import { useGarden } from '../state.ts';
import { CalibrationPick } from './CalibrationPick.tsx';
import {
  addExample,
  cancelTraining,
  downloadAdapter,
  downloadFederatedUpdate,
  loadExamples,
  pauseTraining,
  removeExample,
  resumeTraining,
  startTraining,
  useTrain,
  type RunStatus,
} from '../train.ts';
import {
  checkForm,
  fieldProblem,
  TARGETS,
  TRAIN_FIELDS,
  TRAIN_MODES,
  validationCount,
  type Example,
  type TrainField,
  type TrainMode,
} from '../train-form.ts';
import { DrawPad, PAD_SIZE, type DrawPadHandle } from './DrawPad.tsx';
import { LossChart } from './Charts.tsx';
import { duration as seconds, etaSeconds, pct } from '../format.ts';

const LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const FORM_FIELDS: TrainField[] = ['r', 'alpha', 'dropout', 'epochs', 'batch', 'lr', 'patience', 'seed'];

function initialTexts(): Record<TrainField, string> {
  return Object.fromEntries(FORM_FIELDS.map((k) => [k, TRAIN_FIELDS[k].initial])) as Record<TrainField, string>;
}

/** A 28×28 model input drawn at 1:1 and shown larger with crisp pixels. */
function Thumb({ input }: { input: Float32Array }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const ctx = ref.current?.getContext('2d');
    if (!ctx) return;
    const img = ctx.createImageData(28, 28);
    input.forEach((v, k) => {
      const g = Math.round(v * 255);
      img.data.set([g, g, g, 255], 4 * k);
    });
    ctx.putImageData(img, 0, 0);
  }, [input]);
  return <canvas ref={ref} width={28} height={28} className="thumb-img" aria-hidden="true" />;
}

export function TrainPanel() {
  const pad = useRef<DrawPadHandle>(null);
  const t = useTrain();
  const [label, setLabel] = useState(0);
  useTrainingSet();
  const running = isRunning(t.status);

  async function add() {
    if (await addExample(pad.current!.gray(), PAD_SIZE, PAD_SIZE, label)) pad.current!.clear();
  }

  return (
    <section className="step" aria-labelledby="train-h" data-testid="train-panel">
      <h2 id="train-h">
        <span className="num">2c</span> Train on your own digits
      </h2>
      <p className="hint">
        Draw a digit, pick its label and add it to your training set. The drawings stay in this browser (IndexedDB); a set that shares an
        input with a frozen suite (or with a calibration split you name) is refused. Training runs in a worker, on WebGPU&apos;s training
        kernels where the GPU is hardware, else on the CPU. The starter's training pool is not shipped with the app (only the frozen suites
        are, and they are never trained on), so the set is what you draw.
      </p>
      <div className="route">
        <div>
          <DrawPad padRef={pad} testId="train-pad" label="Training pad: draw one digit" />
          <fieldset className="labels">
            <legend>Label of this drawing</legend>
            {LABELS.map((l, k) => (
              <label key={l} className={k === label ? 'label-pick on' : 'label-pick'}>
                <input
                  type="radio"
                  name="train-label"
                  checked={k === label}
                  onChange={() => setLabel(k)}
                  data-testid={`train-label-${l}`}
                />
                {l}
              </label>
            ))}
          </fieldset>
          <div className="row">
            <button className="primary" onClick={() => void add()} disabled={running} data-testid="add-example">
              Add as “{LABELS[label]}”
            </button>
            <button onClick={() => pad.current?.clear()} aria-label="Erase the training pad">
              Erase
            </button>
          </div>
        </div>
        <div className="train-set">
          <SetSummary labels={LABELS} noun="example" />
          <ul className="thumbs" aria-label="Training examples">
            {t.examples.map((e: Example, i) => (
              <li
                key={e.id}
                className={e.id === t.refused ? 'thumb refused' : 'thumb'}
                data-testid="example-thumb"
                aria-label={`example ${i + 1}, label ${LABELS[e.label]}${e.id === t.refused ? ': refused, equal to a digit of a frozen suite or of the calibration split' : ''}`}
              >
                <Thumb input={e.input} />
                <span>{LABELS[e.label]}</span>
                <button
                  className="link"
                  onClick={() => void removeExample(e.id)}
                  disabled={running}
                  aria-label={`Remove example ${i + 1} (label ${LABELS[e.label]})`}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        </div>
      </div>

      <TrainRun base="digits" rows="drawings" />
    </section>
  );
}

/** Open the family's training set once the panel mounts. */
export function useTrainingSet(): void {
  useEffect(() => {
    void loadExamples().catch((e: Error) => useGarden.setState({ notice: `Could not open the training set: ${e.message}` }));
  }, []);
}

export const isRunning = (s: RunStatus) => s === 'preparing' || s === 'running' || s === 'paused';

/**
 * The run half of a train panel, the same for every family: the adapter form, Train / Pause /
 * Cancel, progress with ETA, the live loss curve (train and validation) and the result with the
 * PEFT download. `base` names the family's base, `rows` what a held-out example is.
 */
export function TrainRun({ base, rows }: { base: string; rows: string }) {
  const t = useTrain();
  const [mode, setMode] = useState<TrainMode>('lora');
  const [targets, setTargets] = useState<string[]>(['fc1', 'fc2']);
  const [texts, setTexts] = useState(initialTexts);
  const form = checkForm(mode, targets, texts);
  const running = isRunning(t.status);
  const eta = etaSeconds(t.step, t.total, t.elapsedMs);
  const lastVal = t.validation[t.validation.length - 1];
  return (
    <>
      <fieldset className="train-form" disabled={running}>
        <legend>Adapter on the {base} base</legend>
        <div className="row">
          {(Object.keys(TRAIN_MODES) as TrainMode[]).map((m) => (
            <label key={m} className="param">
              <input type="radio" name="train-mode" checked={mode === m} onChange={() => setMode(m)} data-testid={`train-mode-${m}`} />
              {TRAIN_MODES[m]}
            </label>
          ))}
        </div>
        {mode === 'lora' && (
          <div className="row">
            target modules:
            {TARGETS.map((m) => (
              <label key={m} className="param">
                <input
                  type="checkbox"
                  checked={targets.includes(m)}
                  onChange={(e) => setTargets(e.target.checked ? [...targets, m].sort() : targets.filter((x) => x !== m))}
                  data-testid={`train-target-${m}`}
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
        )}
        <div className="train-fields">
          {FORM_FIELDS.filter((k) => mode === 'lora' || !['r', 'alpha', 'dropout'].includes(k)).map((k) => {
            const f = TRAIN_FIELDS[k];
            const why = fieldProblem(k, texts[k]);
            return (
              <label key={k} className="param">
                <span>{f.label}</span>
                <input
                  type="number"
                  min={f.min}
                  max={f.max}
                  step={f.integer ? 1 : 'any'}
                  value={texts[k]}
                  aria-invalid={!!why}
                  aria-describedby={why ? `train-${k}-why` : undefined}
                  data-testid={`train-${k}`}
                  onChange={(e) => setTexts({ ...texts, [k]: e.target.value })}
                />
                {why && (
                  <span className="fail" id={`train-${k}-why`} role="alert" data-testid={`train-${k}-why`}>
                    {why}
                  </span>
                )}
              </label>
            );
          })}
        </div>
        <p className="hint">AdamW (weight decay 0.01), cosine schedule with 10 % warm-up; the run is seeded and deterministic.</p>
        <CalibrationPick
          testId="train-calibration"
          label="Also keep apart from a calibration split (optional: the rows a RegMean or Fisher merge fits on)"
          keptText="kept apart from"
        />
      </fieldset>
      <div className="row">
        <button
          className="primary"
          data-testid="train-button"
          disabled={running || !form.settings || t.examples.length < 2}
          onClick={() => form.settings && void startTraining(form.settings)}
        >
          {running ? 'Training…' : 'Train'}
        </button>
        <button
          data-testid="pause-button"
          disabled={!(t.status === 'running' || t.status === 'paused')}
          onClick={() => (t.status === 'paused' ? resumeTraining() : pauseTraining())}
        >
          {t.status === 'paused' ? 'Resume' : 'Pause'}
        </button>
        <button data-testid="cancel-training" disabled={!running} onClick={cancelTraining}>
          Cancel training
        </button>
        {t.examples.length < 2 && <span className="hint">Add at least 2 examples to train.</span>}
      </div>
      {t.status !== 'idle' && !(t.status === 'failed' && t.step === 0) && (
        <div className="progress" aria-label="Training progress" data-testid="train-progress">
          <progress max={t.total || 1} value={t.step} />
          <span data-testid="train-progress-text">
            {t.status === 'preparing'
              ? t.calibration
                ? 'checking the set against the frozen suites and the calibration split…'
                : 'checking the set against the frozen suites…'
              : `step ${t.step} of ${t.total} · epoch ${t.epoch}` +
                (lastVal ? ` · validation loss ${lastVal.loss.toPrecision(3)}, accuracy ${pct(lastVal.accuracy)}` : '') +
                (t.status === 'paused' ? ' · paused' : '') +
                (running && eta !== null ? ` · about ${seconds(eta)} left` : '') +
                (!running ? ` · ${seconds(t.elapsedMs / 1000)}` : '')}
          </span>
        </div>
      )}
      {t.trainLoss.length > 0 && (
        <LossChart train={t.trainLoss} validation={t.validation} label="Training and validation loss by step" testId="train-loss-chart" />
      )}
      {t.message && (
        <p className={t.status === 'failed' ? 'fail' : 'hint'} role="status" data-testid="train-message">
          {t.message}
        </p>
      )}
      {t.result && t.status === 'done' && (
        <div className="receipt" data-testid="train-result">
          <p>
            Candidate <strong data-testid="trained-candidate">{t.result.candidateName}</strong> (base + adapter merged) made in{' '}
            {seconds(t.result.ms / 1000)}, {t.result.stepsRun} steps
            {t.result.earlyStop
              ? `; stopped early at epoch ${t.result.earlyStop.epoch}, keeping epoch ${t.result.earlyStop.bestEpoch} (the lowest validation loss)`
              : ''}
            . Run its smoke test and evaluation in step 3.
          </p>
          {t.result.validation && (
            <p className="hint" data-testid="train-validation">
              On the {t.result.validation.rows} held-out {rows}: accuracy {pct(t.result.validation.baseAccuracy)} (base) →{' '}
              {pct(t.result.validation.adapterAccuracy)} (base + adapter), loss {t.result.validation.baseLoss.toPrecision(3)} →{' '}
              {t.result.validation.adapterLoss.toPrecision(3)}.
            </p>
          )}
          <button onClick={downloadAdapter} data-testid="download-adapter">
            Download the adapter (PEFT: adapter_config.json, adapter_model.safetensors, garden_training.json)
          </button>
          <FederatedDownload />
        </div>
      )}
    </>
  );
}

/** The run's delta as a federated update (the file garden train --federated-update writes), with an optional L2 clip. */
function FederatedDownload() {
  const [clip, setClip] = useState('');
  const norm = clip.trim() === '' ? undefined : Number(clip);
  const bad = norm !== undefined && !(norm > 0 && Number.isFinite(norm));
  return (
    <div className="row">
      <label className="param">
        <span>clip the update&apos;s L2 norm to (optional)</span>
        <input
          type="number"
          min={0}
          step="any"
          value={clip}
          aria-invalid={bad}
          data-testid="federated-clip"
          onChange={(e) => setClip(e.target.value)}
        />
      </label>
      <button
        disabled={bad}
        data-testid="download-federated"
        onClick={() =>
          void downloadFederatedUpdate(norm).catch((e: Error) => useGarden.setState({ notice: `No federated update: ${e.message}` }))
        }
      >
        Download federated update (.slm: base + delta, the training rows&apos; count, for another garden&apos;s federated operator)
      </button>
      {bad && (
        <span className="fail" role="alert" data-testid="federated-clip-why">
          the clip norm must be a positive number, got {JSON.stringify(clip)}
        </span>
      )}
    </div>
  );
}

/** The training set's size, its count per label and its validation split. */
export function SetSummary({ labels, noun }: { labels: readonly string[]; noun: string }) {
  const t = useTrain();
  const n = t.examples.length;
  const held = validationCount(n);
  return (
    <>
      <h3>
        Your training set: <span data-testid="example-count">{n}</span> {noun}
        {n === 1 ? '' : 's'}
      </h3>
      <p className="hint" data-testid="label-counts">
        {labels.map((l, k) => {
          const c = t.examples.filter((e) => e.label === k).length;
          return (
            <span key={l} className={c ? 'count on' : 'count'}>
              {l}: {c}
            </span>
          );
        })}
      </p>
      <p className="hint">
        {held
          ? `${held} held out for validation (a seeded fifth), ${n - held} trained on.`
          : 'Add 5 or more for a validation split and early stop.'}
      </p>
    </>
  );
}
