/**
 * Workers the page can lose: terminated, crashed or killed for memory, a dedicated worker fires
 * nothing, and a Comlink call to it would wait for ever. Each worker holds a Web Lock for its life
 * (workers/life.ts); the page queues for the same lock, which it is granted when the worker dies.
 * Then every call in flight rejects with WorkerDied, and the next call starts a fresh worker.
 */
import * as Comlink from 'comlink';

export class WorkerDied extends Error {
  override name = 'WorkerDied';
}

interface Living {
  alive(lock: string): Promise<void>;
}

export function supervised<T extends Living>(label: string, make: () => Worker): () => Comlink.Remote<T> {
  let current: Comlink.Remote<T> | null = null;

  function start(): Comlink.Remote<T> {
    const remote = Comlink.wrap<T>(make());
    let died!: (e: Error) => void;
    const dead = new Promise<never>((_, reject) => (died = reject));
    dead.catch(() => undefined);
    const lock = `slm-garden-worker-life:${label}:${crypto.randomUUID()}`;
    const self = new Proxy({} as Comlink.Remote<T>, {
      get: (_t, prop) =>
        prop === 'then'
          ? undefined
          : (...args: unknown[]) =>
              Promise.race([(remote as unknown as Record<string | symbol, (...a: unknown[]) => Promise<unknown>>)[prop](...args), dead]),
    });
    void (remote as unknown as Living).alive(lock).then(() =>
      navigator.locks.request(lock, () => {
        if (current === self) current = null;
        died(new WorkerDied(`the ${label} worker stopped (terminated or crashed) before it answered; the next try starts a fresh one`));
      }),
    );
    return self;
  }

  return () => (current ??= start());
}
