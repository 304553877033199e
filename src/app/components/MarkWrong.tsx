import { useState } from 'react';
import { labHandles } from '../garden.ts';
import { markWrong, useLab } from '../lab.ts';

/** Under an answer (or a request the whole stack failed): the user gives the right answer, and the input joins the failure cluster. */
export function MarkWrong() {
  const last = useLab((s) => s.last);
  const marked = useLab((s) => s.marked);
  const [label, setLabel] = useState('0');
  if (!last) return null;
  const labels = labHandles().family.output.labels;
  const done = marked.includes(last.requestId);
  return (
    <div className="row" data-testid="mark-wrong">
      <label>
        {last.stackFailed ? 'No model answered; the right answer is ' : 'Wrong? The right answer is '}
        <select value={label} onChange={(e) => setLabel(e.target.value)} data-testid="right-answer" disabled={done}>
          {labels.map((l, i) => (
            <option key={l} value={i}>
              {l}
            </option>
          ))}
        </select>
      </label>
      <button onClick={() => markWrong(Number(label))} disabled={done} data-testid="mark-wrong-button">
        {done ? 'Marked: in the failure cluster' : 'Mark wrong'}
      </button>
    </div>
  );
}
