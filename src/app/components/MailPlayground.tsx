/**
 * The mail family's playground: the user pastes an e-mail, or drops or picks a .eml / .txt file,
 * and the mail slot's selector registry routes it (garden.ts routeEmail); the answer says spam or
 * ham and which model gave it. The message stays in this page: only its hashed word counts
 * (mail-features.ts) reach the model.
 */
import { useRef, useState } from 'react';
import { routeEmail } from '../garden.ts';
import { FileDrop } from './FileDrop.tsx';
import { MarkWrong } from './MarkWrong.tsx';
import { RouteAnswerView, useRouteView } from './RoutePanel.tsx';

const MAIL_FILE = /\.(eml|txt)$/i;

export function MailPlayground() {
  const [text, setText] = useState('');
  const [fileNote, setFileNote] = useState<string | null>(null);
  const answer = useRef<HTMLDivElement>(null);
  const { route, championName, routing, labels } = useRouteView();

  async function ask() {
    await routeEmail(text);
    requestAnimationFrame(() => answer.current?.focus());
  }

  async function take(files: File[]) {
    const f = files[0];
    if (!f) {
      setFileNote('The drop held no file: drop an e-mail saved as .eml or .txt, or paste its text.');
      return;
    }
    if (files.length > 1 || !MAIL_FILE.test(f.name)) {
      setFileNote(`${files.length > 1 ? `${files.length} files given` : `${f.name} is not a .eml or .txt file`}: give one e-mail.`);
      return;
    }
    setText(await f.text());
    setFileNote(`Read ${f.name} (${f.size} bytes). Ask to route it.`);
  }

  return (
    <section className="step" aria-labelledby="mail-route-h" data-testid="mail-playground">
      <h2 id="mail-route-h">
        <span className="num">5</span> Ask the garden: is it spam?
      </h2>
      <p className="hint">
        Paste an e-mail, or drop or pick a .eml or .txt file. The selector registry sends it to the mail slot&apos;s champion
        {championName ? ` (now ${championName})` : ''}, falling back down the stack on failure. Headers are dropped; the model reads the
        body&apos;s words as hashed counts. The message never leaves this page.
      </p>
      <div className="route">
        <FileDrop testId="mail-drop" onFiles={(files) => void take(files)}>
          <label htmlFor="mail-text">The e-mail (headers and body, or just the body)</label>
          <textarea
            id="mail-text"
            rows={10}
            value={text}
            onChange={(e) => setText(e.target.value)}
            data-testid="mail-text"
            placeholder={'Subject: …\n\nPaste or drop a message here.'}
          />
          <div className="row">
            <button className="primary" onClick={() => void ask()} disabled={routing || !text.trim()} data-testid="ask-button">
              Ask
            </button>
            <button onClick={() => setText('')}>Clear</button>
            <label className="file-pick">
              Pick a .eml or .txt{' '}
              <input
                type="file"
                accept=".eml,.txt,message/rfc822,text/plain"
                data-testid="mail-file"
                onChange={(e) => {
                  void take(Array.from(e.target.files ?? []));
                  e.target.value = '';
                }}
              />
            </label>
          </div>
          {fileNote && (
            <p className="hint" data-testid="mail-file-note">
              {fileNote}
            </p>
          )}
        </FileDrop>
        <div ref={answer} tabIndex={-1} aria-live="polite">
          {route && <RouteAnswerView route={route} labels={labels} />}
        </div>
      </div>
      <MarkWrong />
    </section>
  );
}
