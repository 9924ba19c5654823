import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// Built into dist/viewer and served by Augur at `/` (server/http/viewer.ts). Absolute asset
// URLs: deep links such as /runs/<id>/steps/3 load the same index.html.
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/viewer', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // Everything is Augur's own: no inline data for fonts or images that the CSP would have to allow.
    assetsInlineLimit: 0,
    sourcemap: true,
    chunkSizeWarningLimit: 600,
  },
});
