/**
 * The text playground (loaded on demand): bring a Hugging Face causal-LM folder (picked as a
 * folder, as its files, or dropped), see what it is before it is stored, then prompt a stored
 * model and read the continuation as it streams from the text worker.
 */
import { useEffect, useRef, useState } from 'react';
import {
  deleteTextModel,
  cancelText,
  checkTextFolder,
  folderName,
  refreshTextModels,
  runText,
  storeTextModel,
  useText,
  starterFiles,
  starterTextModels,
  type StarterTextModel,
  type TextCheck,
  type TextModelEntry,
  type TextModelSummary,
} from '../text.ts';
import { useGarden } from '../state.ts';
import { bytes, short } from '../format.ts';
import { LmLab, type LmLabReport } from './LmLab.tsx';
import { LM_FAMILY, switchFamily } from '../family.ts';
import { deleteLmModel } from '../lm-lab.ts';
import './text-playground.css';

/** Files of a drop, a dropped folder's files included (one level: an HF folder is flat). */
async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const entries = Array.from(dt.items ?? [])
    .map((i) => i.webkitGetAsEntry?.())
    .filter((e): e is FileSystemEntry => !!e);
  if (!entries.some((e) => e.isDirectory)) return Array.from(dt.files);
  const out: File[] = [];
  const file = (e: FileSystemFileEntry) => new Promise<File>((res, rej) => e.file(res, rej));
  for (const e of entries) {
    if (e.isFile) out.push(await file(e as FileSystemFileEntry));
    else {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const c of batch) if (c.isFile) out.push(await file(c as FileSystemFileEntry));
      }
    }
  }
  return out;
}

function Summary({ s }: { s: TextModelSummary }) {
  return (
    <dl className="facts" data-testid="text-summary">
      <dt>Architecture</dt>
      <dd data-testid="text-arch">{s.architecture}</dd>
      <dt>Layers</dt>
      <dd data-testid="text-layers">
        {s.layers} (hidden {s.hidden}, heads {s.heads})
      </dd>
      <dt>Parameters</dt>
      <dd data-testid="text-params">{s.params.toLocaleString('en')}</dd>
      <dt>Dtype</dt>
      <dd data-testid="text-dtype">{s.dtypes.join(', ')}</dd>
      <dt>Bytes</dt>
      <dd data-testid="text-bytes">
        {bytes(s.bytes)} ({s.bytes.toLocaleString('en')} B in {s.tensors} tensors)
      </dd>
      <dt>Vocabulary</dt>
      <dd>
        {s.vocab} tokens, {s.maxPositions} positions
      </dd>
      <dt>Tokenizer hash</dt>
      <dd className="mono" data-testid="text-tokenizer-hash">
        {s.tokenizerHash}
      </dd>
      <dt>Chat template</dt>
      <dd data-testid="text-chat-template">{s.chat ? 'yes (tokenizer_config.json)' : 'none'}</dd>
      <dt>Species</dt>
      <dd className="mono">{short(s.species)}</dd>
      <dt>Files</dt>
      <dd>{s.files.join(', ')}</dd>
    </dl>
  );
}

