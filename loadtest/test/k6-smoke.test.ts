import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Stack } from "@parley/testkit/stack";
import { toolPath } from "@parley/testkit/tools";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = `${ROOT}loadtest/k6/chat.js`;
const OUT = `${ROOT}.parley/k6-smoke`;
const CONNECTIONS = 300;

interface Summary {
  metrics: Record<string, Record<string, number>>;
}

/** The k6 suite's smoke: a few hundred connections over two gateways for ~20 s, thresholds on. */
describe("k6 smoke", () => {
  let stack: Stack;
  let k6: string;

  beforeAll(async () => {
    k6 = toolPath("PARLEY_K6");
    stack = await Stack.start({ gateways: 2 });
    await mkdir(OUT, { recursive: true });
  });
  afterAll(() => stack?.stop());

  it(`holds ${CONNECTIONS} chatting connections within the latency thresholds`, async () => {
    const gateways = stack.gateways.map((gateway) => gateway.wsUrl("").replace(/\?$/, "")).join(",");
    const child = spawn(
      k6,
      [
        "run",
        "--quiet",
        "--no-usage-report",
        "--summary-export",
        `${OUT}/summary.json`,
        "-e",
        `GATEWAYS=${gateways}`,
        "-e",
        `CONNECTIONS=${CONNECTIONS}`,
        "-e",
        "DURATION_S=15",
        SCRIPT,
      ],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          K6_WEB_DASHBOARD: "true",
          K6_WEB_DASHBOARD_PORT: "-1",
          K6_WEB_DASHBOARD_EXPORT: `${OUT}/report.html`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const output: string[] = [];
    child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    const [code] = await once(child, "exit");
    expect(code, output.join("")).toBe(0); // k6 exits 99 when a threshold fails

    const summary = JSON.parse(await readFile(`${OUT}/summary.json`, "utf8")) as Summary;
    expect(summary.metrics.parley_connect_success?.value).toBeGreaterThanOrEqual(0.99);
    expect(summary.metrics.parley_messages_sent?.count).toBeGreaterThan(CONNECTIONS);
    // Every message reaches its room's other members: far more deliveries than sends.
    expect(summary.metrics.parley_messages_received?.count).toBeGreaterThan(10 * CONNECTIONS);
    expect(summary.metrics.parley_delivery_latency?.["p(95)"]).toBeLessThan(250);
  }, 180_000);
});
