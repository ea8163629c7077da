import { defineConfig } from "vitest/config";

// Dev server. `npm run dev` on this machine serves on 5173. In `make dev` it runs in its container
// on 8080 instead (frontend/Dockerfile, stage `dev`), the port the production image serves, and
// is reached the same way: through the proxy, or on FRONTEND_PORT without one.
// HMR's websocket uses the page's own host:port (the proxy's, in `make dev`), which is right when
// it reaches the dev server; where it does not, set VITE_HMR_CLIENT_PORT to the port that does.
// File watching uses inotify: Compose Watch copies each edit into the container, where the change
// is seen like a local one. Only where changes are missed (some network/VM mounts running
// `npm run dev` directly) set VITE_USE_POLLING=true.
const hmrClientPort = Number(process.env.VITE_HMR_CLIENT_PORT) || undefined;

export default defineConfig({
  server: {
    host: "0.0.0.0",
    port: 5173,
    strictPort: true,
    hmr: hmrClientPort ? { clientPort: hmrClientPort } : undefined,
    watch: process.env.VITE_USE_POLLING === "true" ? { usePolling: true, interval: 300 } : undefined,
  },
  preview: {
    host: "0.0.0.0",
    port: 4173,
    strictPort: true,
  },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts", "scripts/**/*.test.ts"],
    restoreMocks: true,
  },
});
