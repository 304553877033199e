/** The breed form to and from a mergekit YAML config (src/app/recipe-yaml.ts). */
import { useRef, useState } from 'react';
import { formAsMergekit, loadMergekit } from '../recipe-yaml.ts';
import { saveFile } from '../save.ts';

export function MergekitYaml() {
  const input = useRef<HTMLInputElement>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const download = () => {
    try {
      saveFile('recipe.yml', new TextEncoder().encode(formAsMergekit()), 'application/yaml');
      setMessage({ ok: true, text: 'Saved recipe.yml: mergekit-yaml runs it on the models’ downloaded .slm files.' });
    } catch (e) {
      setMessage({ ok: false, text: `Not saved: ${(e as Error).message}` });
    }
  };
  const load = async (file: File | undefined) => {
    if (!file) return;
    try {
      setMessage({ ok: true, text: `Loaded ${file.name}: ${loadMergekit(await file.text())}.` });
    } catch (e) {
      setMessage({ ok: false, text: `${file.name} not loaded: ${(e as Error).message}` });
    }
    if (input.current) input.current.value = '';
  };
  return (
    <div className="row" data-testid="mergekit-yaml">
      <button onClick={download} data-testid="mergekit-download">
        Save as mergekit YAML
      </button>
      <button onClick={() => input.current?.click()} data-testid="mergekit-load">
        Load a mergekit YAML…
      </button>
      <input
        ref={input}
        type="file"
        accept=".yml,.yaml"
        hidden
        aria-label="mergekit YAML config"
        data-testid="mergekit-file"
        onChange={(e) => void load(e.target.files?.[0])}
      />
      {message && (
        <span role="status" className={message.ok ? 'hint' : 'fail'} data-testid="mergekit-message">
          {message.text}
        </span>
      )}
    </div>
  );
}
