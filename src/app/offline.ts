/**
 * The service worker's precache holds onnxruntime's 27 MiB wasm. On a first visit the page waits
 * until that worker controls it before starting onnxruntime, so the wasm is fetched once (by the
 * precache) and the evaluator's request is answered from the cache, instead of twice over the
 * wire. Where there is no service worker (unsupported, blocked, or its registration failed), it
 * does not wait.
 */
let settle: () => void = () => {};
const controlled = new Promise<void>((resolve) => {
  settle = resolve;
});

/** Called once by main.tsx with the registration's outcome. */
export function watchServiceWorker(registration: ServiceWorkerRegistration | undefined): void {
  const sw = typeof navigator !== 'undefined' ? navigator.serviceWorker : undefined;
  if (!sw || !registration || sw.controller) return settle();
  sw.addEventListener('controllerchange', () => settle(), { once: true });
  // A failed install (the precache could not be stored: quota, a network error) makes the new
  // worker redundant, and nothing will take control: do not wait for it.
  const pending = registration.installing ?? registration.waiting;
  pending?.addEventListener('statechange', () => pending.state === 'redundant' && settle());
  if (!pending && !registration.active) settle();
}

/** No service worker here (or it failed to register): nothing to wait for. */
export function noServiceWorker(): void {
  settle();
}

/** Resolves when the page is controlled by the service worker, or after `timeoutMs` at most. */
export function whenShellCached(timeoutMs = 60_000): Promise<void> {
  return Promise.race([controlled, new Promise<void>((resolve) => setTimeout(resolve, timeoutMs))]);
}
