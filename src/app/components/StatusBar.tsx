import { useEffect, useState } from 'react';
import { useGarden } from '../state.ts';
import { bytes } from '../format.ts';
import { evalWorker } from '../workers.ts';

/** Which execution provider onnxruntime actually ran the last model on (it may drop WebGPU), asked again after each task, score and answer. */
function useLastRun(): { hash: string; ep: 'wasm' | 'webgpu' } | null {
  const tasks = useGarden((s) => s.tasks);
  const route = useGarden((s) => s.route);
  const evidence = useGarden((s) => s.evidence);
  const [last, setLast] = useState<{ hash: string; ep: 'wasm' | 'webgpu' } | null>(null);
  useEffect(() => {
    let live = true;
    evalWorker()
      .lastRun()
      .then(
        (r) => live && setLast(r),
        () => undefined,
      );
    return () => {
      live = false;
    };
  }, [tasks, route, evidence]);
  return last;
}

export function StatusBar() {
  const backend = useGarden((s) => s.backend);
  const storage = useGarden((s) => s.storage);
  const offline = useGarden((s) => s.offlineReady);
  const inference = useGarden((s) => s.inference);
  const setInference = useGarden((s) => s.setInference);
  const lastRun = useLastRun();
  return (
    <div className="status" aria-label="Garden status">
      <span className={`chip ${backend?.kind === 'webgpu' ? 'ok' : 'warn'}`} data-testid="backend-chip" title={backend?.adapter}>
        {backend
          ? backend.kind === 'webgpu'
            ? `WebGPU · ${backend.adapter}${backend.software ? ' (software)' : ''}`
            : 'No WebGPU: CPU kernels'
          : 'probing GPU…'}
      </span>
      <label className="chip" title="Where onnxruntime-web runs the models for smoke tests, evaluation and answers">
        inference{' '}
        <select
          value={inference}
          onChange={(e) => setInference(e.target.value as 'wasm' | 'webgpu')}
          data-testid="inference-select"
          className="chip-select"
        >
          <option value="wasm">CPU (wasm)</option>
          <option value="webgpu" disabled={backend?.kind !== 'webgpu'}>
            WebGPU
          </option>
        </select>
      </label>
      {lastRun && (
        <span
          className="chip"
          data-testid="inference-ran-on"
          data-ep={lastRun.ep}
          title={`the last model run (${lastRun.hash.slice(0, 10)}) ran on this onnxruntime execution provider`}
        >
          ran on {lastRun.ep === 'webgpu' ? 'WebGPU' : 'CPU (wasm)'}
        </span>
      )}
      <span className={`chip ${offline ? 'ok' : ''}`} data-testid="offline-chip">
        {offline ? 'Works offline' : 'Caching for offline…'}
      </span>
      {storage && (
        <span className="chip" data-testid="storage-chip" title={`${bytes(storage.savedBytes)} saved by sharing identical tensors`}>
          {bytes(storage.storedBytes)} of tensors · {bytes(storage.usage)} used of {bytes(storage.quota)}
          {storage.persisted ? ' · persistent' : ''}
        </span>
      )}
    </div>
  );
}
