import { uniqueName, waitFor } from "@parley/testkit";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** A gateway killed with SIGKILL under load: its clients move to another gateway and recover with `since`. */
describe("gateway failover", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 2,
      gatewayEnv: { PARLEY_RATE_PER_SECOND: "1000", PARLEY_RATE_BURST: "1000" },
    });
  });
  afterAll(() => stack?.stop());

  it("lets the dead gateway's clients recover a gap-free view elsewhere, and loses no acked message", async () => {
    const [doomed, survivor] = stack.gateways;
    if (!doomed || !survivor) throw new Error("two gateways expected");
    const room = uniqueName("room");
    const users = Array.from({ length: 5 }, (_, index) => `f${index}`);
    const before: TestClient[] = await Promise.all(users.map((user) => doomed.connect(user)));
    const speaker = await survivor.connect("speaker");
    await Promise.all([...before, speaker].map((client) => client.join(room)));

    let speaking = true;
    let spoken = 0;
    const speech = (async () => {
      while (speaking) {
        speaker.send({ t: "send", room, cid: `s${spoken++}`, body: "steady" });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    for (const [index, client] of before.entries()) client.send({ t: "send", room, cid: `d${index}`, body: "mine" });
    await waitFor(() => before.every((client) => client.messages(room).length >= 30), "traffic on the doomed gateway");

    doomed.service.kill("SIGKILL");
    await Promise.all(before.map((client) => client.closed()));
    const acked = before.flatMap((client) => client.frames.filter((frame) => frame.t === "ack"));

    // Each client reconnects to the surviving gateway and resumes from the last seq it saw.
    const after = await Promise.all(
      before.map(async (client, index) => {
        const since = Math.max(...client.messages(room).map((message) => message.seq));
        const again = await survivor.connect(users[index] ?? "");
        const joined = await again.join(room, since);
        expect(joined.recovered).toBe(true);
        return { client, again, latest: joined.seq };
      }),
    );
    // Live traffic continues right after the replay, with nothing missed in between.
    await waitFor(
      () => after.every(({ again, latest }) => again.messages(room).some((message) => message.seq > latest + 5)),
      "live messages after the recovery",
    );
    speaking = false;
    await speech;

    for (const { client, again } of after) {
      const seqs = [...new Set([...client.messages(room), ...again.messages(room)].map((message) => message.seq))];
      seqs.sort((a, b) => a - b);
      expect(seqs[0]).toBe(1);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
      again.close();
    }

    const stored = await waitFor(async () => {
      const ids = new Set((await stack.rows()).map((row) => row.id));
      return acked.every((ack) => ack.t === "ack" && ids.has(ack.id)) ? ids : undefined;
    }, "every message the dead gateway acked in PostgreSQL");
    expect(stored.size).toBeGreaterThan(0);
    speaker.close();
  });
});
