// `vite build` needs nothing for wsguard. The dev server does: its dependency
// pre-bundling moves wsguard.js into node_modules/.vite/deps/ without the .wasm its
// glue loads with `new URL("wsguard_bg.wasm", import.meta.url)` (the page then gets
// index.html instead of the wasm). Excluding wsguard serves it from its package.
import { defineConfig } from "vite";

export default defineConfig({
  optimizeDeps: { exclude: ["wsguard"] },
});
