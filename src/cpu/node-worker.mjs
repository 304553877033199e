// Node worker_threads entry of the CPU pool: loads the TypeScript body through tsx.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { runJob } = await import('./worker-body.ts');
parentPort.on('message', (msg) => {
  const reply = runJob(msg);
  if (reply) parentPort.postMessage(reply);
});
parentPort.postMessage('ready');
