import { useGarden } from '../state.ts';
import { bytes } from '../format.ts';

export function StatusBar() {
  const backend = useGarden((s) => s.backend);
  const storage = useGarden((s) => s.storage);
  const offline = useGarden((s) => s.offlineReady);
  const inference = useGarden((s) => s.inference);
  const setInference = useGarden((s) => s.setInference);
  return (
    <div className="status" aria-label="Garden status">
      <span className={`chip ${backend?.kind === 'webgpu' ? 'ok' : 'warn'}`} data-testid="backend-chip" title={backend?.adapter}>
        {backend ? (backend.kind === 'webgpu' ? `WebGPU · ${backend.adapter}${backend.software ? ' (software)' : ''}` : 'No WebGPU: CPU kernels') : 'probing GPU…'}
      </span>
      <label className="chip" title="Where onnxruntime-web runs the models for smoke tests, evaluation and answers">
        inference{' '}
        <select value={inference} onChange={(e) => setInference(e.target.value as 'wasm' | 'webgpu')} data-testid="inference-select" className="chip-select">
          <option value="wasm">CPU (wasm)</option>
          <option value="webgpu" disabled={backend?.kind !== 'webgpu'}>WebGPU</option>
        </select>
      </label>
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
