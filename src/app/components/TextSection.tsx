/**
 * The text playground's place on the page. Its code (the tokenizer library, the HF importer, the
 * decoder builder and its worker) is fetched only when the user opens it, so the digits page does
 * not pay for it on the first visit.
 */
import { lazy, Suspense, useState } from 'react';

const TextPlayground = lazy(() => import('./TextPlayground.tsx').then((m) => ({ default: m.TextPlayground })));

export function TextSection() {
  const [open, setOpen] = useState(false);
  return (
    <section className="step" aria-labelledby="text-h" data-testid="text-section">
      <h2 id="text-h">
        <span className="num">T</span> Text playground
      </h2>
      <p className="hint">
        Bring a small language model in Hugging Face layout (Llama, Mistral, Qwen2), keep it in this browser, and read its continuation of a
        prompt as it streams. Nothing leaves this machine.
      </p>
      {open ? (
        <Suspense fallback={<p className="hint">Loading the text playground…</p>}>
          <TextPlayground />
        </Suspense>
      ) : (
        <button onClick={() => setOpen(true)} data-testid="text-open">
          Open the text playground
        </button>
      )}
    </section>
  );
}
