import { defineConfig } from "vite";

// Workspace packages resolve to their TypeScript sources ("source" export condition), like in the tests, so the
// client builds without building @parley/protocol first.
export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ["source", "module", "browser", "development|production"] },
  oxc: { jsx: { runtime: "automatic" } },
  // `npm run dev -w web`: hot reload on :5173 against the gateway `npm start` runs on :8080.
  server: {
    proxy: {
      "/ws": { target: "ws://localhost:8080", ws: true },
      "/api": "http://localhost:8080",
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // The gateway's CSP forbids inline scripts and styles: keep every asset a file, never a data: URL.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
