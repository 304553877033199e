import { useEffect } from 'react';
import { useGarden } from './state.ts';
import { APP_FAMILY, initGarden, SLOT } from './garden.ts';
import { APP_FAMILIES, switchFamily } from './family.ts';
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

export function App() {
  const phase = useGarden((s) => s.phase);
  const error = useGarden((s) => s.error);
  const notice = useGarden((s) => s.notice);
  const dismiss = useGarden((s) => s.dismissNotice);
  const family = useGarden((s) => s.models.find((m) => m.role === 'base')?.family);
  // Switching opens the other family's garden (a reload): not while this one breeds or evaluates.
  const busy = useGarden((s) => !!s.tasks.breed || !!s.tasks.evaluate);
  useEffect(() => {
    void initGarden();
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
                  Family <strong>{family}</strong> · slot <strong>{SLOT}</strong>
                </p>
              )}
              <label className="family-switch">
                Work on{' '}
                <select
                  value={APP_FAMILY.id}
                  onChange={(e) => switchFamily(e.target.value)}
                  data-testid="family-switch"
                  disabled={busy}
                  aria-describedby={busy ? 'family-switch-why' : undefined}
                  aria-label="Family to work on (opens its own garden)"
                >
                  {APP_FAMILIES.map((f) => (
                    <option key={f.id} value={f.id}>
                      {f.label}
                    </option>
                  ))}
                </select>
              </label>
              {busy && (
                <span className="hint" id="family-switch-why" data-testid="family-switch-why">
                  switch when the breed or evaluation in progress ends
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
      {phase === 'error' && (
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
      {phase === 'loading' && (
        <p className="loading" data-testid="loading">
          Opening the garden…
        </p>
      )}
      {phase === 'ready' && (
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
