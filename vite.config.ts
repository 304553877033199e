import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { VitePWA } from 'vite-plugin-pwa';
import { CORS, SECURITY_HEADERS } from './scripts/security-headers.mjs';

// The app is served with cross-origin isolation (threads, SharedArrayBuffer) and a CSP that keeps
// every request on this origin. `npm start` serves the production build with `vite preview`.
/** The starter families the app opens with: precached for the first offline reload. */
const PRECACHED_FAMILIES = ['digits'];

export default defineConfig({
  plugins: [
    react(),
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: null,
      includeAssets: ['icons/*.svg', 'icons/*.png'],
      manifest: {
        name: 'SLM Garden',
        short_name: 'Garden',
        description: 'Breed, evaluate and route small models on your own machine. Nothing leaves it.',
        theme_color: '#1f5135',
        background_color: '#f6f4ee',
        display: 'standalone',
        start_url: '.',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
        ],
      },
      workbox: {
        // The app shell, onnxruntime's wasm and the starter family the page opens with are
        // precached, so a reload with the network off still works. The other families' files
        // (models, suites, graphs) are fetched when a page first asks for them and cached then
        // (cache first: every file there is pinned by SHA-256 in the catalog).
        globPatterns: [
          '**/*.{js,mjs,css,html,svg,png,wasm,webmanifest}',
          'starter/*.json',
          ...PRECACHED_FAMILIES.map((f) => `starter/${f}/**/*.{json,onnx,slm,suite}`),
        ],
        runtimeCaching: [
          {
            urlPattern: ({ url, sameOrigin }) => sameOrigin && url.pathname.startsWith('/starter/'),
            handler: 'CacheFirst',
            options: { cacheName: 'garden-families' },
          },
        ],
        maximumFileSizeToCacheInBytes: 40 * 1024 * 1024,
        navigateFallback: 'index.html',
        cleanupOutdatedCaches: true,
      },
    }),
  ],
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 2000, assetsInlineLimit: 0 },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  // No permissive CORS (vite's default allows every localhost origin); the same headers everywhere.
  server: { headers: SECURITY_HEADERS, cors: CORS },
  preview: { headers: SECURITY_HEADERS, cors: CORS, port: 4173, strictPort: true },
});
