import { randomUUID } from "node:crypto";
import { bodySchema, eventFrame } from "@parley/protocol";
import { uniqueName, waitFor } from "@parley/testkit";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type { Bus, BusEvent, BusOptions, PublishInput } from "./bus.js";

export interface BusFactory {
  create(options: BusOptions): Promise<Bus>;
  /** Whether two instances share state (separate gateways on one backend). */
  readonly distributed: boolean;
  /** How far above a non-zero seed the implementation continues (0 for a single-process bus). */
  readonly reseedMargin: number;
}

/** The behaviour every Bus must show; run it over each implementation. */
export function busContract(name: string, factory: BusFactory): void {
  describe(`Bus contract: ${name}`, () => {
    const open: Bus[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((bus) => bus.close()));
    });

    async function busWithEvents(options: Partial<BusOptions> = {}) {
      const events: BusEvent[] = [];
      const bus = await factory.create({ ...options, listener: (event) => events.push(event) });
      open.push(bus);
      return { bus, events };
    }

    function input(room: string, overrides: Partial<PublishInput> = {}): PublishInput {
      return { room, from: "alice", cid: randomUUID(), body: "hello", id: randomUUID(), ts: Date.now(), ...overrides };
    }

    it("assigns gap-free seqs from 1 to concurrent publishes", async () => {
      const { bus } = await busWithEvents();
      const room = uniqueName("room");
      const results = await Promise.all(Array.from({ length: 50 }, () => bus.publish(input(room))));
      const seqs = results.map((result) => result.event.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
      expect(await bus.latest(room)).toBe(50);
      expect(await bus.latest(uniqueName("empty"))).toBe(0);
    });

    it("returns the original message for a retried (from, cid) and publishes it once", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      await bus.subscribe(room);
      const first = await bus.publish(input(room, { cid: "c1" }));
      const retry = await bus.publish(input(room, { cid: "c1", body: "changed", id: randomUUID() }));
      expect(first.duplicate).toBe(false);
      expect(retry).toEqual({ event: first.event, duplicate: true });
      const other = await bus.publish(input(room, { cid: "c1", from: "bob" }));
      expect(other.duplicate).toBe(false);
      expect(other.event.seq).toBe(2);
      await waitFor(() => events.length === 2, "two deliveries");
      expect(events.map((event) => event.t === "sequenced" && event.event.seq)).toEqual([1, 2]);
    });

    it("delivers a room's messages in seq order with the exact wire frame", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      await bus.subscribe(room);
      const published = await Promise.all(Array.from({ length: 100 }, () => bus.publish(input(room))));
      await waitFor(() => events.length === 100, "100 deliveries");
      const delivered = events.flatMap((event) => (event.t === "sequenced" ? [event.event] : []));
      expect(delivered.map((message) => message.seq)).toEqual(Array.from({ length: 100 }, (_, index) => index + 1));
      const bySeq = new Map(published.map((result) => [result.event.seq, result.event]));
      for (const event of events) {
        if (event.t !== "sequenced") continue;
        expect(event.event).toEqual(bySeq.get(event.event.seq));
        expect(JSON.parse(event.frame)).toEqual(eventFrame(event.event));
      }
    });

    it("round-trips any body and sender exactly", async () => {
      const { bus } = await busWithEvents();
      const room = uniqueName("room");
      await fc.assert(
        fc.asyncProperty(
          fc
            .string({ minLength: 1, maxLength: 200, unit: "binary" })
            .filter((text) => bodySchema.safeParse(text).success),
          async (body) => {
            const sent = input(room, { body });
            const { event } = await bus.publish(sent);
            expect(event).toEqual({ ...sent, seq: event.seq });
          },
        ),
        { numRuns: 50 },
      );
    });

    it("stops delivering after unsubscribe and ignores rooms it never subscribed to", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      const other = uniqueName("other");
      await bus.subscribe(room);
      await bus.publish(input(room));
      await bus.publish(input(other));
      await waitFor(() => events.length === 1, "one delivery");
      await bus.unsubscribe(room);
      await bus.publish(input(room));
      await bus.subscribe(other);
      const last = await bus.publish(input(other));
      await waitFor(() => events.length === 2, "delivery in the other room");
      expect(events.map((event) => event.t === "sequenced" && event.event)).toEqual([
        expect.objectContaining({ room, seq: 1 }),
        last.event,
      ]);
    });

    it("keeps a capped recent buffer for recovery", async () => {
      const { bus } = await busWithEvents({ recentLimit: 10 });
      const room = uniqueName("room");
      for (let index = 0; index < 25; index++) await bus.publish(input(room));
      const recent = await bus.recent(room, 0);
      expect(recent.map((event) => event.seq)).toEqual(Array.from({ length: 10 }, (_, index) => 16 + index));
      expect((await bus.recent(room, 20)).map((message) => message.seq)).toEqual([21, 22, 23, 24, 25]);
    });

    it("sequences edits, deletions and reactions with the messages, and buffers them alike", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      await bus.subscribe(room);
      const base = { room, from: "alice", ts: 5 };
      const reaction: PublishInput = {
        ...base,
        cid: "r",
        id: randomUUID(),
        kind: "react",
        target: 1,
        emoji: "👍🏽",
        on: true,
      };
      const sent: PublishInput[] = [
        { ...base, cid: "m", id: randomUUID(), body: "helo", replyTo: 1 },
        { ...base, cid: "e", id: randomUUID(), kind: "edit", target: 1, body: "hello" },
        reaction,
        { ...base, cid: "d", id: randomUUID(), kind: "delete", target: 1 },
      ];
      const published = [];
      for (const event of sent) published.push((await bus.publish(event)).event);
      expect(published).toEqual(sent.map((event, index) => ({ ...event, seq: index + 1 })));
      await waitFor(() => events.length === 4, "four deliveries");
      expect(events.map((event) => event.t === "sequenced" && event.event)).toEqual(published);
      expect(events.map((event) => JSON.parse(event.frame).t)).toEqual(["msg", "edited", "reaction", "deleted"]);
      expect(await bus.recent(room, 1)).toEqual(published.slice(1));
      const retried = await bus.publish({ ...reaction, id: randomUUID() });
      expect(retried).toEqual({ event: published[2], duplicate: true });
    });

    it("fans typing out without sequencing or buffering it", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      await bus.subscribe(room);
      await bus.publishTyping(room, "alice");
      await waitFor(() => events.length === 1, "typing event");
      expect(events[0]).toMatchObject({ t: "typing", room, user: "alice" });
      expect(await bus.latest(room)).toBe(0);
      expect(await bus.recent(room, 0)).toEqual([]);
    });

    it("fans read positions out without sequencing or buffering them", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      await bus.subscribe(room);
      await bus.publishRead(room, "alice", 12);
      await waitFor(() => events.length === 1, "the read event");
      expect(events[0]).toMatchObject({ t: "read", room, user: "alice", seq: 12 });
      expect(JSON.parse(events[0]?.frame ?? "")).toEqual({ t: "read", room, user: "alice", seq: 12 });
      expect(await bus.latest(room)).toBe(0);
      expect(await bus.recent(room, 0)).toEqual([]);
    });

    it("sends inbox events to the processes subscribed to their user, in order, until they unsubscribe", async () => {
      const publisher = await busWithEvents();
      const receiver = factory.distributed ? await busWithEvents() : publisher;
      const [user, other] = [uniqueName("user"), uniqueName("other")];
      const room = uniqueName("room");
      const entry = (latest: number) => ({ t: "inbox", room, latest, read: 1, unread: latest - 1 }) as const;
      await receiver.bus.subscribeUser(user);
      await publisher.bus.publishInbox(other, entry(1));
      await publisher.bus.publishInbox(user, entry(2));
      await publisher.bus.publishInbox(user, { ...entry(3), left: true });
      await waitFor(() => receiver.events.length === 2, "two inbox events");
      expect(receiver.events.map((event) => ({ ...event, frame: JSON.parse(event.frame) }))).toEqual([
        { t: "inbox", user, room, frame: entry(2) },
        { t: "inbox", user, room, frame: { ...entry(3), left: true } },
      ]);
      await receiver.bus.unsubscribeUser(user);
      await publisher.bus.publishInbox(user, entry(4));
      await receiver.bus.subscribeUser(other);
      await publisher.bus.publishInbox(other, entry(5));
      await waitFor(() => receiver.events.length === 3, "the other user's event");
      expect(receiver.events[2]).toMatchObject({ t: "inbox", user: other, room });
      // Nothing of the room's: an inbox event is not a room event.
      expect(await publisher.bus.latest(room)).toBe(0);
    });

    it("fans watermarks out to subscribers", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      await bus.subscribe(room);
      await bus.publishPersisted(room, 7);
      await waitFor(() => events.length === 1, "the watermark");
      expect(events[0]).toMatchObject({ t: "persisted", room, upTo: 7 });
      expect(JSON.parse(events[0]?.frame ?? "")).toEqual({ t: "persisted", room, upTo: 7 });
    });

    const presenceEvents = (events: BusEvent[]) =>
      events.flatMap((event) => (event.t === "presence" ? [JSON.parse(event.frame) as Record<string, unknown>] : []));

    it("announces a user's presence once, lists who is present, and announces the leave", async () => {
      const { bus, events } = await busWithEvents();
      const room = uniqueName("room");
      await bus.subscribe(room);
      await bus.joinPresence(room, "ann");
      await bus.joinPresence(room, "ben");
      expect(await bus.presence(room)).toEqual({ count: 2, users: ["ann", "ben"] });
      await bus.leavePresence(room, "ann");
      await waitFor(() => presenceEvents(events).length === 3, "three presence events");
      expect(presenceEvents(events)).toEqual([
        { t: "presence", room, joined: ["ann"], count: 1 },
        { t: "presence", room, joined: ["ben"], count: 2 },
        { t: "presence", room, left: ["ann"], count: 1 },
      ]);
      expect(await bus.presence(room)).toEqual({ count: 1, users: ["ben"] });
    });

    it("gives only counts above the list limit", async () => {
      const { bus, events } = await busWithEvents({ presenceListLimit: 2 });
      const room = uniqueName("room");
      await bus.subscribe(room);
      for (const user of ["u1", "u2", "u3"]) await bus.joinPresence(room, user);
      expect(await bus.presence(room)).toEqual({ count: 3 });
      await waitFor(() => presenceEvents(events).length === 3, "three presence events");
      expect(presenceEvents(events)[2]).toEqual({ t: "presence", room, count: 3 });
    });

    it.runIf(factory.distributed)("counts a user on two instances once, until both left", async () => {
      const a = await busWithEvents();
      const b = await busWithEvents();
      const room = uniqueName("room");
      await a.bus.subscribe(room);
      await a.bus.joinPresence(room, "ann");
      await b.bus.joinPresence(room, "ann");
      await a.bus.leavePresence(room, "ann");
      expect(await b.bus.presence(room)).toEqual({ count: 1, users: ["ann"] });
      await b.bus.leavePresence(room, "ann");
      await waitFor(() => presenceEvents(a.events).length === 2, "join and leave");
      expect(presenceEvents(a.events).map((event) => event.joined ?? event.left)).toEqual([["ann"], ["ann"]]);
    });

    it.runIf(factory.distributed)("expires the users of an instance that died without leaving", async () => {
      const survivor = await busWithEvents({ presenceTtlSeconds: 1 });
      const room = uniqueName("room");
      await survivor.bus.subscribe(room);
      await survivor.bus.joinPresence(room, "stays");
      await survivor.bus.joinPresence(room, "also");
      const doomed = await factory.create({ listener: () => {}, presenceTtlSeconds: 1 });
      await doomed.joinPresence(room, "ghost");
      await doomed.close(); // gone without leaving: its entry stays until it expires
      await waitFor(
        () => presenceEvents(survivor.events).some((event) => JSON.stringify(event.left) === '["ghost"]'),
        "the ghost's leave",
      );
      // The survivor's refreshes kept both of its users.
      expect(await survivor.bus.presence(room)).toEqual({ count: 2, users: ["also", "stays"] });
    });

    it("continues above the seed for a room it holds no counter for", async () => {
      const room = uniqueName("seeded");
      const { bus } = await busWithEvents({ seed: async (name) => (name === room ? 41 : 0) });
      const floor = await bus.latest(room);
      expect(floor).toBe(41 + factory.reseedMargin);
      const results = await Promise.all([bus.publish(input(room)), bus.publish(input(room))]);
      expect(results.map((result) => result.event.seq).sort()).toEqual([floor + 1, floor + 2]);
      const fresh = uniqueName("fresh");
      expect((await bus.publish(input(fresh))).event.seq).toBe(1);
    });

    it.runIf(factory.reseedMargin > 0)("tells subscribers when a room restarts above a non-zero seed", async () => {
      const room = uniqueName("seeded");
      const { bus, events } = await busWithEvents({ seed: async () => 7 });
      await bus.subscribe(room);
      const { event } = await bus.publish(input(room));
      await waitFor(() => events.length === 2, "the epoch and the message");
      expect(events.map((event) => JSON.parse(event.frame).t)).toEqual(["epoch", "msg"]);
      expect(events[0]).toMatchObject({ t: "epoch", room, seq: event.seq - 1 });
    });

    it.runIf(factory.distributed)("shares sequence and fan-out between instances", async () => {
      const a = await busWithEvents();
      const b = await busWithEvents();
      const room = uniqueName("room");
      await Promise.all([a.bus.subscribe(room), b.bus.subscribe(room)]);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, index) => (index % 2 ? a.bus : b.bus).publish(input(room))),
      );
      expect(results.map((result) => result.event.seq).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 40 }, (_, index) => index + 1),
      );
      for (const { events } of [a, b]) {
        await waitFor(() => events.length === 40, "40 deliveries on each instance");
        expect(events.map((event) => event.t === "sequenced" && event.event.seq)).toEqual(
          Array.from({ length: 40 }, (_, index) => index + 1),
        );
      }
      const retry = await a.bus.publish({ ...input(room), cid: results[0]?.event.cid ?? "" });
      expect(retry.duplicate).toBe(true);
    });
  });
}
