import type { ChatMessage } from "@parley/protocol";
import { waitFor } from "@parley/testkit";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BusEvent } from "./bus/bus.js";
import { persistedEvent, sequencedEvent } from "./bus/bus-event.js";
import { MemoryBus } from "./bus/memory-bus.js";
import { LocalRooms, PERSISTED_INTERVAL_MS, type RoomMember } from "./local-rooms.js";

interface TestMember extends RoomMember {
  /** What reached it: events one by one and, once subscribed, the room's topic frames (as `msg` events). */
  readonly events: BusEvent[];
  readonly seqs: () => number[];
  readonly own: (room: string, seq: number) => void;
  readonly owned: number[];
}

function setup() {
  let rooms: LocalRooms | undefined;
  const bus = new MemoryBus({ listener: (event) => rooms?.deliver(event) });
  const subscribers = new Map<string, Set<TestMember>>();
  let publishes = 0;
  rooms = new LocalRooms(
    bus,
    {
      publish(topic, frame) {
        publishes++;
        const members = subscribers.get(topic) ?? new Set();
        for (const member of members) {
          const { t: _t, ...message } = JSON.parse(frame) as { t: "msg" } & ChatMessage;
          member.events.push(sequencedEvent(message));
        }
        return members.size;
      },
    },
    () => {},
    (_room, error) => {
      throw error;
    },
  );
  const member = (user: string): TestMember => {
    const events: BusEvent[] = [];
    const owned: number[] = [];
    const m: TestMember = {
      user,
      events,
      owned,
      seqs: () => events.flatMap((event) => (event.t === "sequenced" ? [event.event.seq] : [])),
      deliver: (event) => events.push(event),
      subscribe: (room) => subscribers.set(room, (subscribers.get(room) ?? new Set()).add(m)),
      own: (_room, seq) => owned.push(seq),
    };
    return m;
  };
  return { bus, rooms, member, publishes: () => publishes };
}

const message = (seq: number, from = "writer"): ChatMessage => ({
  room: "lobby",
  seq,
  id: `id-${seq}`,
  cid: `c${seq}`,
  from,
  body: String(seq),
  ts: 0,
});

describe("LocalRooms", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gathers a burst of presence changes into one frame per room", async () => {
    const { rooms, member } = setup();
    const watcher = member("watcher");
    await rooms.join("lobby", watcher);
    await waitFor(() => watcher.events.length === 1, "the watcher's own arrival");
    const arrivals = ["a", "b", "c", "d"].map(member);
    await Promise.all(arrivals.map((m) => rooms.join("lobby", m)));
    await waitFor(() => watcher.events.length === 2, "one merged frame");
    expect(JSON.parse(watcher.events[1]?.frame ?? "")).toEqual({
      t: "presence",
      room: "lobby",
      joined: ["a", "b", "c", "d"],
      count: 5,
    });
  });

  it("sends each user's net change: a leave after a join in the same window is a leave", async () => {
    const { rooms, member } = setup();
    const watcher = member("watcher");
    await rooms.join("lobby", watcher);
    await waitFor(() => watcher.events.length === 1, "the watcher's own arrival");
    const visitor = member("visitor");
    await rooms.join("lobby", visitor);
    rooms.leave("lobby", visitor);
    await waitFor(() => watcher.events.length === 2, "one merged frame");
    expect(JSON.parse(watcher.events[1]?.frame ?? "")).toEqual({
      t: "presence",
      room: "lobby",
      left: ["visitor"],
      count: 1,
    });
  });

  it("delivers everything else at once", async () => {
    const { bus, rooms, member } = setup();
    const reader = member("reader");
    await rooms.join("lobby", reader);
    await bus.subscribe("lobby");
    await bus.publishTyping("lobby", "writer");
    await waitFor(() => reader.events.some((event) => event.t === "typing"), "the typing event");
    expect(reader.events.filter((event) => event.t === "presence")).toHaveLength(0);
  });

  it("forwards a room's first watermark at once and then the highest one per interval", async () => {
    const { rooms, member } = setup();
    const reader = member("reader");
    await rooms.join("lobby", reader);
    vi.useFakeTimers();
    const watermarks = () => reader.events.flatMap((event) => (event.t === "persisted" ? [event.upTo] : []));
    rooms.deliver(persistedEvent("lobby", 1));
    expect(watermarks()).toEqual([1]);
    for (const upTo of [2, 4, 3]) rooms.deliver(persistedEvent("lobby", upTo));
    expect(watermarks()).toEqual([1]);
    vi.advanceTimersByTime(PERSISTED_INTERVAL_MS);
    expect(watermarks()).toEqual([1, 4]);
    // A quiet interval ends the throttling: the next watermark goes out at once again.
    vi.advanceTimersByTime(PERSISTED_INTERVAL_MS);
    rooms.deliver(persistedEvent("lobby", 5));
    expect(watermarks()).toEqual([1, 4, 5]);
  });

  it("hands each message to the room's topic once, and a member joined in step with it reads it there", async () => {
    const { rooms, member, publishes } = setup();
    const reader = member("reader");
    await rooms.join("lobby", reader);
    rooms.joined("lobby", reader, 0);
    for (const seq of [1, 2, 2, 3]) rooms.deliver(sequencedEvent(message(seq)));
    expect(reader.seqs()).toEqual([1, 2, 3]);
    expect(publishes()).toBe(3);
  });

  it("sends a member whose join read ahead of the fan-out its messages one by one until the fan-out reaches it", async () => {
    const { rooms, member } = setup();
    const early = member("early");
    await rooms.join("lobby", early);
    rooms.joined("lobby", early, 0);
    rooms.deliver(sequencedEvent(message(1)));
    // The late member's join read latest = 3 (its replay carried 2 and 3) while 2 and 3 were still on their way.
    const late = member("late");
    await rooms.join("lobby", late);
    rooms.joined("lobby", late, 3);
    for (const seq of [2, 3, 4]) rooms.deliver(sequencedEvent(message(seq)));
    // One by one, it drops nothing itself here (the session does); subscribed at 3, it reads 4 on the topic only.
    expect(late.seqs()).toEqual([2, 3, 4]);
    expect(late.events.filter((event) => event.t === "sequenced" && event.event.seq === 4)).toHaveLength(1);
    expect(early.seqs()).toEqual([1, 2, 3, 4]);
  });

  it("tells each connection of the sender that an own message went out, and nobody else", async () => {
    const { rooms, member } = setup();
    const [tab1, tab2, other] = [member("ann"), member("ann"), member("ben")];
    for (const m of [tab1, tab2, other]) {
      await rooms.join("lobby", m);
      rooms.joined("lobby", m, 0);
    }
    rooms.deliver(sequencedEvent(message(1, "ann")));
    rooms.deliver(sequencedEvent(message(2, "ben")));
    expect([tab1.owned, tab2.owned, other.owned]).toEqual([[1], [1], [2]]);
  });
});
