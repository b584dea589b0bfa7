import { fileURLToPath } from "node:url";
import { Stack } from "@parley/testkit/stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runK6 } from "../src/k6.js";

const OUT = fileURLToPath(new URL("../../.parley/k6-smoke", import.meta.url));
const CONNECTIONS = 300;

/** The k6 suite's smoke: a few hundred connections over two gateways for ~20 s, thresholds on. */
describe("k6 smoke", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({ gateways: 2 });
  });
  afterAll(() => stack?.stop());

  it(`holds ${CONNECTIONS} chatting connections within the latency thresholds`, async () => {
    const result = await runK6(
      "chat",
      {
        TARGETS: stack.gateways.map((gateway) => gateway.wsUrl("").replace(/\?$/, "")).join(","),
        CONNECTIONS: String(CONNECTIONS),
        DURATION_S: "15",
      },
      OUT,
    );
    expect(result.code, result.output).toBe(0); // k6 exits 99 when a threshold fails

    const { metrics } = result.summary;
    expect(metrics.chat_connect_success?.value).toBeGreaterThanOrEqual(0.99);
    expect(metrics.chat_messages_sent?.count).toBeGreaterThan(CONNECTIONS);
    // Every message reaches its room's other members: far more deliveries than sends.
    expect(metrics.chat_messages_received?.count).toBeGreaterThan(10 * CONNECTIONS);
    expect(metrics.chat_delivery_latency?.["p(95)"]).toBeLessThan(250);
    expect(metrics.chat_gaps?.count).toBe(0);
    expect(metrics.chat_errors?.count).toBe(0);
  }, 180_000);
});
