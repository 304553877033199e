import { setCalibration, useTrain } from '../train.ts';

/**
 * The declared calibration split of this session (train.ts keeps one): the rows a RegMean or
 * Fisher merge fits on in the breed panel, and the rows a training set is kept apart from in the
 * train panel. Both panels show and change the same split.
 */
export function CalibrationPick({ testId, label, keptText }: { testId: string; label: string; keptText: string }) {
  const c = useTrain((s) => s.calibration);
  return (
    <div className="row" data-testid={testId}>
      <label className="param">
        <span>{label}</span>
        <input
          type="file"
          accept=".calibration,.suite,.safetensors"
          data-testid={`${testId}-file`}
          onChange={(e) => void setCalibration(e.target.files?.[0] ?? null)}
        />
      </label>
      {c && (
        <span className="hint" data-testid={`${testId}-kept`}>
          {keptText} calibration split “{c.suite.id}” ({c.suite.count} rows, {c.file}){' '}
          <button className="link" onClick={() => void setCalibration(null)} aria-label="Forget the calibration split">
            ×
          </button>
        </span>
      )}
    </div>
  );
}