function ImportFolder() {
  const [dragging, setDragging] = useState(false);
  const [check, setCheck] = useState<(TextCheck & { name: string }) | null>(null);
  /** Work in progress (busy) or its outcome. */
  const [note, setNote] = useState<{ busy: boolean; text: string } | null>(null);
  const busy = note?.busy ? note.text : null;
  const message = note && !note.busy ? note.text : null;
  const setBusy = (text: string | null) => setNote(text === null ? null : { busy: true, text });
  const setMessage = (text: string) => setNote({ busy: false, text });
  const result = useRef<HTMLDivElement>(null);

  const take = async (files: File[]) => {
    if (busy) return;
    setCheck(null);
    setBusy(`Checking ${files.length} file${files.length === 1 ? '' : 's'}…`);
    try {
      setCheck({ ...(await checkTextFolder(files)), name: folderName(files) });
    } finally {
      setBusy(null);
      requestAnimationFrame(() => result.current?.focus());
    }
  };
  const store = async () => {
    if (!check?.lm) return;
    setBusy(`Storing ${check.summary!.name}…`);
    try {
      const m = await storeTextModel(check);
      await refreshTextModels();
      setMessage(`${m.name} is stored (${bytes(m.bytes)}, ${m.dtypes.join(', ')}).`);
      setCheck(null);
    } catch (e) {
      setMessage(`Nothing was stored: ${(e as Error).message}`);
    }
  };
  const [starters, setStarters] = useState<StarterTextModel[]>([]);
  const [starter, setStarter] = useState(0);
  useEffect(() => void starterTextModels().then(setStarters), []);
  const loadStarter = async () => {
    const m = starters[starter];
    if (!m || busy) return;
    setCheck(null);
    setBusy(`Fetching the starter model ${m.id}…`);
    try {
      const files = await starterFiles(m);
      setCheck({ ...(await checkTextFolder(files, `Starter ${m.id}`)), name: `the starter model ${m.id}` });
      setBusy(null);
    } catch (e) {
      setMessage(`The starter model ${m.id} could not be fetched: ${(e as Error).message}`);
    }
  };
  const pick = (e: React.ChangeEvent<HTMLInputElement>) => {
    void take(Array.from(e.target.files ?? []));
    e.target.value = '';
  };

  return (
    <div
      className={`text-import${dragging ? ' dropping' : ''}`}
      data-testid="text-drop"
      onDragOver={(e) => {
        e.preventDefault();
        e.stopPropagation();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        // Taken here, not by the page-wide drop of "Bring your own model".
        e.preventDefault();
        e.stopPropagation();
        setDragging(false);
        void droppedFiles(e.dataTransfer).then(take);
      }}
    >
      <h3>Bring a Hugging Face model folder</h3>
      <p className="hint">
        Drop the folder (or its files) here, or pick it: config.json, model.safetensors or its shards with model.safetensors.index.json,
        tokenizer.json, and tokenizer_config.json and generation_config.json when it has them. Llama, Mistral and Qwen2 in F32, F16 or BF16.
      </p>
      <div className="row">
        <label className="file-pick">
          Pick a folder{' '}
          <input type="file" {...{ webkitdirectory: '' }} multiple disabled={!!busy} data-testid="text-pick-folder" onChange={pick} />
        </label>
        <label className="file-pick">
          Pick its files{' '}
          <input type="file" multiple accept=".json,.safetensors,.slm" disabled={!!busy} data-testid="text-pick-files" onChange={pick} />
        </label>
      </div>
      {starters.length > 0 && (
        <div className="row" data-testid="text-starter">
          <label>
            Starter text model{' '}
            <select value={starter} onChange={(e) => setStarter(Number(e.target.value))} data-testid="text-starter-select">
              {starters.map((m, i) => (
                <option key={m.id} value={i}>
                  {m.id} ({m.role === 'base' ? 'base' : `specialist${m.speciality ? `: ${m.speciality}` : ''}`})
                </option>
              ))}
            </select>
          </label>
          <button onClick={() => void loadStarter()} disabled={busy !== null} data-testid="text-starter-load">
            Load the starter text model
          </button>
        </div>
      )}
      <div ref={result} tabIndex={-1} aria-live="polite" data-testid="text-import-result">
        {busy && <p className="hint">{busy}</p>}
        {message && <p data-testid="text-import-message">{message}</p>}
        {check?.refused && (
          <p className="fail" role="alert" data-testid="text-refused">
            Refused {check.name}: {check.refused}. Nothing was stored.
          </p>
        )}
        {check?.summary && (
          <div data-testid="text-check">
            <h4>{check.summary.name}, read and checked</h4>
            <Summary s={check.summary} />
            <p className="row">
              <button className="primary" onClick={() => void store()} disabled={busy !== null} data-testid="text-store">
                Store it in this browser
              </button>
              <button onClick={() => setCheck(null)} disabled={busy !== null} data-testid="text-discard">
                Discard
              </button>
            </p>
          </div>
        )}
      </div>
    </div>
  );
}

interface FieldSpec {
  label: string;
  min: number;
  max: number;
  integer?: boolean;
  /** The minimum itself is not valid (temperature, top-p). */
  above?: boolean;
}

/** Why a typed value is refused (the valid range named), or null: nothing is clamped. */
function fieldReason(raw: string, f: FieldSpec): string | null {
  const x = Number(raw);
  const range = `${f.integer ? 'a whole number' : 'a number'} ${f.above ? `above ${f.min}` : `from ${f.min}`} up to ${f.max}`;
  if (raw.trim() === '' || !Number.isFinite(x) || (f.integer && !Number.isInteger(x)) || (f.above ? x <= f.min : x < f.min) || x > f.max)
    return `${f.label} must be ${range}; ${JSON.stringify(raw)} is not`;
  return null;
}

function Field({ id, spec, value, onChange }: { id: string; spec: FieldSpec; value: string; onChange: (v: string) => void }) {
  const why = fieldReason(value, spec);
  return (
    <label className="text-field">
      {spec.label}{' '}
      <input
        type="text"
        inputMode="decimal"
        value={value}
        aria-invalid={!!why}
        aria-describedby={why ? `${id}-why` : undefined}
        data-testid={id}
        onChange={(e) => onChange(e.target.value)}
      />
      {why && (
        <span className="fail" id={`${id}-why`} role="alert" data-testid={`${id}-why`}>
          {why}
        </span>
      )}
    </label>
  );
}

