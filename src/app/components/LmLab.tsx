/**
 * The language-model family's page (the switcher's "lm" family, below its text playground): the pool of stored text models
 * with their scores and slot roles, a breed form (operator, parameters refused out of range,
 * base and parents), progress with ETA and Cancel, the candidate's evaluation and verdict, its
 * admission and release, a prompt routed by the LM slot's selector, the Hugging Face export
 * with its read-back, and the lab's ledger.
 */
import { useEffect, useRef, useState } from 'react';
import { getOperator } from '../../core/operators/registry.ts';
import type { ParamDef } from '../../core/operators/types.ts';
import {
  admitLm,
  breedLm,
  breedProblem,
  cancelLmWork,
  checkBreedDocuments,
  championBlocker,
  evaluateLm,
  exportLm,
  judgeIfScored,
  lmReleaseStep,
  openLmLab,
  routeLm,
  saveExportToFolder,
  useLm,
  SCORE_COLUMNS,
  type LmBreedForm,
  type LmTask,
} from '../lm-lab.ts';
import { useText, type TextModelEntry } from '../text.ts';
import { lmTrainRunning, useLmTrain } from '../lm-train.ts';
import { LmTrainPanel } from './LmTrainPanel.tsx';
import { bytes, short } from '../format.ts';

/** The operators offered here: each takes the pool's models as they are (no calibration data). */
const LM_OPERATORS = ['task-delta', 'ties', 'slerp', 'dare', 'blend'] as const;

/** The number parameters of an operator the form sets (the others keep their defaults). */
function numberParams(id: string): ParamDef[] {
  return getOperator(id).params.filter((p) => p.type === 'number' && p.scope === 'global' && p.min !== undefined && p.max !== undefined);
}

function paramReason(raw: string, p: ParamDef): string | null {
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || x < p.min! || x > p.max!)
    return `${p.name} must be a number from ${p.min} to ${p.max}; ${JSON.stringify(raw)} is not`;
  return null;
}

function seedReason(raw: string): string | null {
  const x = Number(raw);
  return /^\d+$/.test(raw.trim()) && x <= 4294967295
    ? null
    : `the seed must be a whole number from 0 to 4294967295; ${JSON.stringify(raw)} is not`;
}

function role(m: TextModelEntry, reg: ReturnType<typeof useLm.getState>['registry'], admitted: Record<string, string>): string {
  if (reg?.champion === m.id) return 'champion';
  if (reg?.canary?.model === m.id) return `canary ${Math.round(reg.canary.share * 100)} %`;
  if (reg?.shadow === m.id) return 'shadow';
  if (admitted[m.id]) return 'admitted';
  return m.lineage ? 'candidate' : 'source';
}

