import { useEffect, useState } from 'react';
import { useGarden } from './state.ts';
import { kernelWorker } from './workers.ts';
import { APP_FAMILY, initGarden, SLOT } from './garden.ts';
import { chosenFamilyId, FAMILY_CHOICES, LM_FAMILY, switchFamily } from './family.ts';
import { MailPlayground } from './components/MailPlayground.tsx';
import { deleteGarden, rawLedger } from './repo.ts';
import { saveFile } from './save.ts';
import { StatusBar } from './components/StatusBar.tsx';
import { ParentPool } from './components/ParentPool.tsx';
import { BreedPanel } from './components/BreedPanel.tsx';
import { CandidatePanel } from './components/CandidatePanel.tsx';
import { SharePanel } from './components/SharePanel.tsx';
import { RoutePanel } from './components/RoutePanel.tsx';
import { LedgerPanel } from './components/LedgerPanel.tsx';
import { ReleasePanel } from './components/ReleasePanel.tsx';
import { OperatorVisual } from './components/OperatorVisual.tsx';
import { ImportPanel } from './components/ImportPanel.tsx';
import { AllelePanel } from './components/AllelePanel.tsx';
import { ExitCheckPanel } from './components/ExitCheckPanel.tsx';
import { LineageGraph } from './components/LineageGraph.tsx';
import { ParetoView } from './components/ParetoView.tsx';
import { StoragePanel } from './components/StoragePanel.tsx';
import { TrainPanel } from './components/TrainPanel.tsx';
import { MailTrainPanel } from './components/MailTrainPanel.tsx';
import { TextSection } from './components/TextSection.tsx';

/** The family this page works on: a classifier garden (garden.ts), or the language-model family's page. */
const FAMILY_ID = chosenFamilyId();
const LM_PAGE = FAMILY_ID === LM_FAMILY.id;

export function App() {
  // The LM page's slot name and work, as its lab reports them (the lab loads with its page, not here).
  const [lm, setLm] = useState<{ slot: string; busy: boolean }>({ slot: LM_FAMILY.slot, busy: false });
  const phase = useGarden((s) => s.phase);
  const error = useGarden((s) => s.error);
  const notice = useGarden((s) => s.notice);
  const dismiss = useGarden((s) => s.dismissNotice);
  const base = useGarden((s) => s.models.find((m) => m.role === 'base')?.family);
  const family = LM_PAGE ? LM_FAMILY.id : base;
  const slot = LM_PAGE ? lm.slot : SLOT;
  // Switching opens the other family's garden (a reload): not while this one breeds or evaluates.
  const gardenBusy = useGarden((s) => !!s.tasks.breed || !!s.tasks.evaluate);
  const busy = LM_PAGE ? lm.busy : gardenBusy;
  useEffect(() => {
    if (!LM_PAGE) void initGarden();
    // The LM page opens no classifier garden; the status bar still says which backend this machine has.
    else
      void kernelWorker()
        .probe()
        .then((backend) => useGarden.setState({ backend }));
  }, []);

  return (
    <div className="app">
      <header className="top">
        <div className="brand">
          <img src="/icons/icon.svg" alt="" width={36} height={36} />
          <div>
            <h1>SLM Garden</h1>
            <p className="tagline">Breed, evaluate and route small models on this machine. Nothing leaves it.</p>
            <div className="where-row">
              {family && (
                <p className="where" data-testid="family-slot">
                  Family <strong>{family}</strong> · slot <strong>{slot}</strong>
                </p>
              )}
              <label className="family-switch">
                Work on{' '}
                <select
                  value={FAMILY_ID}
                  onChange={(e) => switchFamily(e.target.value)}
                  data-testid="family-switch"
                  disabled={busy}
                  aria-describedby={busy ? 'family-switch-why' : undefined}
                  aria-label="Family to work on (opens its own garden)"
                >
                  {FAMILY_CHOICES.map((f) => (
                    <option key={f.id} value={f.id}>
                      {f.label}
                    </option>
                  ))}
                </select>
              </label>
              {busy && (
                <span className="hint" id="family-switch-why" data-testid="family-switch-why">
                  switch when the breed, evaluation or training in progress ends
                </span>
              )}
            </div>
          </div>
        </div>
        <StatusBar />
      </header>
      {notice && (
        <div className="notice" role="status">
          <span>{notice}</span>
          <button className="link" onClick={dismiss} aria-label="Dismiss">
            ×
          </button>
        </div>
      )}
      {LM_PAGE && (
        <main className="steps">
          <TextSection family onLab={setLm} />
        </main>
      )}
      {!LM_PAGE && phase === 'error' && (
        <div className="error-banner" role="alert" data-testid="fatal-error">
          <p>{error}</p>
          <div className="row">
            <button onClick={() => void downloadLedger()}>Download the ledger as stored</button>
            <button onClick={() => void resetGarden()} data-testid="reset-garden">
              Delete this garden and start over
            </button>
          </div>
        </div>
      )}
      {!LM_PAGE && phase === 'loading' && (
        <p className="loading" data-testid="loading">
          Opening the garden…
        </p>
      )}
      {!LM_PAGE && phase === 'ready' && (
        <main className="steps">
          <ParentPool />
          <ImportPanel />
          <BreedPanel />
          <OperatorVisual />
          {APP_FAMILY.playground === 'draw' && <TrainPanel />}
          {APP_FAMILY.playground === 'mail' && <MailTrainPanel />}
          <CandidatePanel />
          <SharePanel />
          <ReleasePanel />
          {APP_FAMILY.playground === 'draw' ? <RoutePanel /> : <MailPlayground />}
          <LedgerPanel />
          <AllelePanel />
          <ExitCheckPanel />
          <LineageGraph />
          <ParetoView />
          <StoragePanel />
          <TextSection />
        </main>
      )}
    </div>
  );
}

async function downloadLedger() {
  try {
    saveFile('ledger.json', new TextEncoder().encode(JSON.stringify({ records: await rawLedger() }, null, 2)), 'application/json');
  } catch (e) {
    alert(`The ledger could not be read: ${(e as Error).message}`);
  }
}

async function resetGarden() {
  if (!confirm('Delete every model, suite and ledger entry this garden keeps in this browser? This cannot be undone.')) return;
  try {
    await deleteGarden(APP_FAMILY.dbPrefix, (name) =>
      alert(`${name} is still open in another tab: close the garden there and the reset goes on.`),
    );
    location.reload();
  } catch (e) {
    alert((e as Error).message);
  }
}
