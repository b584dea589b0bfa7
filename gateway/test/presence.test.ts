import type { ServerFrame } from "@parley/protocol";
import { uniqueName, waitFor } from "@parley/testkit";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

type PresenceFrame = Extract<ServerFrame, { t: "presence" }>;

/** Presence and typing across two gateways, including a gateway that dies without telling anyone. */
describe("presence and typing", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({ gateways: 2, gatewayEnv: { PARLEY_PRESENCE_TTL_SECONDS: "3" } });
  });
  afterAll(() => stack?.stop());

  function gateway(index: number) {
    const found = stack.gateways[index];
    if (!found) throw new Error(`no gateway ${index}`);
    return found;
  }

  const presence = (client: TestClient, room: string) =>
    client.frames.filter((frame): frame is PresenceFrame => frame.t === "presence" && frame.room === room);

  /** The present users as a client sees them: the snapshot after `joined`, then each change applied in order. */
  function present(client: TestClient, room: string): string[] {
    const users = new Set<string>();
    for (const frame of presence(client, room)) {
      for (const user of frame.joined ?? []) users.add(user);
      for (const user of frame.left ?? []) users.delete(user);
      expect(frame.count).toBe(users.size);
    }
    return [...users].sort();
  }

  it("shows who is in a room across gateways, once per user however many connections they have", async () => {
    const room = uniqueName("room");
    const ann = await gateway(0).connect("ann");
    await ann.join(room);
    await waitFor(() => present(ann, room).join() === "ann", "ann present");

    const ben = await gateway(1).connect("ben");
    await ben.join(room);
    await waitFor(() => present(ben, room).join() === "ann,ben", "both at ben");
    await waitFor(() => present(ann, room).join() === "ann,ben", "both at ann");

    // A second tab of ann's, on the other gateway: no news for anyone, and closing one tab is no leave either.
    const benSeen = presence(ben, room).length;
    const annTab = await gateway(1).connect("ann");
    await annTab.join(room);
    ann.close();
    await ann.closed();
    // A later arrival marks the point by which any news about ann would have reached ben.
    const cue = await gateway(0).connect("cue");
    await cue.join(room);
    await waitFor(() => present(ben, room).includes("cue"), "the cue's arrival");
    const since = presence(ben, room).slice(benSeen);
    expect(since.some((frame) => frame.joined?.includes("ann") || frame.left?.includes("ann"))).toBe(false);
    cue.close();
    await waitFor(() => !present(ben, room).includes("cue"), "the cue's leave");

    annTab.close();
    await waitFor(() => present(ben, room).join() === "ben", "ann's leave");
    expect(presence(ben, room).at(-1)).toEqual({ t: "presence", room, left: ["ann"], count: 1 });
    ben.close();
  });

  it("relays typing to the others, never to the typist, and never stores it", async () => {
    const room = uniqueName("room");
    const [ann, ben] = await Promise.all([gateway(0).connect("ann"), gateway(1).connect("ben")]);
    await Promise.all([ann.join(room), ben.join(room)]);
    ann.send({ t: "typing", room });
    expect(await ben.next("typing", (frame) => frame.room === room)).toEqual({ t: "typing", room, user: "ann" });
    ben.send({ t: "ping" });
    ann.send({ t: "ping" });
    await Promise.all([ann.next("pong"), ben.next("pong")]);
    expect(ann.frames.some((frame) => frame.t === "typing")).toBe(false);
    expect((await stack.rows()).filter((row) => row.room === room)).toEqual([]);
    ann.close();
    ben.close();
  });

  it("drops the users of a gateway killed without warning once their presence expires", async () => {
    const room = uniqueName("room");
    const watcher = await gateway(1).connect("watcher");
    await watcher.join(room);
    const doomed = await gateway(0).connect("carl");
    await doomed.join(room);
    await waitFor(() => present(watcher, room).join() === "carl,watcher", "carl's arrival");
    gateway(0).service.kill("SIGKILL");
    await waitFor(() => present(watcher, room).join() === "watcher", "carl's expiry", { timeoutMs: 15_000 });
    expect(presence(watcher, room).at(-1)).toEqual({ t: "presence", room, left: ["carl"], count: 1 });
    watcher.close();
  });
});