function Pool({ models }: { models: TextModelEntry[] }) {
  const scores = useLm((s) => s.scores);
  const reg = useLm((s) => s.registry);
  const admitted = useLm((s) => s.admitted);
  const slot = useLm((s) => s.slot);
  return (
    <table className="lm-pool" data-testid="lm-pool">
      <caption>
        The pool: every stored text model, its perplexity on the {slot} slot&apos;s pinned suites (lower is better) and its role
      </caption>
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col">Role</th>
          {SCORE_COLUMNS.map((c) => (
            <th scope="col" key={c.name}>
              {c.label}
            </th>
          ))}
          <th scope="col">Bytes</th>
        </tr>
      </thead>
      <tbody>
        {models.map((m) => (
          <tr key={m.id} data-testid="lm-pool-row" data-model={m.name}>
            <th scope="row">{m.name}</th>
            <td data-testid="lm-role">{role(m, reg, admitted)}</td>
            {SCORE_COLUMNS.map(({ name }) => (
              <td key={name} className="lm-num" data-testid={`lm-score-${name}`}>
                {scores[m.id]?.[name] ? scores[m.id][name].perplexity.toFixed(2) : '—'}
              </td>
            ))}
            <td className="lm-num">{bytes(m.bytes)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TaskBar({ task }: { task: LmTask }) {
  const [now, setNow] = useState(performance.now());
  useEffect(() => {
    const t = setInterval(() => setNow(performance.now()), 250);
    return () => clearInterval(t);
  }, []);
  const frac = task.total > 0 ? Math.min(1, task.done / task.total) : 0;
  const elapsed = (now - task.startedAt) / 1000;
  const eta = frac > 0.02 ? (elapsed / frac) * (1 - frac) : null;
  return (
    <div className="lm-task" data-testid="lm-task" aria-live="polite">
      <progress max={1} value={frac} aria-label={`${task.kind} progress`} />{' '}
      <span>
        {task.kind}: {task.label} · {Math.round(frac * 100)} %{eta !== null ? ` · about ${Math.ceil(eta)} s left` : ''}
      </span>{' '}
      {task.kind !== 'export' && (
        <button onClick={cancelLmWork} data-testid="lm-cancel">
          Cancel
        </button>
      )}
    </div>
  );
}

function BreedForm({ models }: { models: TextModelEntry[] }) {
  const busy = useLm((s) => s.task) !== null;
  const [operator, setOperator] = useState<string>('task-delta');
  const [values, setValues] = useState<Record<string, string>>({ lambda: '0.5' });
  const [seed, setSeed] = useState('1');
  const [base, setBase] = useState<string | null>(null);
  const [parents, setParents] = useState<string[]>([]);
  const sources = models;
  const baseId = base ?? sources.find((m) => /base/i.test(m.name))?.id ?? sources[0]?.id ?? null;
  const chosen = parents.length
    ? parents
    : sources
        .filter((m) => m.id !== baseId && !m.lineage)
        .slice(0, 1)
        .map((m) => m.id);
  const op = getOperator(operator);
  const params = numberParams(operator);
  const reasons = [...params.map((p) => paramReason(values[p.name] ?? String(p.default ?? ''), p)), seedReason(seed)].filter(
    (r): r is string => r !== null,
  );
  const form: LmBreedForm = {
    operator,
    params: Object.fromEntries(params.map((p) => [p.name, Number(values[p.name] ?? p.default)])),
    seed: Number(seed),
    base: op.needsBase ? baseId : null,
    parents: op.needsBase ? chosen.filter((id) => id !== baseId) : [...new Set([...(baseId ? [baseId] : []), ...chosen])],
  };
  const problem = reasons.length ? null : breedProblem(form);
  const toggle = (id: string, on: boolean) => setParents(() => (on ? [...new Set([...chosen, id])] : chosen.filter((x) => x !== id)));

  return (
    <fieldset className="lm-breed" data-testid="lm-breed">
      <legend>Breed two or more of them</legend>
      <div className="row">
        <label>
          Operator{' '}
          <select
            value={operator}
            onChange={(e) => {
              setOperator(e.target.value);
              setValues(Object.fromEntries(numberParams(e.target.value).map((p) => [p.name, String(p.default ?? p.min)])));
            }}
            data-testid="lm-operator"
          >
            {LM_OPERATORS.map((id) => (
              <option key={id} value={id}>
                {getOperator(id).name} ({id})
              </option>
            ))}
          </select>
        </label>
        {params.map((p) => {
          const v = values[p.name] ?? String(p.default ?? '');
          const why = paramReason(v, p);
          return (
            <label key={p.name} className="text-field" title={p.description}>
              {p.name}{' '}
              <input
                type="text"
                inputMode="decimal"
                value={v}
                aria-invalid={!!why}
                onChange={(e) => setValues({ ...values, [p.name]: e.target.value })}
                data-testid={`lm-param-${p.name}`}
              />
            </label>
          );
        })}
        <label className="text-field">
          seed{' '}
          <input
            type="text"
            inputMode="numeric"
            value={seed}
            aria-invalid={!!seedReason(seed)}
            onChange={(e) => setSeed(e.target.value)}
            data-testid="lm-seed"
          />
        </label>
      </div>
      <div className="row">
        <label>
          {op.needsBase ? 'Base' : 'First parent'}{' '}
          <select value={baseId ?? ''} onChange={(e) => setBase(e.target.value)} data-testid="lm-base">
            {sources.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <span>{op.needsBase ? 'Parents:' : 'With:'}</span>
        {sources
          .filter((m) => m.id !== baseId)
          .map((m) => (
            <label key={m.id}>
              <input
                type="checkbox"
                checked={chosen.includes(m.id)}
                onChange={(e) => toggle(m.id, e.target.checked)}
                data-testid="lm-parent"
                data-model={m.name}
              />{' '}
              {m.name}
            </label>
          ))}
      </div>
      <p className="hint">{op.description}</p>
      <div className="row">
        <button
          className="primary"
          disabled={busy || reasons.length > 0 || problem !== null}
          onClick={() => void breedLm(form)}
          data-testid="lm-breed-run"
        >
          Breed
        </button>
        {(reasons.length > 0 || problem) && (
          <span className="fail" role="alert" data-testid="lm-breed-why">
            {[...reasons, ...(problem ? [problem] : [])].join('; ')}
          </span>
        )}
      </div>
    </fieldset>
  );
}

/** A check's text with the baseline's id prefix (as the viability controller writes it) replaced by its name. */
function named(text: string, id: string | null): string {
  return id ? text.replace(id.slice(0, 12), nameOf(id)) : text;
}

function Verdict({ id }: { id: string }) {
  const v = useLm((s) => s.verdicts[id]);
  const smoke = useLm((s) => s.smoke[id]);
  const slot = useLm((s) => s.slot);
  if (!v && !smoke) return null;
  return (
    <div data-testid="lm-verdict" data-viable={v ? String(v.viable) : ''}>
      {smoke && (
        <p data-testid="lm-smoke" className={smoke.passed ? 'ok' : 'fail'}>
          Runtime smoke:{' '}
          {smoke.passed
            ? `passed (greedy ${smoke.probes} steps, finite logits, end of sequence reachable; kept as runtime smoke ${short(smoke.hash)})`
            : smoke.reasons.join('; ')}
        </p>
      )}
      {v && (
        <>
          <p>
            <strong data-testid="lm-viable">{v.viable ? 'Viable' : 'Not viable'}</strong> under the {slot} slot&apos;s policy:
          </p>
          <ul className="lm-checks">
            {v.checks.map((c, i) => (
              <li key={i} className={c.passed ? 'ok' : 'fail'}>
                {c.passed ? '✓' : '✗'} {named(c.text, c.baselineId)}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

/** The breed's documents as the store keeps them with the candidate, checked against its lineage. */
function BreedDocuments({ cand }: { cand: TextModelEntry }) {
  const [docs, setDocs] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    let live = true;
    checkBreedDocuments(cand).then(
      (d) =>
        live &&
        setDocs({
          ok: true,
          text: `lineage template ${short(d.lineage)} · receipt ${short(d.receipt)} · candidate manifest ${short(d.candidate)}`,
        }),
      (e: Error) => live && setDocs({ ok: false, text: e.message }),
    );
    return () => {
      live = false;
    };
  }, [cand]);
  if (!docs) return null;
  return (
    <p className={`hint mono ${docs.ok ? '' : 'fail'}`} data-testid="lm-breed-docs" data-ok={String(docs.ok)}>
      Breed documents {docs.ok ? 'stored with it' : 'not usable'}: {docs.text}
    </p>
  );
}

function Candidate({ models }: { models: TextModelEntry[] }) {
  const candidates = models.filter((m) => m.lineage);
  const [chosen, setChosen] = useState<string | null>(null);
  const busy = useLm((s) => s.task) !== null;
  const reg = useLm((s) => s.registry);
  const admitted = useLm((s) => s.admitted);
  const verdicts = useLm((s) => s.verdicts);
  const slot = useLm((s) => s.slot);
  useLm((s) => s.ledger);
  const cand = candidates.find((m) => m.id === chosen) ?? candidates[candidates.length - 1];
  useEffect(() => {
    if (cand) judgeIfScored(cand.id);
  }, [cand]);
  if (!cand) return <p className="hint">No candidate yet: breed one above.</p>;
  const l = cand.lineage!;
  const v = verdicts[cand.id];
  const admitWhy = admitted[cand.id] ? 'already admitted' : !v ? 'evaluate it first' : !v.viable ? 'the verdict is not viable' : null;
  const inSlot = reg && (reg.shadow === cand.id || reg.canary?.model === cand.id);
  const champWhy = championBlocker();
  return (
    <div className="lm-candidate" data-testid="lm-candidate">
      <label>
        Candidate{' '}
        <select value={cand.id} onChange={(e) => setChosen(e.target.value)} data-testid="lm-candidate-select">
          {candidates.map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      <p className="hint mono" data-testid="lm-lineage" data-hash={l.hash}>
        {l.operator.id}@{l.operator.version} · file {short(l.hash)} · lineage key {short(l.lineageKey)} · receipt {short(l.receipt)} · bred
        in {(l.breedMs / 1000).toFixed(1)} s on {l.backend}
      </p>
      <BreedDocuments key={cand.id} cand={cand} />
      <div className="row">
        <button disabled={busy} onClick={() => void evaluateLm(cand.id)} data-testid="lm-evaluate">
          Evaluate against its parents
        </button>
        <button className="primary" disabled={busy || admitWhy !== null} onClick={() => void admitLm(cand.id)} data-testid="lm-admit">
          Admit to the {slot} slot
        </button>
        {admitWhy && <span className="hint">{admitWhy}</span>}
      </div>
      <Verdict id={cand.id} />
      {reg && (
        <div className="row" data-testid="lm-release">
          <button
            disabled={!inSlot || reg.canary?.model === cand.id}
            onClick={() => void lmReleaseStep('canary', 1)}
            data-testid="lm-canary"
          >
            Canary: answer every prompt
          </button>
          <button disabled={champWhy !== null} onClick={() => void lmReleaseStep('champion')} data-testid="lm-champion">
            Make champion
          </button>
          {champWhy && (
            <span className="hint" data-testid="lm-champion-why">
              {champWhy}
            </span>
          )}
        </div>
      )}
    </div>
  );
}

function Route() {
  const reg = useLm((s) => s.registry);
  const route = useLm((s) => s.route);
  const slot = useLm((s) => s.slot);
  const run = useText((s) => s.run);
  const [prompt, setPrompt] = useState('The whale');
  const [maxNew, setMaxNew] = useState('12');
  const n = Number(maxNew);
  const why =
    Number.isInteger(n) && n >= 1 && n <= 256 ? null : `new tokens must be a whole number from 1 to 256; ${JSON.stringify(maxNew)} is not`;
  const running = run?.status === 'loading' || run?.status === 'running';
  const out = useRef<HTMLDivElement>(null);
  const go = async () => {
    await routeLm(prompt, n);
    out.current?.focus();
  };
  return (
    <div className="lm-route" data-testid="lm-route">
      <p className="hint" data-testid="lm-registry">
        Slot {slot}:{' '}
        {reg
          ? `champion ${reg.champion ? nameOf(reg.champion) : 'none'}${reg.canary ? ` · canary ${nameOf(reg.canary.model)} (${Math.round(reg.canary.share * 100)} %)` : ''}${reg.shadow ? ` · shadow ${nameOf(reg.shadow)}` : ''}`
          : 'not created yet (admitting the first candidate creates it, with its base as champion)'}
      </p>
      <label className="text-prompt">
        Prompt
        <textarea rows={2} value={prompt} onChange={(e) => setPrompt(e.target.value)} data-testid="lm-prompt" />
      </label>
      <div className="row">
        <label className="text-field">
          New tokens{' '}
          <input
            type="text"
            inputMode="numeric"
            value={maxNew}
            aria-invalid={!!why}
            onChange={(e) => setMaxNew(e.target.value)}
            data-testid="lm-max-new"
          />
        </label>
        <button
          className="primary"
          disabled={!reg || running || why !== null || !prompt.trim()}
          onClick={() => void go()}
          data-testid="lm-route-run"
        >
          Route the prompt
        </button>
        {why && <span className="fail">{why}</span>}
      </div>
      <div ref={out} tabIndex={-1} aria-live="polite">
        {route && (
          <div className="text-output" data-testid="lm-answer" data-status={run?.status ?? ''}>
            <p data-testid="lm-answered-by">
              The selector picked <strong>{route.answeredName}</strong> ({route.canary ? 'canary' : 'champion'})
              {route.fellBack.length ? ` after ${route.fellBack.join(', ')}` : ''}
              {route.shadow
                ? ` · shadow ${route.shadow.model} ${route.shadow.agreed === null ? 'failed' : route.shadow.agreed ? 'agreed on the next token' : 'chose another next token'}`
                : ''}
            </p>
            <p className="text-continuation" data-testid="lm-continuation">
              {route.prompt}
              <strong>{run?.model.id === route.answeredBy ? run.text : ''}</strong>
            </p>
            {run && run.model.id === route.answeredBy && (
              <p className="hint" data-testid="lm-answer-stats">
                {run.ids.length} new tokens{run.tokensPerSecond !== null ? ` · ${run.tokensPerSecond.toFixed(1)} tokens/s` : ''} ·{' '}
                {run.status}
                {run.error ? `: ${run.error}` : ''}
              </p>
            )}
          </div>
        )}
      </div>
    </div>
  );
}

const nameOf = (id: string) => useText.getState().models.find((m) => m.id === id)?.name ?? short(id);

function Export({ models }: { models: TextModelEntry[] }) {
  const exported = useLm((s) => s.exported);
  const busy = useLm((s) => s.task) !== null;
  const candidates = models.filter((m) => m.lineage);
  const [chosen, setChosen] = useState<string | null>(null);
  const [shard, setShard] = useState('262144');
  const m = candidates.find((x) => x.id === chosen) ?? candidates[candidates.length - 1] ?? models[0];
  const n = Number(shard);
  const why =
    Number.isSafeInteger(n) && n >= 1024
      ? null
      : `the shard size must be a whole number of bytes from 1024; ${JSON.stringify(shard)} is not`;
  const canPick = typeof (window as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';
  if (!m) return null;
  return (
    <div className="lm-export" data-testid="lm-export">
      <div className="row">
        <label>
          Model{' '}
          <select value={m.id} onChange={(e) => setChosen(e.target.value)} data-testid="lm-export-select">
            {models.map((x) => (
              <option key={x.id} value={x.id}>
                {x.name}
              </option>
            ))}
          </select>
        </label>
        <label className="text-field">
          Shard size (bytes){' '}
          <input
            type="text"
            inputMode="numeric"
            value={shard}
            aria-invalid={!!why}
            onChange={(e) => setShard(e.target.value)}
            data-testid="lm-shard"
          />
        </label>
        <button disabled={busy || why !== null} onClick={() => void exportLm(m.id, n)} data-testid="lm-export-run">
          Export as a Hugging Face folder
        </button>
        {why && <span className="fail">{why}</span>}
      </div>
      {exported && (
        <div data-testid="lm-exported">
          <p className="hint">
            {exported.files.length} files; download each{canPick ? ', or save them all into a folder' : ''}:
          </p>
          <ul className="lm-files">
            {exported.files.map((f) => (
              <li key={f.name}>
                <a href={f.url} download={f.name} data-testid="lm-file">
                  {f.name}
                </a>{' '}
                <span className="hint mono">
                  {bytes(f.bytes)} · {short(f.sha256)}
                </span>
              </li>
            ))}
          </ul>
          {canPick && (
            <button onClick={() => void saveExportToFolder(exported.files)} data-testid="lm-save-folder">
              Save into a folder…
            </button>
          )}
          {exported.savedTo && <p className="ok">Saved into {exported.savedTo}.</p>}
          {exported.readBack && (
            <p className={exported.readBack.ok ? 'ok' : 'fail'} data-testid="lm-readback" data-ok={String(exported.readBack.ok)}>
              {exported.readBack.text}
            </p>
          )}
        </div>
      )}
    </div>
  );
}

function LedgerList() {
  const lines = useLm((s) => s.ledger);
  const ok = useLm((s) => s.ledgerOk);
  const signed = useLm((s) => s.ledgerSigned);
  const slot = useLm((s) => s.slot);
  return (
    <details className="lm-ledger" data-testid="lm-ledger">
      <summary>
        The {slot} slot&apos;s ledger ({ok}
        {signed && (
          <>
            ;{' '}
            <span data-testid="lm-ledger-signed" data-ok={String(signed.ok)} className={signed.ok ? 'ok' : 'fail'}>
              {signed.text}
            </span>
          </>
        )}
        )
      </summary>
      <ol start={0}>
        {lines.map((l) => (
          <li key={l.index} data-testid="lm-ledger-line" data-type={l.type}>
            {l.summary}
          </li>
        ))}
      </ol>
    </details>
  );
}

/** What the page's header shows of the lab: the slot's registry name, and whether work runs (the family switch waits). */
export interface LmLabReport {
  slot: string;
  busy: boolean;
}

export function LmLab({ onReport }: { onReport?: (r: LmLabReport) => void }) {
  const models = useText((s) => s.models);
  const phase = useLm((s) => s.phase);
  const error = useLm((s) => s.error);
  const notice = useLm((s) => s.notice);
  const task = useLm((s) => s.task);
  const slot = useLm((s) => s.slot);
  // A training run counts as work too: switching family reloads the page, which would drop it.
  const training = lmTrainRunning(useLmTrain((s) => s.status));
  useEffect(() => void openLmLab(), []);
  const busy = task !== null || training;
  useEffect(() => onReport?.({ slot, busy }), [onReport, slot, busy]);
  if (phase === 'error') return <p className="fail">{error}</p>;
  if (phase !== 'ready') return <p className="hint">Opening the language-model lab…</p>;
  return (
    <section className="lm-lab" data-testid="lm-lab" aria-labelledby="lm-lab-h">
      <h3 id="lm-lab-h">Breed, judge, admit and route (the {slot} slot)</h3>
      {models.length < 2 ? (
        <p className="hint">Store two or more models of one species (a base and a specialist) to breed them.</p>
      ) : (
        <>
          <Pool models={models} />
          <BreedForm models={models} />
        </>
      )}
      {models.length > 0 && <LmTrainPanel models={models} />}
      {task && <TaskBar task={task} />}
      {notice && (
        <p className="notice" role="status" data-testid="lm-notice">
          {notice}
        </p>
      )}
      <Candidate models={models} />
      <h4>Route a prompt</h4>
      <Route />
      <h4>Export</h4>
      <Export models={models} />
      <LedgerList />
    </section>
  );
}