/** Comma-separated token ids, each in the vocabulary, or the reason not. */
function parseIdList(text: string, vocab: number): number[] | string {
  const parts = text.split(',').map((s) => s.trim());
  const bad = parts.find((p) => !/^\d{1,9}$/.test(p) || Number(p) >= vocab);
  if (bad !== undefined)
    return `token ids must be whole numbers from 0 to ${vocab - 1}, separated by commas; ${JSON.stringify(bad)} is not`;
  return parts.map(Number);
}

function Generate({ model }: { model: TextModelEntry }) {
  const run = useText((s) => s.run);
  const inference = useGarden((s) => s.inference);
  const [prompt, setPrompt] = useState('the cat and the');
  const [asIds, setAsIds] = useState(false);
  const [asChat, setAsChat] = useState(false);
  const [maxNew, setMaxNew] = useState('16');
  const [mode, setMode] = useState<'greedy' | 'sample'>('greedy');
  const [temperature, setTemperature] = useState('0.8');
  const [topK, setTopK] = useState('40');
  const [topP, setTopP] = useState('0.95');
  const [seed, setSeed] = useState('1');
  const specs = {
    maxNew: { label: 'New tokens', min: 1, max: model.maxPositions - 1, integer: true },
    temperature: { label: 'Temperature', min: 0, max: 100, above: true },
    topK: { label: 'Top-k', min: 1, max: model.vocab, integer: true },
    topP: { label: 'Top-p', min: 0, max: 1, above: true },
    seed: { label: 'Seed', min: 0, max: 4294967295, integer: true },
  } satisfies Record<string, FieldSpec>;
  const ids = asIds ? parseIdList(prompt, model.vocab) : null;
  const reasons = [
    fieldReason(maxNew, specs.maxNew),
    ...(mode === 'sample'
      ? [
          fieldReason(temperature, specs.temperature),
          fieldReason(topK, specs.topK),
          fieldReason(topP, specs.topP),
          fieldReason(seed, specs.seed),
        ]
      : []),
    typeof ids === 'string' ? ids : null,
    !asIds && prompt.trim() === '' ? 'the prompt is empty' : null,
  ].filter((r): r is string => r !== null);
  const running = run?.status === 'loading' || run?.status === 'running';

  const go = () => {
    if (reasons.length || running) return;
    const sampling =
      mode === 'greedy'
        ? { greedy: true }
        : { temperature: Number(temperature), topK: Number(topK), topP: Number(topP), seed: Number(seed) };
    const p = Array.isArray(ids) ? { ids } : asChat && model.chat ? { chat: prompt } : { text: prompt };
    void runText(model, { prompt: p, maxNew: Number(maxNew), ...sampling });
  };

  return (
    <div data-testid="text-generate">
      <label className="text-prompt">
        Prompt{asIds ? ' (token ids)' : asChat && model.chat ? ' (a user message, through the chat template)' : ''}
        <textarea value={prompt} rows={3} onChange={(e) => setPrompt(e.target.value)} data-testid="text-prompt" />
      </label>
      {typeof ids === 'string' && (
        <span className="fail" role="alert" data-testid="text-prompt-why">
          {ids}
        </span>
      )}
      <div className="row">
        <label>
          <input type="checkbox" checked={asIds} onChange={(e) => setAsIds(e.target.checked)} data-testid="text-as-ids" /> The prompt is
          token ids
        </label>
        {model.chat && (
          <label>
            <input
              type="checkbox"
              checked={asChat}
              disabled={asIds}
              onChange={(e) => setAsChat(e.target.checked)}
              data-testid="text-as-chat"
            />{' '}
            As a chat message
          </label>
        )}
        <Field id="text-max-new" spec={specs.maxNew} value={maxNew} onChange={setMaxNew} />
      </div>
      <fieldset className="row text-decoding">
        <legend>Decoding</legend>
        <label>
          <input type="radio" name="text-mode" checked={mode === 'greedy'} onChange={() => setMode('greedy')} data-testid="text-greedy" />{' '}
          Greedy
        </label>
        <label>
          <input type="radio" name="text-mode" checked={mode === 'sample'} onChange={() => setMode('sample')} data-testid="text-sample" />{' '}
          Sample
        </label>
        {mode === 'sample' && (
          <>
            <Field id="text-temperature" spec={specs.temperature} value={temperature} onChange={setTemperature} />
            <Field id="text-top-k" spec={specs.topK} value={topK} onChange={setTopK} />
            <Field id="text-top-p" spec={specs.topP} value={topP} onChange={setTopP} />
            <Field id="text-seed" spec={specs.seed} value={seed} onChange={setSeed} />
          </>
        )}
      </fieldset>
      <div className="row">
        <button className="primary" onClick={go} disabled={running || reasons.length > 0} data-testid="text-run">
          Generate
        </button>
        <button onClick={() => void cancelText()} disabled={!running} data-testid="text-cancel">
          Cancel
        </button>
        <span className="hint">
          {inference === 'webgpu'
            ? 'runs in a worker on onnxruntime-web (WebGPU, wasm fallback)'
            : "runs in a worker: a quantized model on the garden's wasm-SIMD decoder, others on onnxruntime-web (wasm)"}
        </span>
      </div>
      {reasons.length > 0 && (
        <p className="fail" data-testid="text-invalid">
          Not run until fixed: {reasons.join('; ')}.
        </p>
      )}
      {run && run.model.id === model.id && <Output />}
    </div>
  );
}

