import { uniqueName, waitFor } from "@parley/testkit";
import { serviceCtl } from "@parley/testkit/services";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

type Ack = { seq: number; id: string };

/**
 * The fault matrix: each fault under steady sends across two gateways. Senders retry with the same cid until
 * acked, as clients must; afterwards every acked message is in PostgreSQL exactly once and every reader's view,
 * after a join with `since`, is gap-free. (Gateway SIGKILL and Redis data loss have their own files.)
 */
describe("fault matrix", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 2,
      gatewayEnv: { PARLEY_RATE_PER_SECOND: "1000", PARLEY_RATE_BURST: "1000", PARLEY_APPEND_TIMEOUT_MS: "3000" },
    });
  });
  afterAll(async () => {
    // Leave the services up for whoever runs next, whatever a failed case did.
    await Promise.all([serviceCtl("start", "postgres"), serviceCtl("start", "kafka")]);
    await stack?.stop();
  });

  /** Sends one message after another until stopped, each retried with its cid until acked. */
  function steadySender(client: TestClient, room: string, name: string) {
    const acks: Ack[] = [];
    let running = true;
    const done = (async () => {
      for (let index = 0; running; index++) {
        const answer = await client.sendUntilAcked(room, `${name}-${index}`, `${name} ${index}`, {
          timeoutMs: 120_000,
        });
        acks.push({ seq: answer.seq, id: answer.id });
      }
    })();
    return {
      acks,
      stop: async () => {
        running = false;
        await done;
      },
    };
  }

  /**
   * After a fault: waits for 20 more acks, stops the senders, and checks that every acked message is stored once
   * under its seq, printing the counts. Returns what was acked.
   */
  async function storedOnce(name: string, room: string, senders: readonly { acks: Ack[]; stop(): Promise<void> }[]) {
    const ackedAtRecovery = senders.reduce((sum, sender) => sum + sender.acks.length, 0);
    await waitFor(
      () => senders.reduce((sum, sender) => sum + sender.acks.length, 0) >= ackedAtRecovery + 20,
      "traffic after the fault",
      { timeoutMs: 60_000 },
    );
    await Promise.all(senders.map((sender) => sender.stop()));

    const acked = senders.flatMap((sender) => sender.acks);
    expect(new Set(acked.map((ack) => ack.seq)).size).toBe(acked.length);
    const stored = await waitFor(
      async () => {
        const rows = (await stack.rows()).filter((row) => row.room === room);
        return acked.every((ack) => rows.some((row) => row.id === ack.id)) ? rows : undefined;
      },
      "every acked message in PostgreSQL",
      { timeoutMs: 90_000 },
    );
    const lost = acked.filter((ack) => !stored.some((row) => row.id === ack.id)).length;
    const duplicated = stored.length - new Set(stored.map((row) => row.id)).size;
    console.info(`${name}: ${acked.length} acked, ${stored.length} stored, ${lost} lost, ${duplicated} duplicated`);
    expect(duplicated).toBe(0);
    for (const ack of acked) expect(stored.find((row) => row.id === ack.id)?.seq).toBe(ack.seq);
    return acked;
  }

  const faults: [string, () => Promise<void>][] = [
    [
      "persister SIGKILL",
      async () => {
        stack.persister?.kill("SIGKILL");
        await stack.persister?.exited;
        await stack.startPersister();
      },
    ],
    [
      "PostgreSQL outage of 20 s",
      async () => {
        await serviceCtl("stop", "postgres");
        await new Promise((resolve) => setTimeout(resolve, 20_000)); // the outage itself
        await serviceCtl("start", "postgres");
      },
    ],
    ["Kafka broker restart", () => serviceCtl("restart", "kafka")],
    [
      "persister flapping: killed three times, 2 s apart",
      async () => {
        for (let round = 0; round < 3; round++) {
          stack.persister?.kill("SIGKILL");
          await stack.persister?.exited;
          await stack.startPersister();
          await new Promise((resolve) => setTimeout(resolve, 2_000));
        }
      },
    ],
  ];

  it("fails readiness while Kafka is down and recovers once an append succeeds", async () => {
    const gateway = stack.gateways[0];
    if (!gateway) throw new Error("a gateway expected");
    const room = uniqueName("ready");
    const client = await gateway.connect("probe");
    await client.join(room);
    expect((await gateway.fetch("/readyz")).status).toBe(200);
    await serviceCtl("stop", "kafka");
    try {
      client.send({ t: "send", room, cid: "during", body: "kafka is down" });
      const refused = await client.next("error", (frame) => frame.cid === "during", { timeoutMs: 30_000 });
      expect(refused.code).toBe("unavailable");
      expect((await gateway.fetch("/readyz")).status).toBe(503);
    } finally {
      await serviceCtl("start", "kafka");
    }
    await waitFor(
      async () => {
        const from = client.frames.length;
        client.send({ t: "send", room, cid: "during", body: "kafka is down" });
        const answer = await client
          .next("ack", (f) => f.cid === "during", { from, timeoutMs: 5_000 })
          .catch(() => false);
        return answer;
      },
      "the retried send acked",
      { timeoutMs: 90_000 },
    );
    expect((await gateway.fetch("/readyz")).status).toBe(200);
    client.close();
  });

  it("both gateways killed: clients move to new ones and resend; every acked message stored once", async () => {
    const room = uniqueName("fault");
    /** A client that sends until stopped; when its gateway dies it connects to a live one, rejoins and resends. */
    function resilientSender(name: string) {
      const acks: Ack[] = [];
      let running = true;
      const live = () => stack.gateways.filter((gateway) => gateway.service.child.exitCode === null);
      const connect = async () => {
        for (;;) {
          const [gateway] = live().slice(-1);
          try {
            if (!gateway) throw new Error("no live gateway");
            const client = await gateway.connect(name);
            await client.join(room);
            return client;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }
      };
      const done = (async () => {
        let client = await connect();
        for (let index = 0; running; index++) {
          for (;;) {
            try {
              const answer = await client.sendUntilAcked(room, `${name}-${index}`, `${name} ${index}`, {
                timeoutMs: 3_000,
              });
              acks.push({ seq: answer.seq, id: answer.id });
              await new Promise((resolve) => setTimeout(resolve, 20));
              break;
            } catch {
              if (client.closeCode === undefined) continue; // slow, not gone: the same cid again
              client = await connect();
            }
          }
        }
        client.close();
      })();
      return {
        acks,
        stop: async () => {
          running = false;
          await done;
        },
      };
    }
    const senders = ["a", "b", "c", "d"].map((name) => resilientSender(`sender-${name}`));
    await waitFor(() => senders.every((sender) => sender.acks.length >= 10), "steady traffic");
    const killed = stack.gateways.splice(0);
    for (const gateway of killed) gateway.service.kill("SIGKILL");
    await Promise.all(killed.map((gateway) => gateway.service.exited));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await Promise.all([stack.startGateway(), stack.startGateway()]);
    await storedOnce("both gateways killed", room, senders);
  });

  it.each(faults)("%s: every acked message stored once, every view gap-free", async (name, fault) => {
    const [a, b] = stack.gateways;
    if (!a || !b) throw new Error("two gateways expected");
    const room = uniqueName("fault");
    const [senderA, senderB, readerA, readerB] = await Promise.all([
      a.connect("sender-a"),
      b.connect("sender-b"),
      a.connect("reader-a"),
      b.connect("reader-b"),
    ]);
    await Promise.all([senderA, senderB, readerA, readerB].map((client) => client.join(room)));
    const senders = [steadySender(senderA, room, "a"), steadySender(senderB, room, "b")];
    await waitFor(() => senders.every((sender) => sender.acks.length >= 20), "steady traffic");

    await fault();
    const acked = await storedOnce(name, room, senders);

    const latest = Math.max(...acked.map((ack) => ack.seq));
    for (const reader of [readerA, readerB]) {
      // The reader recovers whatever it missed, then its view must hold every seq exactly once.
      const seen = reader.messages(room).map((message) => message.seq);
      const contiguous = seen.sort((x, y) => x - y).findIndex((seq, index) => seq !== index + 1);
      const since = contiguous === -1 ? seen.length : contiguous;
      await reader.join(room, since);
      await waitFor(() => new Set(reader.messages(room).map((m) => m.seq)).size >= latest, "a complete view");
      const view = [...new Set(reader.messages(room).map((message) => message.seq))].sort((x, y) => x - y);
      expect(view.slice(0, latest)).toEqual(Array.from({ length: latest }, (_, index) => index + 1));
    }
    for (const client of [senderA, senderB, readerA, readerB]) client.close();
  });
});
