import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { registerSW } from 'virtual:pwa-register';
import { App } from './App.tsx';
import { useGarden } from './state.ts';
import { noServiceWorker, watchServiceWorker } from './offline.ts';
import './styles.css';

// The service worker precaches the app shell, onnxruntime's wasm and the starter garden.
if ('serviceWorker' in navigator) {
  registerSW({
    immediate: true,
    onOfflineReady: () => useGarden.getState().setOfflineReady(true),
    onRegisteredSW: (_url, reg) => {
      if (reg?.active) useGarden.getState().setOfflineReady(true);
      watchServiceWorker(reg);
    },
    onRegisterError: noServiceWorker,
  });
} else noServiceWorker();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
