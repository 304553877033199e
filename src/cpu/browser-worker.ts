/// <reference lib="webworker" />
// Web Worker entry of the CPU pool (module worker). Needs a cross-origin isolated page.
import { runJob } from './worker-body.ts';
import type { WorkerMessage } from './protocol.ts';

const scope = self as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = (e: MessageEvent<WorkerMessage>) => {
  const reply = runJob(e.data);
  if (reply) scope.postMessage(reply);
};
scope.postMessage('ready');
