import { fileURLToPath } from "node:url";
import { Stack } from "@parley/testkit/stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runK6 } from "../src/k6.js";

const OUT = fileURLToPath(new URL("../../.parley/k6-smoke", import.meta.url));
const CONNECTIONS = 300;

/**
 * The k6 suite's smoke: a few hundred connections over two gateways for ~20 s, thresholds on. The test suite shares
 * two cores with every service and other test files, so its latency thresholds catch a stall, not a miss of the
 * SLO: the SLO's own thresholds (the script's defaults) are held in the benchmarks (docs/benchmarks.md).
 */
const STALL_MS = { P95_MS: "2000", P99_MS: "5000", ACK_P99_MS: "5000" };

describe("k6 smoke", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({ gateways: 2 });
  });
  afterAll(() => stack?.stop());

  it(`holds ${CONNECTIONS} chatting connections without a gap, an error or a stall`, async () => {
    const result = await runK6(
      {
        TARGETS: stack.gateways.map((gateway) => gateway.wsEndpoint).join(","),
        CONNECTIONS: String(CONNECTIONS),
        DURATION_S: "15",
        ...STALL_MS,
      },
      OUT,
    );
    expect(result.code, result.output).toBe(0); // k6 exits 99 when a threshold fails

    const { metrics } = result.summary;
    expect(metrics.chat_connect_success?.value).toBeGreaterThanOrEqual(0.99);
    expect(metrics.chat_messages_sent?.count).toBeGreaterThan(CONNECTIONS);
    // Every message reaches its room's other members: far more deliveries than sends.
    expect(metrics.chat_messages_received?.count).toBeGreaterThan(10 * CONNECTIONS);
    expect(metrics.chat_delivery_latency?.["p(95)"]).toBeLessThan(Number(STALL_MS.P95_MS));
    expect(metrics.chat_gaps?.count).toBe(0);
    expect(metrics.chat_errors?.count).toBe(0);
  }, 180_000);
});

/** The reconnect storm, small: a gateway killed mid-run and all its clients back on the other at once. */
describe("k6 reconnect storm", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({ gateways: 2 });
  });
  afterAll(() => stack?.stop());

  it("brings every client of a killed gateway back with a complete replay, no gap and no duplicate", async () => {
    const victim = stack.gateways[0];
    // Connections open over 5 s, settle 2 s, send for 15 s: the kill lands 5 s into the sends.
    const kill = setTimeout(() => victim?.service.kill("SIGKILL"), 12_000);
    try {
      const result = await runK6(
        {
          TARGETS: stack.gateways.map((gateway) => gateway.wsEndpoint).join(","),
          CONNECTIONS: String(CONNECTIONS),
          DURATION_S: "15",
          RECONNECT: "1",
          // Messages sent around the kill arrive with the replay, late by design.
          P95_MS: "60000",
          P99_MS: "60000",
          ACK_P99_MS: "60000",
        },
        `${OUT}-storm`,
      );
      expect(result.code, result.output).toBe(0);
      const { metrics } = result.summary;
      expect(metrics.chat_reconnects?.count).toBeGreaterThanOrEqual(CONNECTIONS / 2);
      expect(metrics.chat_recovered?.value).toBe(1);
      expect(metrics.chat_gaps?.count).toBe(0);
      expect(metrics.chat_duplicates?.count).toBe(0);
      expect(metrics.chat_errors?.count).toBe(0);
    } finally {
      clearTimeout(kill);
    }
  }, 180_000);
});
