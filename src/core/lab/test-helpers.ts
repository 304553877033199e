/** Shared fixtures for the lab tests (not imported by production code). */
import type { Policy, SlotContract } from '../manifest/kinds.ts';
import { Ledger, MemoryLedgerStore } from './ledger.ts';

export const H = (c: string): string => c.repeat(64);

/** A deterministic clock: one second per call from a fixed start. */
export function fakeClock(start = Date.UTC(2025, 0, 1)): () => string {
  let t = start;
  return () => new Date((t += 1000)).toISOString();
}

/** A small seeded generator (mulberry32). */
import { mulberry32 } from '../seeded.ts';

export const rng = mulberry32;

export function testPolicy(over: Partial<Policy> = {}): Policy {
  return {
    kind: 'policy',
    schemaVersion: 1,
    allowlist: ['blend'],
    primary: { suite: 'test', metric: 'accuracy', direction: 'max', margin: 0.01 },
    guardrails: [
      { suite: 'test', metric: 'ece', direction: 'min', tolerance: 0.02 },
      { suite: 'robust', metric: 'accuracy', direction: 'max', tolerance: 0.03 },
    ],
    ceilings: { maxBytes: 1_000_000 },
    suites: { test: H('e'), robust: H('f') },
    ...over,
  };
}

export const CONTRACT: SlotContract = { inputLength: 4, outputLength: 3, timeoutMs: 200, compare: 'argmax' };

export async function memoryLedger(): Promise<{ ledger: Ledger; store: MemoryLedgerStore }> {
  const store = new MemoryLedgerStore();
  return { ledger: await Ledger.open(store, { now: fakeClock() }), store };
}
