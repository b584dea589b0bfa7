import { randomUUID } from "node:crypto";
import { uniqueName, waitFor } from "@parley/testkit";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";

/** Two gateway processes on one Redis, Kafka and PostgreSQL, with a persister: the core path end to end. */
describe("two gateways", () => {
  let stack: Stack;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 2,
      gatewayEnv: { PARLEY_RATE_PER_SECOND: "100000", PARLEY_RATE_BURST: "100000" },
    });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await stack?.stop();
  });

  async function connect(gateway: number, user: string): Promise<TestClient> {
    const client = await (stack.gateways[gateway] ?? stack.gateways[0])?.connect(user);
    if (!client) throw new Error("no gateway");
    clients.push(client);
    return client;
  }

  function expectGapFree(seqs: number[]): void {
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => (seqs[0] ?? 1) + index));
  }

  it("lets clients on different gateways chat, in gap-free seq order, with acks", async () => {
    const room = uniqueName("room");
    const [alice, bob] = await Promise.all([connect(0, "alice"), connect(1, "bob")]);
    await Promise.all([alice.join(room), bob.join(room)]);
    for (let index = 0; index < 20; index++) {
      (index % 2 ? bob : alice).send({ t: "send", room, cid: `c${index}`, body: `message ${index}` });
    }
    for (const client of [alice, bob]) {
      await waitFor(() => client.messages(room).length === 20, "20 messages on each client");
      expectGapFree(client.messages(room).map((message) => message.seq));
      expect(client.messages(room)[0]?.seq).toBe(1);
    }
    const acks = () => [...alice.frames, ...bob.frames].filter((frame) => frame.t === "ack");
    await waitFor(() => acks().length === 20, "an ack for each send");
    const bySeq = new Map(alice.messages(room).map((message) => [message.seq, message]));
    for (const ack of acks()) expect(bySeq.get(ack.seq)).toMatchObject({ id: ack.id, cid: ack.cid });
    expect(alice.messages(room).map((m) => m.body)).toEqual(bob.messages(room).map((m) => m.body));
  });

  it("takes a send the moment its `joined` arrives", async () => {
    const room = uniqueName("room");
    // Raw sockets, so each send leaves in the same tick its `joined` is read.
    const answers = await Promise.all(
      Array.from(
        { length: 40 },
        (_, index) =>
          new Promise<string>((resolve, reject) => {
            const socket = new WebSocket(stack.gateways[index % 2]?.wsUrl(`user=eager${index}`) ?? "");
            socket.on("open", () => socket.send(JSON.stringify({ t: "join", room })));
            socket.on("message", (data) => {
              const frame = JSON.parse(String(data)) as { t: string; code?: string };
              if (frame.t === "joined") socket.send(JSON.stringify({ t: "send", room, cid: `c${index}`, body: "hi" }));
              if (frame.t !== "ack" && frame.t !== "error") return;
              resolve(frame.code ?? frame.t);
              socket.close();
            });
            socket.on("error", reject);
          }),
      ),
    );
    // `unavailable` (a slow Kafka append) is a fair answer; `not_joined` never is.
    expect(answers.filter((answer) => answer !== "ack" && answer !== "unavailable")).toEqual([]);
  });

  it("gives a send retried with the same cid, even through the other gateway, the same seq and one row", async () => {
    const room = uniqueName("room");
    const [first, second] = await Promise.all([connect(0, "carol"), connect(1, "carol")]);
    await Promise.all([first.join(room), second.join(room)]);
    const cid = randomUUID();
    first.send({ t: "send", room, cid, body: "only once" });
    const ack = await first.next("ack", (frame) => frame.cid === cid);
    second.send({ t: "send", room, cid, body: "only once" });
    const retried = await second.next("ack", (frame) => frame.cid === cid);
    expect(retried).toEqual(ack);
    await waitFor(async () => (await stack.rows()).some((row) => row.id === ack.id), "the message in PostgreSQL");
    const rows = (await stack.rows()).filter((row) => row.room === room);
    expect(rows).toEqual([{ room, seq: ack.seq, id: ack.id }]);
    expect(first.messages(room)).toHaveLength(1);
  });

  it("stores every acked message of a 10,000-message run exactly once", async () => {
    const rooms = Array.from({ length: 8 }, () => uniqueName("bulk"));
    const senders = await Promise.all(Array.from({ length: 10 }, (_, index) => connect(index % 2, `sender${index}`)));
    await Promise.all(senders.flatMap((client) => rooms.map((room) => client.join(room))));
    const perSender = 1000;
    const acked = new Map<string, { room: string; seq: number }>();
    await Promise.all(
      senders.map(async (client, senderIndex) => {
        // Keep a bounded number of sends in flight per client, as a real client would.
        const window = 50;
        for (let sent = 0; sent < perSender; sent += window) {
          const cids = Array.from(
            { length: Math.min(window, perSender - sent) },
            (_, i) => `s${senderIndex}-${sent + i}`,
          );
          // Every window spans all rooms, so both gateways sequence in every room concurrently. A send answered
          // with `unavailable` (Kafka slow under this load) is retried with its cid, as a client must.
          const acks = await Promise.all(
            cids.map((cid, index) =>
              client.sendUntilAcked(rooms[(senderIndex + index) % rooms.length] ?? "", cid, `bulk ${cid}`),
            ),
          );
          for (const ack of acks) acked.set(ack.id, { room: ack.room, seq: ack.seq });
        }
      }),
    );
    expect(acked.size).toBe(senders.length * perSender);
    const inRooms = <T extends { room: string }>(rows: T[]) => rows.filter((row) => rooms.includes(row.room));
    const rows = await waitFor(
      async () => {
        const stored = inRooms(await stack.rows());
        return stored.length >= acked.size ? stored : undefined;
      },
      "every acked message in PostgreSQL",
      { timeoutMs: 120_000 },
    );
    expect(rows).toHaveLength(acked.size);
    for (const row of rows) expect(acked.get(row.id)).toEqual({ room: row.room, seq: row.seq });
    for (const room of rooms) {
      expectGapFree(rows.filter((row) => row.room === room).map((row) => row.seq));
    }
  });
});
