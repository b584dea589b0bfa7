import { CloseCode } from "@parley/protocol";
import { uniqueName, waitFor } from "@parley/testkit";
import { Stack } from "@parley/testkit/stack";
import { type TestClient, UpgradeRefused } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** SIGTERM on a gateway under load: the drain of DESIGN.md, observed from outside the process. */
describe("gateway drain on SIGTERM", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 2,
      gatewayEnv: {
        PARLEY_DRAIN_BATCH: "5",
        PARLEY_DRAIN_INTERVAL_MS: "150",
        PARLEY_RATE_PER_SECOND: "1000",
        PARLEY_RATE_BURST: "1000",
      },
    });
  });
  afterAll(() => stack?.stop());

  it("fails readiness, refuses upgrades, closes clients with 1012 in batches, and loses no acked message", async () => {
    const [draining, other] = stack.gateways;
    if (!draining || !other) throw new Error("two gateways expected");
    const room = uniqueName("drain");
    const clients: TestClient[] = await Promise.all(
      Array.from({ length: 40 }, (_, index) => draining.connect(`d${index}`)),
    );
    const watcher = await other.connect("watcher");
    await Promise.all([...clients, watcher].map((client) => client.join(room)));

    let sending = true;
    const senders = clients.map(async (client, index) => {
      for (let count = 0; sending && client.closeCode === undefined; count++) {
        client.send({ t: "send", room, cid: `d${index}-${count}`, body: `load ${count}` });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    await waitFor(() => watcher.messages(room).length >= 200, "load flowing");

    draining.service.kill("SIGTERM");
    await waitFor(async () => (await draining.fetch("/readyz")).status === 503, "readiness to fail");
    const stillOpen = clients.filter((client) => client.closeCode === undefined).length;
    expect(stillOpen).toBeGreaterThan(0);
    await expect(draining.connect("latecomer")).rejects.toEqual(new UpgradeRefused(503));

    expect(await draining.service.exited).toBe(0);
    sending = false;
    await Promise.all(senders);
    for (const client of clients) expect(client.closeCode).toBe(CloseCode.ServiceRestart);

    const acked = clients.flatMap((client) => client.frames.filter((frame) => frame.t === "ack"));
    expect(acked.length).toBeGreaterThan(0);
    const stored = await waitFor(
      async () => {
        const ids = new Set((await stack.rows()).map((row) => row.id));
        return acked.every((ack) => ids.has(ack.id)) ? ids : undefined;
      },
      "every acked message in PostgreSQL",
      { timeoutMs: 60_000 },
    );
    expect(stored.size).toBeGreaterThanOrEqual(acked.length);
    watcher.close();
  });
});
