/**
 * Exporting a model's .slm with progress and Cancel: the file is rebuilt from the store one tensor
 * at a time (the safetensors stream writer over the model's stored metadata, so its bytes are
 * those it was stored from), hashed as it goes and checked against the model's hash. Cancel stops
 * before the next tensor is read; nothing leaves, so a cancelled export downloads nothing.
 */
import { writeSafetensorsStream } from '../core/format/safetensors.ts';
import type { ModelTensors } from '../core/format/slm.ts';
import { sha256Stream } from '../core/hash.ts';
import type { ModelEntry } from './state.ts';

/** Bytes of the export in progress written so far, of its file; `startedAt` (performance.now()) gives its ETA. */
export interface ExportProgress {
  done: number;
  total: number;
  model: string;
  startedAt: number;
}

export class ExportCancelled extends Error {
  override name = 'ExportCancelled';
  constructor() {
    super('The export was cancelled: nothing was downloaded.');
  }
}

/**
 * A model's .slm rebuilt from `repo`, tensor by tensor, checked against its hash. `onRead` hears
 * the bytes written so far after each piece; `stop` is asked before each tensor and at the end,
 * and ExportCancelled is thrown when it says so.
 */
export async function readModelFile(
  repo: { modelTensors(modelId: string): Promise<ModelTensors> },
  m: ModelEntry,
  onRead?: (done: number) => void,
  stop: () => boolean = () => false,
): Promise<{ name: string; bytes: Uint8Array }> {
  if (!m.metadata) throw new Error(`${m.name} was stored without its file metadata; it cannot be rebuilt byte for byte`);
  const model = await repo.modelTensors(m.id);
  const read = (name: string) => {
    if (stop()) throw new ExportCancelled();
    return model.read(name);
  };
  const parts: Uint8Array[] = [];
  const h = sha256Stream();
  let done = 0;
  for await (const b of writeSafetensorsStream(model.tensors, read, m.metadata)) {
    parts.push(b);
    h.update(b);
    done += b.length;
    onRead?.(done);
  }
  if (stop()) throw new ExportCancelled();
  if (h.digestHex() !== m.hash) throw new Error(`${m.name} rebuilt from the store does not match its hash ${m.hash.slice(0, 12)}`);
  const out = new Uint8Array(done);
  let at = 0;
  for (const b of parts) {
    out.set(b, at);
    at += b.length;
  }
  return { name: `${m.id}.slm`, bytes: out };
}
