import { readFile } from "node:fs/promises";
import type { Socket } from "node:net";
import { CloseCode } from "@parley/protocol";
import { uniqueName, waitFor } from "@parley/testkit";
import { scrape } from "@parley/testkit/metrics";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SLOW_CONSUMER_BYTES = 256 * 1024;
const STALLED_READERS = 20;
/** Messages per flood; at 4000 characters each, ~24 MB, far beyond what the kernel buffers for a stalled socket. */
const FLOOD = 6000;
/**
 * Messages sent before waiting for the healthy reader to have them: ~200 KB, below the slow-consumer limit, so
 * the healthy reader stays within it however slowly this process or the machine runs.
 */
const BATCH = 50;
/**
 * RSS the gateway may gain from the stalled readers, measured against the same flood without them. Capped, their
 * buffers cost ~5 MB, but the heap's growth under a flood varies by tens of MB between runs (up to ~90 MB seen);
 * unbounded buffering holds most of the flood for each stalled reader (over 250 MB seen with 10 of them).
 */
const RSS_BOUND_BYTES = 160 * 1024 * 1024;

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

function socketOf(client: TestClient): Socket {
  return (client.socket as unknown as { _socket: Socket })._socket;
}

/** Readers that stop reading their sockets: closed with 4008 while the gateway's memory stays bounded. */
describe("slow consumers", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 1,
      gatewayEnv: {
        PARLEY_SLOW_CONSUMER_BYTES: String(SLOW_CONSUMER_BYTES),
        PARLEY_SHED_BYTES: String(SLOW_CONSUMER_BYTES / 4),
        PARLEY_RATE_PER_SECOND: "100000",
        PARLEY_RATE_BURST: "100000",
      },
    });
  });
  afterAll(() => stack?.stop());

  it("closes readers that stop reading with 4008, serves the others and keeps the gateway's RSS bounded", async () => {
    const gateway = stack.gateways[0];
    const pid = gateway?.service.child.pid;
    if (!gateway || pid === undefined) throw new Error("a gateway expected");
    const room = uniqueName("room");
    const body = "x".repeat(4000);
    const writer = await gateway.connect("writer");
    const healthy = await gateway.connect("healthy");
    await Promise.all([writer.join(room), healthy.join(room)]);
    async function flood(round: number) {
      const before = healthy.messages(room).length;
      for (let sent = 0; sent < FLOOD; ) {
        for (const end = sent + BATCH; sent < end; sent++)
          writer.send({ t: "send", room, cid: `${round}-${sent}`, body });
        await waitFor(() => {
          const arrived = healthy.messages(room).length - before;
          if (arrived >= sent) return true;
          const errors = writer.frames.filter((frame) => frame.t === "error").length;
          throw new Error(
            `${arrived} of ${sent}; close code ${healthy.closeCode}; ${errors} error frames at the writer`,
          );
        }, `message ${sent} of flood ${round} at the healthy reader`);
      }
    }

    await flood(1); // the same load without stalled readers, so the heap has grown to it already
    const baseline = await rssOf(pid);

    const stalled = await Promise.all(Array.from({ length: STALLED_READERS }, (_, i) => gateway.connect(`slow${i}`)));
    await Promise.all(stalled.map((client) => client.join(room)));
    for (const client of stalled) socketOf(client).pause();
    // They resume once the gateway has given up on all of them; each one's 4008 close frame waits behind what was
    // queued for it, or, when its buffer was full, until it has read enough to make room (within the idle timeout).
    const metricsPort = Number(gateway.service.readyLog.metricsPort);
    const resumed = waitFor(
      async () => (await scrape(metricsPort)).value("parley_gateway_slow_consumer_closes_total") >= STALLED_READERS,
      "a slow-consumer close for every stalled reader",
      { timeoutMs: 120_000 },
    ).then(() => {
      for (const client of stalled) socketOf(client).resume();
    });
    await flood(2);
    const growth = (await rssOf(pid)) - baseline;
    await resumed;
    expect(growth).toBeLessThan(RSS_BOUND_BYTES);
    expect(healthy.closeCode).toBeUndefined();

    for (const client of stalled) {
      expect(await client.closed()).toBe(CloseCode.SlowConsumer);
      expect(client.messages(room).length).toBeLessThan(FLOOD);
    }

    // A closed reader comes back and recovers the newest messages with since.
    const back = await gateway.connect("slow0");
    const joined = await back.join(room, stalled[0]?.messages(room).at(-1)?.seq ?? 0);
    expect(joined.seq).toBe(2 * FLOOD);
    await waitFor(() => back.messages(room).at(-1)?.seq === 2 * FLOOD, "the replay up to the latest message");
    for (const client of [writer, healthy, back]) client.close();
  });
});
