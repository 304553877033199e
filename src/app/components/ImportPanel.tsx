/**
 * The user's own models, dropped anywhere on the page or picked: `.slm` (one or several shards),
 * safetensors (one file, or shards with their model.safetensors.index.json), ONNX. The check (the
 * compatibility report against the pool and the species it joins) is shown before anything is
 * stored; a refused file shows its one-line reason, and nothing of it is written. Reading the
 * files shows a progress bar with ETA and Cancel (import-progress.ts); a cancelled import stored
 * nothing, and a drop or pick while one runs is ignored.
 */
import { useEffect, useRef, useState } from 'react';
import { checkImport, storeImport, type ImportCheck } from '../garden.ts';
import { importFile, importHfSharded, importSlm } from '../../core/format/model.ts';
import { blobSource as fileSource } from '../../store/blob-source.ts';
import { bytes, etaText, short } from '../format.ts';
import { readTracker, type ReadProgress, type ReadTracker } from '../import-progress.ts';

/** What a set of files is, and how the core opens it. */
function openerFor(files: File[], t: ReadTracker): { name: string; open: Parameters<typeof checkImport>[1] } {
  const blobSource = (f: File, name: string) => t.track(fileSource(f, name));
  if (files.some((f) => f.name === 'config.json' || f.name === 'tokenizer.json'))
    throw new Error('these are the files of a Hugging Face language model: open the Text playground below and drop or pick them there');
  const index = files.find((f) => f.name.endsWith('.index.json'));
  if (index) {
    const byName = new Map(files.map((f) => [f.name, f]));
    return {
      name: index.name,
      open: async (opts) =>
        importHfSharded(
          new Uint8Array(await index.arrayBuffer()),
          async (file) => {
            const f = byName.get(file.split('/').pop()!);
            if (!f) throw new Error(`the index names the shard "${file}", which was not among the files given`);
            return blobSource(f, f.name);
          },
          opts,
        ),
    };
  }
  if (files.length > 1 && files.every((f) => f.name.endsWith('.slm'))) {
    return {
      name: files[0].name,
      open: (opts) =>
        importSlm(
          files.map((f) => blobSource(f, f.name)),
          opts,
        ),
    };
  }
  if (files.length > 1)
    throw new Error(
      `${files.length} files given: drop one model file, the shards of one .slm, or safetensors shards with their index JSON`,
    );
  return { name: files[0].name, open: (opts) => importFile(blobSource(files[0], files[0].name), opts) };
}

