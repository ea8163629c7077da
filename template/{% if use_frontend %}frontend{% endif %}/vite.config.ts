import { defineConfig } from "vitest/config";

// Dev server: reachable from outside its container (compose-dev.yml publishes 127.0.0.1:5173).
// HMR's websocket uses the page's own host:port, which is right when the port is published as-is.
// Behind another port or a proxy, set VITE_HMR_CLIENT_PORT to the port the browser sees.
// File watching uses inotify, which reaches containers from Linux bind mounts and Docker Desktop's
// file sharing; only where changes are not picked up (some network/VM mounts) set VITE_USE_POLLING=true.
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
