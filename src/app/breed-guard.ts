/**
 * One breed at a time per garden, across its tabs, and a breed cut off by a reload is said so.
 *
 * - Two tabs share the garden's databases; their breeds are serialised with the Web Locks API
 *   (`navigator.locks`, lock BREED_LOCK). A tab whose breed finds the lock held says it waits, and
 *   goes on when the other tab's breed has finished (Cancel stops the wait).
 * - While a breed runs, a marker in localStorage names it. A marker left when no tab holds the
 *   lock is a breed cut off (the page reloaded or closed mid-breed). The candidate is written in
 *   one IndexedDB transaction (src/store), so nothing of it was stored: there is nothing to clean
 *   up but the marker, and the user is told once.
 */
export const BREED_LOCK = 'slm-garden-breed';
const MARKER = 'slm-garden-breed-running';

let waiting: AbortController | null = null;

/** Whether this tab's breed is waiting for another tab's to finish. */
export const breedWaiting = () => waiting !== null;

/** Stop waiting for the lock (the breed then rejects with an AbortError and nothing runs). */
export function cancelBreedWait(): void {
  waiting?.abort();
}

async function marked<T>(label: string, fn: () => Promise<T>): Promise<T> {
  try {
    localStorage.setItem(MARKER, JSON.stringify({ label, at: new Date().toISOString() }));
  } catch {
    // storage disabled: a cut-off breed then goes unmentioned, and nothing else changes
  }
  try {
    return await fn();
  } finally {
    localStorage.removeItem(MARKER);
  }
}

/** Run `fn` holding the garden's breed lock; `onWait` is called once when another tab holds it. */
export async function withBreedLock<T>(label: string, onWait: () => void, fn: () => Promise<T>): Promise<T> {
  if (!navigator.locks) return marked(label, fn);
  return navigator.locks.request(BREED_LOCK, { ifAvailable: true }, async (lock) => {
    if (lock) return marked(label, fn);
    onWait();
    waiting = new AbortController();
    try {
      return await navigator.locks.request(BREED_LOCK, { signal: waiting.signal }, () => {
        waiting = null;
        return marked(label, fn);
      });
    } finally {
      waiting = null;
    }
  });
}

/** The label of a breed that was cut off (marker left, no tab breeding), cleared as it is read; null when none. */
export async function cutOffBreed(): Promise<string | null> {
  const text = localStorage.getItem(MARKER);
  if (!text) return null;
  if (navigator.locks && (await navigator.locks.query()).held?.some((l) => l.name === BREED_LOCK)) return null;
  localStorage.removeItem(MARKER);
  try {
    return String((JSON.parse(text) as { label?: unknown }).label ?? 'a breed');
  } catch {
    return 'a breed';
  }
}

/** The notice for a breed whose WebGPU device was lost part way (the rest ran on the CPU reference); null otherwise. */
export function deviceLostNote(adapter: string): string | null {
  return /device lost/i.test(adapter)
    ? 'The WebGPU device was lost during this breed: the tensors after it ran on the CPU reference (the receipt names it); the next breed asks for a fresh device.'
    : null;
}
