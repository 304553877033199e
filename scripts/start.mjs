// `npm start`: build the starter garden and the app, then serve the production build (the
// installed PWA, with its service worker and security headers) on localhost.
import { spawnSync, spawn } from 'node:child_process';

const PORT = process.env.PORT || '4173';
for (const [cmd, args] of [
  ['npm', ['run', '-s', 'starter']],
  ['npx', ['vite', 'build', '--logLevel', 'warn']],
]) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status || 1);
}
console.log(`\nSLM Garden is served at http://127.0.0.1:${PORT}/  (Ctrl+C to stop)\n`);
const server = spawn('npx', ['vite', 'preview', '--port', PORT, '--strictPort', '--host', '127.0.0.1'], { stdio: 'inherit' });
server.on('exit', (code) => process.exit(code ?? 0));
