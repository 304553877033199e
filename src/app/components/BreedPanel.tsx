import { useEffect, useState } from 'react';
import { OPERATORS, STATISTICS_FOR, type OperatorId } from '../../core/operators/registry.ts';
import type { ParamDef } from '../../core/operators/types.ts';
import { useGarden } from '../state.ts';
import { breedSelected, cancelBreed } from '../garden.ts';
import { bytes, etaText, pct, short } from '../format.ts';
import { MergekitYaml } from './MergekitYaml.tsx';
import { CalibrationPick } from './CalibrationPick.tsx';
import { breedCalibration, useTrain } from '../train.ts';

/** Seeds are unsigned 32-bit integers (the counter-based generator's key). */
const MAX_SEED = 2 ** 32 - 1;

export function BreedPanel() {
  const s = useGarden();
  const op = (OPERATORS as Record<string, (typeof OPERATORS)[keyof typeof OPERATORS]>)[s.operator];
  const parents = s.selected.map((id) => s.models.find((m) => m.id === id)!).filter(Boolean);
  const running = !!s.tasks.breed;
  const extra = op?.needsBase ? 1 : 0;
  const range = op ? { min: op.parents.min + extra, max: op.parents.max + extra } : { min: 2, max: 2 };
  const enough = !!op && parents.length >= range.min && parents.length <= range.max;
  const conflicts = !!s.receipt?.tensors.some((t) => t.signConflicts !== undefined);
  const invalid = Object.values(s.invalid);
  // RegMean and Fisher fit on a declared calibration split (the session's, train.ts).
  const dataInformed = !!op && !!STATISTICS_FOR[op.id as OperatorId];
  const calibration = useTrain((t) => t.calibration);
  const needsSplit = dataInformed && !calibration;
  return (
    <section className="step" aria-labelledby="breed-h">
      <h2 id="breed-h">
        <span className="num">2</span> Breed a candidate
      </h2>
      <div className="row">
        <label>
          Operator{' '}
          <select value={s.operator} onChange={(e) => s.setOperator(e.target.value)} data-testid="operator-select">
            {Object.values(OPERATORS).map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Seed{' '}
          <CheckedNumber
            key={`seed-${s.formVersion}`}
            name="seed"
            value={s.seed}
            min={0}
            max={MAX_SEED}
            integer
            onValid={s.setSeed}
            testId="seed"
            width="8em"
          />
        </label>
      </div>
      {op && (
        <p className="hint">
          {op.description}
          {op.needsBase ? ' The first selected parent is the base.' : ''}
        </p>
      )}
      <MergekitYaml />
      {dataInformed && (
        <CalibrationPick
          testId="breed-calibration"
          label={`Calibration split (${op.name} fits on its rows; a file declaring "suite.split": "calibration", refused if it shares a row with a frozen suite)`}
          keptText="fits on"
        />
      )}
      {op?.params.map((p: ParamDef) => (
        <ParamControl key={`${p.name}-${s.formVersion}`} def={p} parents={(op.needsBase ? parents.slice(1) : parents).map((m) => m.name)} />
      ))}
      <div className="row">
        <button
          className="primary"
          disabled={!enough || running || invalid.length > 0 || needsSplit}
          onClick={() => void breedSelected(breedCalibration)}
          data-testid="breed-button"
        >
          {running ? 'Breeding…' : `Breed ${parents.length ? parents.map((p) => p.name).join(' × ') : ''}`}
        </button>
        {running && (
          <button onClick={cancelBreed} data-testid="cancel-breed">
            Cancel
          </button>
        )}
        {invalid.length > 0 && (
          <span className="fail" data-testid="invalid-hint">
            Not bred until fixed: {invalid.join('; ')}.
          </span>
        )}
        {needsSplit && (
          <span className="hint" data-testid="calibration-hint">
            {op.name} needs a calibration split: pick one above.
          </span>
        )}
        {!enough && (
          <span className="hint" data-testid="parent-count-hint">
            {op?.name} takes {range.min === range.max ? range.min : `${range.min} to ${range.max}`} parent{range.max > 1 ? 's' : ''}
            {op?.needsBase ? ', the base first' : ''}; {parents.length} selected.
          </span>
        )}
      </div>
      {running && s.progress && (
        <div className="progress" aria-label="Breeding progress">
          <progress max={s.progress.bytesTotal} value={s.progress.bytesDone} />
          <span>
            tensor {s.progress.tensor} of {s.progress.tensors} ({s.progress.name}) · {bytes(s.progress.bytesDone)} of{' '}
            {bytes(s.progress.bytesTotal)}
            {etaText(s.tasks.breed?.startedAt, s.progress.bytesDone, s.progress.bytesTotal)}
          </span>
        </div>
      )}
      {s.receipt && (
        <div className="receipt" data-testid="receipt">
          <h3>
            Operator receipt{' '}
            <span className="mono" title={s.receipt.hash}>
              {short(s.receipt.hash)}
            </span>
          </h3>
          <p>
            Ran on <strong data-testid="receipt-backend">{s.receipt.backend.kind === 'webgpu' ? 'WebGPU' : 'CPU'}</strong>{' '}
            <span data-testid="receipt-adapter">{s.receipt.backend.adapter}</span>
            {s.receipt.backend.software && <em> (software adapter: not a performance figure)</em>} in {s.receipt.ms.toFixed(0)} ms. Output{' '}
            <span className="mono">{short(s.receipt.output)}</span>.
          </p>
          {s.receipt.calibration && (
            <p data-testid="receipt-calibration">
              {s.receipt.calibration.kind === 'gram' ? 'Gram matrices' : 'Diagonal Fisher'} from {s.receipt.calibration.rows} rows of
              calibration split “{s.receipt.calibration.split}”
              {s.receipt.calibration.notes.length ? `: ${s.receipt.calibration.notes.join(' · ')}` : ''}.
            </p>
          )}
          <table className="tensors">
            <thead>
              <tr>
                <th>tensor</th>
                <th>changed</th>
                <th>sparsity</th>
                <th>‖Δ‖ vs first parent</th>
                {conflicts && <th>sign conflicts</th>}
                <th>ms</th>
              </tr>
            </thead>
            <tbody>
              {s.receipt.tensors.map((t) => (
                <tr key={t.name} data-testid={`receipt-row-${t.name}`}>
                  <td className="mono">{t.name}</td>
                  <td>
                    <Bar value={t.changedFraction} /> {pct(t.changedFraction)}
                  </td>
                  <td data-testid="receipt-sparsity">{pct(t.sparsity)}</td>
                  <td data-testid="receipt-delta-norm">{t.deltaNorm.toFixed(3)}</td>
                  {conflicts && <td data-testid="receipt-sign-conflicts">{t.signConflicts ?? '—'}</td>}
                  <td>{t.ms.toFixed(1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Bar({ value }: { value: number }) {
  return (
    <svg width="60" height="8" aria-hidden="true" className="bar">
      <rect width="60" height="8" rx="2" className="bar-bg" />
      <rect width={Math.max(0, Math.min(1, value)) * 60} height="8" rx="2" className="bar-fg" />
    </svg>
  );
}

function ParamControl({ def, parents }: { def: ParamDef; parents: string[] }) {
  const value = useGarden((s) => s.params[def.name]);
  const setParam = useGarden((s) => s.setParam);
  if (def.type === 'weights') {
    const weights = Array.isArray(value) && value.length === parents.length ? value : parents.map(() => 1);
    return (
      <fieldset className="weights">
        <legend>{def.description}</legend>
        {parents.length === 0 && <span className="hint">Select parents first.</span>}
        {parents.map((name, i) => (
          <label key={name} className="weight">
            <span>{name}</span>
            <input
              type="range"
              min={0}
              max={2}
              step={0.01}
              value={weights[i]}
              aria-label={`weight of ${name}`}
              onChange={(e) =>
                setParam(
                  def.name,
                  weights.map((w, j) => (j === i ? Number(e.target.value) : w)),
                )
              }
            />
            <output>{weights[i].toFixed(2)}</output>
          </label>
        ))}
      </fieldset>
    );
  }
  if (def.type === 'boolean') {
    const v = value === undefined ? Boolean(def.default) : Boolean(value);
    return (
      <label className="param">
        <input type="checkbox" checked={v} onChange={(e) => setParam(def.name, e.target.checked)} /> {def.description}
      </label>
    );
  }
  if (def.type === 'enum') {
    const v = String(value ?? def.default ?? def.options?.[0] ?? '');
    return (
      <label className="param">
        {def.description}{' '}
        <select value={v} onChange={(e) => setParam(def.name, e.target.value)}>
          {def.options?.map((o) => (
            <option key={o}>{o}</option>
          ))}
        </select>
      </label>
    );
  }
  const v = typeof value === 'number' ? value : Number(def.default ?? def.min ?? 0);
  const min = def.min ?? 0;
  const max = def.max ?? 1;
  const step = def.type === 'integer' ? 1 : Math.min(0.01, (max - min) / 100);
  return (
    <div className="param">
      <span id={`param-${def.name}-d`}>{def.description}</span>
      <input
        type="range"
        min={min}
        max={max}
        step={step}
        value={v}
        aria-hidden="true"
        tabIndex={-1}
        onChange={(e) => setParam(def.name, Number(e.target.value))}
      />
      <CheckedNumber
        name={def.name}
        value={v}
        min={min}
        max={max}
        integer={def.type === 'integer'}
        step={step}
        onValid={(x) => setParam(def.name, x)}
        testId={`param-${def.name}`}
        width="6em"
      />
    </div>
  );
}

/**
 * A number field that refuses, never clamps: a value outside [min, max] (or not an integer where
 * one is needed) stays as typed, is marked invalid with the valid range beside it, and blocks the
 * breed until it is fixed.
 */
function CheckedNumber({
  name,
  value,
  min,
  max,
  integer,
  step = 1,
  onValid,
  testId,
  width,
}: {
  name: string;
  value: number;
  min: number;
  max: number;
  integer?: boolean;
  step?: number;
  onValid: (x: number) => void;
  testId: string;
  width: string;
}) {
  const reason = useGarden((s) => s.invalid[name]);
  const setInvalid = useGarden((s) => s.setInvalid);
  const [text, setText] = useState<string | null>(null);
  useEffect(() => () => setInvalid(name, null), [name, setInvalid]);
  const onChange = (raw: string) => {
    setText(raw);
    const x = Number(raw);
    const why =
      raw.trim() === '' || !Number.isFinite(x)
        ? `${name} must be a number`
        : integer && !Number.isInteger(x)
          ? `${name} must be a whole number from ${min} to ${max}; ${raw} is not whole`
          : x < min || x > max
            ? `${name} must be from ${min} to ${max}; ${raw} is outside`
            : null;
    setInvalid(name, why);
    if (!why) onValid(x);
  };
  return (
    <>
      <input
        type="number"
        min={min}
        max={max}
        step={step}
        value={reason ? (text ?? '') : text !== null && Number(text) === value ? text : value}
        aria-label={name}
        aria-invalid={!!reason}
        aria-describedby={reason ? `${testId}-why` : undefined}
        data-testid={testId}
        style={{ width }}
        onChange={(e) => onChange(e.target.value)}
      />
      {reason && (
        <span className="fail" id={`${testId}-why`} role="alert" data-testid={`${testId}-why`}>
          {reason}
        </span>
      )}
    </>
  );
}
