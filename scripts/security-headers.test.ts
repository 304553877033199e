/**
 * The headers the garden is served with, checked on a real `vite preview` and `vite` dev server
 * built from vite.config.ts (what `npm start` and the e2e tests run): CSP with frame-ancestors and
 * form-action, nosniff, no-referrer, cross-origin isolation, and no CORS for another origin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer, preview, type PreviewServer, type ViteDevServer } from 'vite';
import { CSP } from './security-headers.mjs';

const root = resolve(__dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'garden-headers-'));
writeFileSync(join(out, 'index.html'), '<!doctype html><title>garden</title>');
let server: PreviewServer;
let dev: ViteDevServer;

beforeAll(async () => {
  server = await preview({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'silent',
    build: { outDir: out },
    preview: { port: 0, strictPort: false, host: '127.0.0.1' },
  });
  dev = await createServer({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'silent',
    server: { port: 0, strictPort: false, host: '127.0.0.1', hmr: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await dev.listen();
});

afterAll(async () => {
  await server?.close();
  await dev?.close();
  rmSync(out, { recursive: true, force: true });
});

function address(s: { resolvedUrls: { local: string[] } | null }): string {
  return s.resolvedUrls!.local[0];
}

const directives = (csp: string) =>
  new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([k, ...v]) => [k, v.join(' ')]),
  );

describe.each([
  ['vite preview (npm start)', () => address(server)],
  ['vite dev server', () => address(dev)],
])('%s', (_name, url) => {
  it('sends the hardened headers and keeps cross-origin isolation', async () => {
    const res = await fetch(url(), { headers: { Origin: 'http://localhost:9999' } });
    expect(res.status).toBe(200);
    const csp = directives(res.headers.get('content-security-policy') ?? '');
    expect(csp.get('frame-ancestors')).toBe("'none'");
    expect(csp.get('form-action')).toBe("'self'");
    expect(csp.get('connect-src')).toBe("'self'");
    expect(csp.get('default-src')).toBe("'self'");
    expect(res.headers.get('content-security-policy')).toBe(CSP);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });

  it('answers no other origin with CORS, for a plain request or a preflight', async () => {
    for (const origin of ['http://localhost:9999', 'http://127.0.0.1:1234', 'https://evil.example']) {
      const get = await fetch(url(), { headers: { Origin: origin } });
      expect(get.headers.get('access-control-allow-origin')).toBe(null);
      const pre = await fetch(url(), { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' } });
      expect(pre.headers.get('access-control-allow-origin')).toBe(null);
    }
  });
});
