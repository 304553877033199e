/**
 * Sharing by file (src/app/share.ts): export the candidate as a signed bundle, keep the list of
 * trusted public keys, and import a bundle by drop or picker: verified, reproduced from its
 * parents in the pool, and given a verdict. A refused bundle shows its reason; nothing is written.
 */
import { useEffect, useRef, useState } from 'react';
import { useGarden } from '../state.ts';
import { saveFile } from '../save.ts';
import { etaText, short } from '../format.ts';
import type { ExportProgress } from '../export-progress.ts';
import { WorkProgress } from './StoragePanel.tsx';
import { FileDrop } from './FileDrop.tsx';
import {
  cancelReproduction,
  exportBundle,
  importBundle,
  publicKeyFile,
  renameSigningKey,
  signingKey,
  trustedKeys,
  trustKey,
  untrustKey,
  type ImportProgress,
  type ImportVerdict,
  type SigningKeyInfo,
  type TrustedKey,
} from '../share.ts';

const eta = (p: ImportProgress) => (p.progress ? etaText(p.startedAt, p.progress.bytesDone, p.progress.bytesTotal) : '');

function SigningKeyPart() {
  const cand = useGarden((s) => s.models.find((m) => m.id === s.candidateId));
  const [key, setKey] = useState<SigningKeyInfo | null>(null);
  const [draft, setDraft] = useState('');
  const [withModel, setWithModel] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  // The bundle's .slm read from the store: its progress, and Cancel (stops before the next tensor; nothing is saved).
  const [exporting, setExporting] = useState<ExportProgress | null>(null);
  const cancelled = useRef(false);
  useEffect(() => {
    void signingKey().then(
      (k) => {
        setKey(k);
        setDraft(k.name);
      },
      (e: Error) => setMessage({ ok: false, text: `The signing key could not be opened: ${e.message}` }),
    );
  }, []);
  const act = async (fn: () => Promise<string>) => {
    if (busy) return;
    setBusy(true);
    try {
      setMessage({ ok: true, text: await fn() });
    } catch (e) {
      setMessage({ ok: false, text: (e as Error).message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h3>Your signing key</h3>
      <p className="hint">
        An ECDSA P-256 key made in this browser; its private half cannot be read or copied, not even by this page. Others trust its public
        half.
      </p>
      <div className="row">
        <label>
          Name <input type="text" value={draft} onChange={(e) => setDraft(e.target.value)} data-testid="share-key-name" maxLength={80} />
        </label>
        <button
          disabled={busy || !key || draft === key.name}
          onClick={() =>
            void act(async () => {
              const k = await renameSigningKey(draft);
              setKey(k);
              setDraft(k.name);
              return `The key is now named “${k.name}”.`;
            })
          }
          data-testid="share-key-rename"
        >
          Rename
        </button>
        <span className="mono" data-testid="share-key-kid">
          {key ? `key ${key.public.kid}` : '…'}
        </span>
        <button
          disabled={busy || !key}
          onClick={() =>
            void act(async () => {
              const f = await publicKeyFile();
              saveFile(f.name, f.bytes, 'application/json');
              return `Public key saved as ${f.name}.`;
            })
          }
          data-testid="share-export-key"
        >
          Export public key (JWK)
        </button>
      </div>
      <h3>Export a signed bundle</h3>
      {cand ? (
        <div className="row">
          <span>
            Candidate <strong>{cand.name}</strong>
          </span>
          <label>
            <input type="checkbox" checked={withModel} onChange={(e) => setWithModel(e.target.checked)} data-testid="share-with-model" />{' '}
            with the model (.slm)
          </label>
          <button
            className="primary"
            disabled={busy || !key}
            onClick={() =>
              void act(async () => {
                cancelled.current = false;
                const started: ExportProgress = { done: 0, total: cand.bytes, model: cand.name, startedAt: performance.now() };
                setExporting(started);
                const b = await exportBundle(
                  cand.id,
                  withModel,
                  (done) => setExporting({ ...started, done }),
                  () => cancelled.current,
                ).finally(() => setExporting(null));
                saveFile(b.name, b.bytes, 'application/json');
                return `Saved ${b.name}: lineage, receipt, candidate manifest and sidecars${withModel ? ' with the model' : ''}, signed by key ${b.kid}.`;
              })
            }
            data-testid="share-export-bundle"
          >
            Export signed bundle
          </button>
          {exporting && (
            <WorkProgress
              testId="share-export"
              label="Bundle export progress"
              p={exporting}
              verb="read from the store"
              onCancel={() => void (cancelled.current = true)}
            />
          )}
        </div>
      ) : (
        <p className="hint">Breed a candidate first: its bundle carries how to breed it again.</p>
      )}
      {message && (
        <p className={message.ok ? '' : 'fail'} role={message.ok ? 'status' : 'alert'} data-testid="share-export-message">
          {message.text}
        </p>
      )}
    </>
  );
}

function TrustedKeysPart({ trusted, reload }: { trusted: TrustedKey[]; reload: () => Promise<void> }) {
  const [name, setName] = useState('');
  const [text, setText] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const add = async () => {
    try {
      const t = await trustKey(name, text);
      setMessage({ ok: true, text: `Trusted “${t.name}” (key ${t.jwk.kid}).` });
      setName('');
      setText('');
      await reload();
    } catch (e) {
      setMessage({ ok: false, text: `Not trusted: ${(e as Error).message}` });
    }
  };
  return (
    <>
      <h3>Trusted keys</h3>
      {trusted.length === 0 ? (
        <p className="hint" data-testid="trusted-none">
          No key is trusted yet: a bundle is refused until its signer's public key is here.
        </p>
      ) : (
        <ul className="checks" data-testid="trusted-list">
          {trusted.map((t) => (
            <li key={t.jwk.kid}>
              <strong>{t.name}</strong> <span className="mono">{t.jwk.kid}</span>{' '}
              <button
                className="link"
                onClick={() => void untrustKey(t.jwk.kid).then(reload)}
                aria-label={`Remove ${t.name}`}
                data-testid={`trust-remove-${t.jwk.kid}`}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="row">
        <label>
          Name <input type="text" value={name} onChange={(e) => setName(e.target.value)} data-testid="trust-name" maxLength={80} />
        </label>
        <label className="file-pick">
          Pick a public key file{' '}
          <input
            type="file"
            accept=".jwk,.json"
            data-testid="trust-file"
            onChange={(e) => {
              const f = e.target.files?.[0];
              e.target.value = '';
              if (!f) return;
              if (!name) setName(f.name.replace(/(\.pub)?\.(jwk|json)$/i, ''));
              void f.text().then(setText);
            }}
          />
        </label>
      </div>
      <label>
        or paste its JWK
        <textarea
          rows={3}
          className="mono"
          style={{ width: '100%' }}
          value={text}
          onChange={(e) => setText(e.target.value)}
          data-testid="trust-text"
          placeholder='{"kty":"EC","crv":"P-256","x":"…","y":"…"}'
        />
      </label>
      <div className="row">
        <button onClick={() => void add()} disabled={!text.trim()} data-testid="trust-add">
          Trust this key
        </button>
        {message && (
          <span className={message.ok ? '' : 'fail'} role={message.ok ? 'status' : 'alert'} data-testid="trust-message">
            {message.text}
          </span>
        )}
      </div>
    </>
  );
}

function VerdictView({ v }: { v: ImportVerdict }) {
  if (v.kind === 'refused')
    return (
      <p className="fail" role="alert" data-testid="share-refused">
        Refused: {v.reason}. Nothing was stored.
      </p>
    );
  return (
    <div data-testid="share-import-report">
      <ul className="checks">
        <li className="ok">
          ✓ signature: good, by “{v.signer}” (key {v.keyid})
        </li>
        <li className="ok">
          ✓ hashes: {v.subjects} signed subject(s) match{v.carriesModel ? ', the model included' : ' (the model itself not carried)'}
        </li>
        <li className="ok">
          ✓ candidate <span className="mono">{short(v.candidate)}</span> from {v.operator}
        </li>
        <li className={v.reproduced ? 'ok' : 'fail'} data-testid="share-verdict">
          {v.reproduced ? '✓' : '✗'} {v.verdict}
        </li>
      </ul>
      <p data-testid="share-stored">{v.stored}.</p>
    </div>
  );
}

function ImportPart() {
  const [progress, setProgress] = useState<ImportProgress | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [verdict, setVerdict] = useState<ImportVerdict | null>(null);
  const result = useRef<HTMLDivElement>(null);
  const take = async (files: File[]) => {
    if (busy) return;
    setVerdict(null);
    if (files.length !== 1) {
      setVerdict({ kind: 'refused', reason: `${files.length} files given: give one bundle file` });
      return;
    }
    setBusy(`Verifying ${files[0].name}…`);
    try {
      const v = await importBundle(files[0], setProgress);
      if (v) setVerdict(v);
    } finally {
      setBusy(null);
      setProgress(null);
      requestAnimationFrame(() => result.current?.focus());
    }
  };
  return (
    <>
      <h3>Import a bundle</h3>
      <FileDrop look="drop-zone" testId="bundle-drop" onFiles={(files) => void take(files)}>
        <p className="hint">
          Drop a bundle here, or pick it. Its signature is checked against your trusted keys, every file against its signed SHA-256, and the
          candidate is bred again from its parents in the pool.
        </p>
        <label className="file-pick">
          Pick a bundle{' '}
          <input
            type="file"
            accept=".json"
            data-testid="bundle-input"
            disabled={!!busy}
            onChange={(e) => {
              void take(Array.from(e.target.files ?? []));
              e.target.value = '';
            }}
          />
        </label>
      </FileDrop>
      <div ref={result} tabIndex={-1} aria-live="polite" data-testid="share-import-result">
        {busy && (
          <div className="progress" aria-label="Reproduction progress" data-testid="share-progress">
            {progress?.progress ? (
              <>
                <progress max={progress.progress.bytesTotal} value={progress.progress.bytesDone} />
                <span>
                  reproducing: tensor {progress.progress.tensor} of {progress.progress.tensors} ({progress.progress.name}){eta(progress)}
                </span>
              </>
            ) : (
              <span data-testid="share-progress-text">
                {progress?.waiting
                  ? 'verified; the reproduction waits for another tab of this garden to finish its breed…'
                  : progress
                    ? 'reproducing: starting the breed…'
                    : busy}
              </span>
            )}
            {progress && (
              <button onClick={cancelReproduction} data-testid="share-cancel">
                Cancel
              </button>
            )}
          </div>
        )}
        {verdict && <VerdictView v={verdict} />}
      </div>
    </>
  );
}

export function SharePanel() {
  const [trusted, setTrusted] = useState<TrustedKey[]>([]);
  const reload = async () => setTrusted(await trustedKeys());
  useEffect(() => {
    void reload();
  }, []);
  return (
    <section className="step" aria-labelledby="share-h" data-testid="share-panel">
      <h2 id="share-h">
        <span className="num">3b</span> Share by file
      </h2>
      <p className="hint">
        A signed bundle is a DSSE envelope over an in-toto statement of the candidate's documents and SHA-256 digests (the OpenSSF
        model-signing shape); <span className="mono">garden verify</span> checks the same file.
      </p>
      <SigningKeyPart />
      <TrustedKeysPart trusted={trusted} reload={reload} />
      <ImportPart />
    </section>
  );
}
