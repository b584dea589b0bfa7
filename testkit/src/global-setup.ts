import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Integration tests run the compiled services as processes: make sure `dist/` matches the sources. */
export default function setup(): void {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url)), "-b"],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
}
