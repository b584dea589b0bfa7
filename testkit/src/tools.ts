import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The first build compiles the tools from source: minutes on 2 cores. Cached runs take well under a second. */
export const TOOLS_TIMEOUT_MS = 40 * 60_000;

/** What `scripts/tools.sh <what>` printed, by `what`. */
const cached = new Map<string, ReadonlyMap<string, string>>();

/** The `export NAME=value` lines that scripts/*.sh print for eval, as a map (values unescaped from printf %q). */
export function scriptExports(stdout: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const match = /^export (\w+)=(.*)$/.exec(line);
    // printf %q escapes with backslashes; the values are plain in practice.
    if (match?.[1] && match[2] !== undefined) env.set(match[1], match[2].replace(/\\(.)/g, "$1"));
  }
  return env;
}

/**
 * The Go-built tools (helm, k6, kubeconform, …): `scripts/tools.sh <build>` builds what is missing, once per machine,
 * and prints `export PARLEY_<TOOL>=<path>` lines; this returns the path printed for `name` (e.g. "PARLEY_K6").
 * `build` is what to build: `all` the test command's tools, or one that `all` leaves out (`centrifugo`).
 */
export function toolPath(name: string, build = "all"): string {
  let printed = cached.get(build);
  if (!printed) {
    const out = execFileSync(`${ROOT}scripts/tools.sh`, [build], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: TOOLS_TIMEOUT_MS,
    });
    printed = scriptExports(out);
    cached.set(build, printed);
  }
  const value = printed.get(name);
  if (!value) throw new Error(`scripts/tools.sh ${build} printed no ${name}`);
  return value;
}
