/**
 * The text playground's place on the page. Its code (the tokenizer library, the HF importer, the
 * decoder builder and its worker) is fetched only when the user opens it, so the digits page does
 * not pay for it on the first visit.
 *
 * On a classifier family's page it is the playground alone (bring a folder, prompt a model), with
 * a way to the language-model family; on the language-model family's page (`family`) it is open
 * from the start and carries the family's pipeline (src/app/components/LmLab.tsx).
 */
import { lazy, Suspense, useState } from 'react';
import type { LmLabReport } from './LmLab.tsx';

const TextPlayground = lazy(() => import('./TextPlayground.tsx').then((m) => ({ default: m.TextPlayground })));

export function TextSection({ family = false, onLab }: { family?: boolean; onLab?: (r: LmLabReport) => void }) {
  const [open, setOpen] = useState(family);
  return (
    <section className="step" aria-labelledby="text-h" data-testid="text-section">
      <h2 id="text-h">
        <span className="num">{family ? 'LM' : 'T'}</span>{' '}
        {family ? 'Language models: pool, breed, judge, admit, release and route' : 'Text playground'}
      </h2>
      <p className="hint">
        Bring a small language model in Hugging Face layout (Llama, Mistral, Qwen2), keep it in this browser, and read its continuation of a
        prompt as it streams. Nothing leaves this machine.
      </p>
      {open ? (
        <Suspense fallback={<p className="hint">Loading the text playground…</p>}>
          <TextPlayground lab={family} onLab={onLab} />
        </Suspense>
      ) : (
        <button onClick={() => setOpen(true)} data-testid="text-open">
          Open the text playground
        </button>
      )}
    </section>
  );
}
