// Serves e2e/harness/blank.html on localhost (a secure context, so navigator.gpu exists) for the
// kernel conformance tests when they run without the built app (playwright.kernels.config.ts).
import http from 'node:http';
import { readFileSync } from 'node:fs';

const port = Number(process.argv[2] ?? 4317);
const html = readFileSync(new URL('./blank.html', import.meta.url));
http
  .createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  })
  .listen(port, '127.0.0.1', () => console.log(`kernel harness page on http://127.0.0.1:${port}/`));
