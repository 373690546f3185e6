import { defineConfig } from 'electron-vite';

// Main and preload run in Electron; the renderer is also what served mode sends to browsers.
export default defineConfig({
  main: {
    build: {
      rollupOptions: { input: { index: 'src/main/index.ts' } },
    },
  },
  preload: {
    build: {
      // A sandboxed preload must be CommonJS.
      rollupOptions: { input: { index: 'src/preload/index.ts' }, output: { format: 'cjs', entryFileNames: '[name].cjs' } },
    },
  },
  renderer: {
    root: 'src/renderer',
    esbuild: { jsx: 'automatic' },
    build: {
      rollupOptions: { input: { index: 'src/renderer/index.html' } },
    },
  },
});
