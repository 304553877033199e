/**
 * A worker's sign of life for the page that started it: the worker holds a Web Lock for as long
 * as it runs. A terminated or crashed worker releases its locks, so the page, waiting on the same
 * lock, learns of the death at once, even while the worker was busy in a kernel (src/app/worker-life.ts).
 */
export function holdLife(lock: string): Promise<void> {
  return new Promise((resolve) => {
    void navigator.locks.request(lock, () => {
      resolve();
      return new Promise<never>(() => undefined);
    });
  });
}
