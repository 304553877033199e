// One place for the headers the app is served with (vite dev, vite preview, e2e server).
// connect-src 'self': no weight, input or score can leave the origin.
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'self'",
  // No page may frame the garden (clickjacking), and no form can post anywhere else.
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

export const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // Legacy browsers without frame-ancestors.
  'X-Frame-Options': 'DENY',
};

/**
 * CORS for vite's dev and preview servers: off. Vite's default answers any localhost origin with
 * Access-Control-Allow-Origin, so another local page could read the garden's files.
 */
export const CORS = false;
