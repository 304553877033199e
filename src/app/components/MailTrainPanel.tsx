/**
 * "Train on your own mail" (the mail family's train panel): the user pastes a message or imports
 * .eml files or an mbox (src/core/models/mail-import.ts), marks each spam or not spam, and trains
 * an adapter of the mail base in the training worker with the same form, live curve, Pause,
 * Cancel and early stop as the digits (TrainRun). Only the messages' hashed word counts are kept
 * (IndexedDB, this browser), with their subjects for the list.
 */
import { useState } from 'react';
import { useGarden } from '../state.ts';
import { addMailExamples, relabelExample, removeExample, useTrain } from '../train.ts';
import { readMailFile, type ImportedMail } from '../../core/models/mail-import.ts';
import { FileDrop } from './FileDrop.tsx';
import { isRunning, SetSummary, TrainRun, useTrainingSet } from './TrainPanel.tsx';

/** The mail labels (MAIL_LABELS: 0 ham, 1 spam) as the user reads them. */
const MARKS = ['not spam', 'spam'];
const MAIL_FILES = /\.(eml|mbox|mbx|txt)$/i;

export function MailTrainPanel() {
  const t = useTrain();
  useTrainingSet();
  const [text, setText] = useState('');
  const [label, setLabel] = useState(1);
  const [note, setNote] = useState<string | null>(null);
  const running = isRunning(t.status);

  async function addPasted() {
    const mails = readMailFile('pasted', text);
    const n = await addMailExamples(mails, label);
    if (n) setText('');
    setNote(`Added ${n} pasted message${n === 1 ? '' : 's'} as ${MARKS[label]}.`);
  }

  async function importFiles(files: File[]) {
    const ok = files.filter((f) => MAIL_FILES.test(f.name));
    const skipped = files.filter((f) => !MAIL_FILES.test(f.name)).map((f) => f.name);
    if (!ok.length) {
      setNote(files.length ? `Not mail files (.eml, .mbox, .txt): ${skipped.join(', ')}.` : 'The drop held no file.');
      return;
    }
    const mails: ImportedMail[] = [];
    for (const f of ok) mails.push(...readMailFile(f.name, await f.text()));
    const n = await addMailExamples(mails, label);
    setNote(
      `Imported ${n} message${n === 1 ? '' : 's'} from ${ok.length} file${ok.length === 1 ? '' : 's'} as ${MARKS[label]}` +
        (skipped.length ? `; skipped ${skipped.join(', ')} (not .eml, .mbox or .txt)` : '') +
        '.',
    );
  }

  return (
    <section className="step" aria-labelledby="mail-train-h" data-testid="train-panel">
      <h2 id="mail-train-h">
        <span className="num">2c</span> Train on your own mail
      </h2>
      <p className="hint">
        Paste a message, or import .eml files or an mbox, and mark each spam or not spam. The app keeps only each message&apos;s hashed word
        counts (what the model reads) and its subject, in this browser; a set that shares an input with a frozen suite is refused. Training
        runs in a worker, on WebGPU&apos;s training kernels where the GPU is hardware, else on the CPU.
      </p>
      <div className="route">
        <FileDrop
          testId="mail-train-drop"
          onFiles={(files) =>
            void importFiles(files).catch((err: Error) => useGarden.setState({ notice: `Import failed: ${err.message}` }))
          }
        >
          <fieldset className="labels">
            <legend>Mark what you add as</legend>
            {MARKS.map((m, k) => (
              <label key={m} className={k === label ? 'label-pick on' : 'label-pick'}>
                <input
                  type="radio"
                  name="mail-train-label"
                  checked={k === label}
                  onChange={() => setLabel(k)}
                  data-testid={`mail-mark-${k}`}
                />
                {m}
              </label>
            ))}
          </fieldset>
          <label htmlFor="mail-train-text">A message (headers and body, or just the body)</label>
          <textarea
            id="mail-train-text"
            rows={6}
            value={text}
            onChange={(e) => setText(e.target.value)}
            data-testid="mail-train-text"
            placeholder={'Subject: …\n\nPaste a message, or drop .eml / mbox files here.'}
          />
          <div className="row">
            <button className="primary" onClick={() => void addPasted()} disabled={running || !text.trim()} data-testid="mail-add">
              Add as {MARKS[label]}
            </button>
            <label className="file-pick">
              Import .eml or mbox{' '}
              <input
                type="file"
                multiple
                accept=".eml,.mbox,.mbx,.txt,message/rfc822,application/mbox,text/plain"
                data-testid="mail-train-file"
                disabled={running}
                onChange={(e) => {
                  void importFiles(Array.from(e.target.files ?? []));
                  e.target.value = '';
                }}
              />
            </label>
          </div>
          {note && (
            <p className="hint" role="status" data-testid="mail-train-note">
              {note}
            </p>
          )}
        </FileDrop>
        <div className="train-set">
          <SetSummary labels={MARKS} noun="message" />
          <ol aria-label="Training messages" style={{ maxHeight: '16rem', overflowY: 'auto', margin: '8px 0', paddingLeft: '2rem' }}>
            {t.examples.map((e, i) => (
              <li
                key={e.id}
                className={e.id === t.refused ? 'refused' : undefined}
                data-testid="mail-example"
                style={{
                  display: 'flex',
                  alignItems: 'center',
                  gap: '0.4rem',
                  marginBottom: 2,
                  ...(e.id === t.refused ? { outline: '2px solid var(--bad)', background: '#fde8e8' } : {}),
                }}
                aria-label={`message ${i + 1}, ${MARKS[e.label]}${e.id === t.refused ? ': refused, equal to a message of a frozen suite' : ''}`}
              >
                <span style={{ flex: 1, minWidth: 0, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
                  {e.title ?? '(no subject)'}
                </span>{' '}
                <select
                  value={e.label}
                  disabled={running}
                  aria-label={`Mark message ${i + 1}`}
                  onChange={(ev) => void relabelExample(e.id, Number(ev.target.value))}
                >
                  {MARKS.map((m, k) => (
                    <option key={m} value={k}>
                      {m}
                    </option>
                  ))}
                </select>{' '}
                <button className="link" onClick={() => void removeExample(e.id)} disabled={running} aria-label={`Remove message ${i + 1}`}>
                  ×
                </button>
              </li>
            ))}
          </ol>
        </div>
      </div>
      <TrainRun base="mail" rows="messages" />
    </section>
  );
}
