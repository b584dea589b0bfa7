import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Integration tests run the compiled services as processes and serve the built web client: make sure `dist/`
 * folders match the sources.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const bin = (path: string) => fileURLToPath(new URL(`../../node_modules/${path}`, import.meta.url));
  execFileSync(process.execPath, [bin("typescript/bin/tsc"), "-b"], { cwd: root, stdio: "inherit" });
  // vitest sets NODE_ENV=test, which would make Vite bundle React's development build: serve what users get.
  execFileSync(process.execPath, [bin("vite/bin/vite.js"), "build", "--logLevel", "warn", "web"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NODE_ENV: "production" },
  });
}
