import { waitFor } from "@parley/testkit";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BusEvent } from "./bus/bus.js";
import { persistedEvent } from "./bus/bus-event.js";
import { MemoryBus } from "./bus/memory-bus.js";
import { LocalRooms, PERSISTED_INTERVAL_MS, type RoomMember } from "./local-rooms.js";

function setup() {
  let rooms: LocalRooms | undefined;
  const bus = new MemoryBus({ listener: (event) => rooms?.deliver(event) });
  rooms = new LocalRooms(bus, (_room, error) => {
    throw error;
  });
  const member = (user: string) => {
    const events: BusEvent[] = [];
    const m: RoomMember & { events: BusEvent[] } = { user, events, deliver: (event) => events.push(event) };
    return m;
  };
  return { bus, rooms, member };
}

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
});
