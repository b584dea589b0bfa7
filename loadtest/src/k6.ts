import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { toolPath } from "@parley/testkit/tools";

const K6_DIR = fileURLToPath(new URL("../k6/", import.meta.url));

/** k6's `--summary-export`: per metric, its values (count, rate, value, avg, med, p(95), p(99), …). */
export interface K6Summary {
  readonly metrics: Record<string, Record<string, number> | undefined>;
}

export interface K6Result {
  /** 0, or 99 when a threshold failed. */
  readonly code: number;
  readonly summary: K6Summary;
  /** k6's own output (its end-of-test summary, warnings). */
  readonly output: string;
}

/**
 * Runs `loadtest/k6/chat.js` with `vars` as `-e` options and waits for it; writes `summary.json`, k6's web
 * dashboard export `report.html` and its output `k6.log` into `outDir`. `started` gets k6's pid as it starts (the
 * benchmark measures k6's own CPU).
 */
export async function runK6(
  vars: Record<string, string>,
  outDir: string,
  started?: (pid: number) => void,
): Promise<K6Result> {
  await mkdir(outDir, { recursive: true });
  const args = ["run", "--quiet", "--no-usage-report", "--summary-export", `${outDir}/summary.json`];
  for (const [name, value] of Object.entries(vars)) args.push("-e", `${name}=${value}`);
  args.push(`${K6_DIR}chat.js`);
  const child = spawn(toolPath("PARLEY_K6"), args, {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      K6_WEB_DASHBOARD: "true",
      K6_WEB_DASHBOARD_PORT: "-1",
      K6_WEB_DASHBOARD_EXPORT: `${outDir}/report.html`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid !== undefined) started?.(child.pid);
  const output: string[] = [];
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  await writeFile(`${outDir}/k6.log`, output.join(""));
  const summary = JSON.parse(
    await readFile(`${outDir}/summary.json`, "utf8").catch(() => '{"metrics":{}}'),
  ) as K6Summary;
  return { code: code ?? -1, summary, output: output.join("") };
}
