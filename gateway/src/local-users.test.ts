import { waitFor } from "@parley/testkit";
import { describe, expect, it } from "vitest";
import type { InboxFrame } from "./bus/bus.js";
import { MemoryBus } from "./bus/memory-bus.js";
import { LocalUsers, type UserConnection } from "./local-users.js";

function setup() {
  let users: LocalUsers | undefined;
  const bus = new MemoryBus({ listener: (event) => (event.t === "inbox" ? users?.deliver(event) : undefined) });
  users = new LocalUsers(bus, (_user, error) => {
    throw error;
  });
  const connection = (user: string): UserConnection & { readonly frames: InboxFrame[] } => {
    const frames: InboxFrame[] = [];
    return { user, frames, inbox: (frame) => frames.push(JSON.parse(frame) as InboxFrame) };
  };
  return { bus, users, connection };
}

const entry = (latest: number): InboxFrame => ({ t: "inbox", room: "lobby", latest, read: 0, unread: latest });

describe("LocalUsers", () => {
  it("delivers a user's inbox events to each of their connections here, and to nobody else", async () => {
    const { bus, users, connection } = setup();
    const [laptop, phone, other] = [connection("ann"), connection("ann"), connection("ben")];
    for (const each of [laptop, phone, other]) users.add(each);
    await bus.publishInbox("ann", entry(1));
    await waitFor(() => laptop.frames.length === 1 && phone.frames.length === 1, "both of ann's connections");
    expect(laptop.frames).toEqual([entry(1)]);
    expect(other.frames).toEqual([]);
  });

  it("keeps the user's Bus subscription while any connection of theirs is here", async () => {
    const { bus, users, connection } = setup();
    const [first, second, third] = [connection("ann"), connection("ann"), connection("ann")];
    users.add(first);
    users.add(second);
    users.add(third);
    users.remove(first);
    users.remove(second);
    await bus.publishInbox("ann", entry(1));
    await waitFor(() => third.frames.length === 1, "the last connection's frame");
    users.remove(third);
    users.remove(third); // a second remove is a no-op
    await bus.publishInbox("ann", entry(2));
    // The user comes back: only what is published from then on reaches them.
    const back = connection("ann");
    users.add(back);
    await bus.publishInbox("ann", entry(3));
    await waitFor(() => back.frames.length === 1, "the frame after coming back");
    expect(back.frames).toEqual([entry(3)]);
    expect([first, second, third].map((each) => each.frames.length)).toEqual([0, 0, 1]);
  });
});
