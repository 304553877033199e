/// <reference lib="webworker" />
// Web Worker entry of the CPU pool (module worker). Needs a cross-origin isolated page.
import { runJob } from './worker-body.ts';
import type { RangeJob } from './protocol.ts';

const scope = self as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = (e: MessageEvent<RangeJob>) => scope.postMessage(runJob(e.data));
scope.postMessage('ready');