function Output() {
  const run = useText((s) => s.run)!;
  return (
    <div className="text-output" aria-live="polite" data-testid="text-output" data-status={run.status}>
      <p className="hint" data-testid="text-answered-by">
        Answered by <strong>{run.model.name}</strong> (species {short(run.model.species)}){run.ep ? ` on ${run.ep}` : ''}
        {run.runtime && (
          <>
            {' · runtime '}
            <span data-testid="text-runtime">{run.runtime}</span>
          </>
        )}
      </p>
      <p className="text-continuation" data-testid="text-continuation">
        {run.text || (run.status === 'loading' ? 'Loading the model…' : '')}
      </p>
      <p className="hint">
        Generated ids:{' '}
        <span className="mono" data-testid="text-ids">
          {run.ids.join(',')}
        </span>
      </p>
      <p className="hint" data-testid="text-stats">
        {run.ids.length} new token{run.ids.length === 1 ? '' : 's'}
        {run.prompt.length ? ` after ${run.prompt.length} prompt tokens` : ''}
        {run.tokensPerSecond !== null ? ` · ${run.tokensPerSecond.toFixed(1)} tokens/s` : ''}
        {run.prefillMs !== undefined ? ` · prefill ${run.prefillMs.toFixed(1)} ms` : ''}
        {run.stop ? ` · stopped: ${run.stop === 'eos' ? 'end of sequence' : run.stop === 'length' ? 'length limit' : 'cancelled'}` : ''}
      </p>
      {run.error && (
        <p className="fail" role="alert" data-testid="text-error">
          {run.error}
        </p>
      )}
    </div>
  );
}

/**
 * The playground; with `lab` (the language-model family's page) the family's pipeline under it,
 * else a way to that family's page (one lab per garden: its ledger and slot are the family's).
 */
export function TextPlayground({ lab = false, onLab }: { lab?: boolean; onLab?: (r: LmLabReport) => void }) {
  const models = useText((s) => s.models);
  const [chosen, setChosen] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  useEffect(() => {
    refreshTextModels().catch((e: Error) => setLoadError(e.message));
  }, []);
  const model = models.find((m) => m.id === chosen) ?? models[0];

  return (
    <div className="text-playground" data-testid="text-playground">
      <ImportFolder />
      <h3>Stored text models</h3>
      {loadError && (
        <p className="fail" role="alert" data-testid="text-error">
          {loadError}
        </p>
      )}
      {models.length === 0 ? (
        <p className="hint" data-testid="text-none">
          None yet: bring a folder above.
        </p>
      ) : (
        <ul className="text-models" data-testid="text-models">
          {models.map((m) => (
            <li key={m.id}>
              <label>
                <input type="radio" name="text-model" checked={m.id === model?.id} onChange={() => setChosen(m.id)} />{' '}
                <strong>{m.name}</strong> · {m.architecture}, {m.layers} layers, {m.params.toLocaleString('en')} parameters,{' '}
                {m.dtypes.join('/')} · {bytes(m.bytes)}
              </label>{' '}
              <button
                className="link"
                aria-label={`Delete ${m.name}`}
                onClick={() =>
                  // On the LM family's page the lab ledgers it; the classifier pages' playground deletes as before.
                  void (
                    lab
                      ? deleteLmModel(m)
                      : deleteTextModel(m.id)
                          .then(refreshTextModels)
                          .then(() => null)
                  ).then(setLoadError, (e: Error) => setLoadError(e.message))
                }
                data-testid="text-delete"
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
      {model && <Generate key={model.id} model={model} />}
      {lab ? (
        <LmLab onReport={onLab} />
      ) : (
        <p className="hint" data-testid="text-lab-pointer">
          To breed these models, evaluate, admit, release and route them, work on the{' '}
          <button className="link" onClick={() => switchFamily(LM_FAMILY.id)} data-testid="text-to-lm">
            {LM_FAMILY.label}
          </button>{' '}
          family.
        </p>
      )}
    </div>
  );
}