export function ImportPanel() {
  const [check, setCheck] = useState<ImportCheck | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [reading, setReading] = useState<ReadProgress | null>(null);
  const result = useRef<HTMLDivElement>(null);
  // The import in progress (a ref, so a second drop in the same tick is ignored too).
  const tracker = useRef<ReadTracker | null>(null);
  // The checked files' tracker: storing reads them again, with its own progress and Cancel.
  const checked = useRef<ReadTracker | null>(null);

  const take = async (files: File[]) => {
    if (busy || tracker.current) return;
    setCheck(null);
    setMessage(null);
    if (!files.length) {
      setMessage('The drop held no file (a link or text was dropped): drop a model file.');
      return;
    }
    if (files.length === 1 && /\.bundle\.json$/i.test(files[0].name)) {
      setMessage(
        `${files[0].name} is a signed bundle, not a model: import it in 3b, Share by file (drop it there or pick it). Nothing was stored.`,
      );
      return;
    }
    setBusy(`Checking ${files.map((f) => f.name).join(', ')}…`);
    const t = readTracker(
      files.reduce((n, f) => n + f.size, 0),
      (p) => tracker.current === t && setReading(p),
    );
    tracker.current = t;
    checked.current = t;
    try {
      const { name, open } = openerFor(files, t);
      const checked = await checkImport(name, open);
      if (t.cancelled) setMessage(`Import of ${name} cancelled: nothing was stored.`);
      else setCheck(checked);
    } catch (e) {
      // Cancel can land in any read: the header's, or a tensor's while it is scanned.
      if (t.cancelled) setMessage(`Import of ${files[0].name} cancelled: nothing was stored.`);
      else
        setCheck({
          name: files[0].name,
          format: '?',
          tensors: 0,
          species: '',
          joins: null,
          report: null,
          refused: (e as Error).message,
          model: null,
        });
    } finally {
      tracker.current = null;
      setReading(null);
      setBusy(null);
      requestAnimationFrame(() => result.current?.focus());
    }
  };

  // A drop anywhere on the page is taken here, never ignored (nor opened as a page by the browser).
  useEffect(() => {
    const over = (e: DragEvent) => {
      e.preventDefault();
      setDragging(true);
    };
    const leave = () => setDragging(false);
    const drop = (e: DragEvent) => {
      e.preventDefault();
      setDragging(false);
      void take(Array.from(e.dataTransfer?.files ?? []));
    };
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  });

  const store = async () => {
    if (!check || busy || tracker.current) return;
    setBusy(`Storing ${check.name}…`);
    const t = checked.current;
    t?.restart();
    tracker.current = t;
    try {
      const m = await storeImport(check);
      setMessage(`${m.name} joined the pool.`);
      setCheck(null);
    } catch (e) {
      setMessage(t?.cancelled ? `Import of ${check.name} cancelled: nothing was stored.` : `Nothing was stored: ${(e as Error).message}`);
      if (t?.cancelled) setCheck(null);
    } finally {
      tracker.current = null;
      setReading(null);
      setBusy(null);
      requestAnimationFrame(() => result.current?.focus());
    }
  };

  return (
    <section className={`step${dragging ? ' dropping' : ''}`} aria-labelledby="import-h" data-testid="import-panel">
      <h2 id="import-h">
        <span className="num">1b</span> Bring your own model
      </h2>
      <p className="hint">
        Drop a model anywhere on this page, or pick it: .slm, safetensors (one file, or its shards with model.safetensors.index.json) or
        ONNX. It is checked against the pool before anything is stored; it never leaves this browser.
      </p>
      <label className="file-pick">
        Pick model files{' '}
        <input
          type="file"
          multiple
          accept=".slm,.safetensors,.json,.onnx"
          data-testid="import-input"
          disabled={!!busy}
          onChange={(e) => {
            void take(Array.from(e.target.files ?? []));
            e.target.value = '';
          }}
        />
      </label>
      <div ref={result} tabIndex={-1} aria-live="polite" data-testid="import-result">
        {busy && <p className="hint">{busy}</p>}
        {reading && (
          <div className="progress" data-testid="import-progress" data-done={reading.done} data-total={reading.total}>
            <progress max={reading.total || 1} value={reading.done} aria-label="Import progress" />{' '}
            <span data-testid="import-progress-text">
              read {bytes(reading.done)} of {bytes(reading.total)}
              {etaText(reading.startedAt, reading.done, reading.total)}
            </span>{' '}
            <button onClick={() => tracker.current?.cancel()} data-testid="import-cancel">
              Cancel
            </button>
          </div>
        )}
        {message && <p data-testid="import-message">{message}</p>}
        {check?.refused && (
          <p className="fail" role="alert" data-testid="import-refused">
            Refused {check.name}: {check.refused}. Nothing was stored.
          </p>
        )}
        {check && !check.refused && check.report && (
          <div data-testid="import-report">
            <h3>Compatibility of {check.name}</h3>
            <ul className="checks">
              <li className="ok">
                ✓ read as {check.format}: {check.tensors} tensors, no NaN or infinite weights
              </li>
              <li className="ok">
                ✓ {check.report.reason} ({check.report.tensorCount} tensors, names, shapes and dtypes)
              </li>
              <li className="ok" data-testid="import-species">
                ✓ joins the species of the {check.joins}; species {short(check.species)}
              </li>
            </ul>
            <div className="row">
              <button className="primary" onClick={() => void store()} disabled={!!busy} data-testid="import-store">
                Add to the pool
              </button>
              <button onClick={() => setCheck(null)} disabled={!!busy}>
                Discard
              </button>
            </div>
          </div>
        )}
      </div>
    </section>
  );
}
