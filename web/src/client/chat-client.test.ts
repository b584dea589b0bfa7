import { backoffDelay, type ChatMessage, type ClientFrame, MAX_UNREAD, type ServerFrame } from "@parley/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ChatClient,
  type ChatClientOptions,
  RECONNECT_BACKOFF,
  type SocketHandlers,
  type SocketLike,
  type Upload,
} from "./chat-client.js";

class FakeSocket implements SocketLike {
  readonly sent: ClientFrame[] = [];
  closedWith: number | undefined;
  constructor(
    readonly url: string,
    readonly handlers: SocketHandlers,
  ) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientFrame);
  }
  close(code?: number): void {
    this.closedWith = code ?? 1005;
  }
  open(): void {
    this.handlers.onOpen();
  }
  receive(frame: ServerFrame): void {
    this.handlers.onMessage(JSON.stringify(frame));
  }
  drop(code = 1006): void {
    this.handlers.onClose(code);
  }
  sentOf<T extends ClientFrame["t"]>(type: T): Extract<ClientFrame, { t: T }>[] {
    return this.sent.filter((frame): frame is Extract<ClientFrame, { t: T }> => frame.t === type);
  }
}

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
}

function message(room: string, seq: number, from = "bob", cid = `c${seq}`): ChatMessage {
  return { room, seq, id: `id-${room}-${seq}`, cid, from, body: `message ${seq}`, ts: 1_700_000_000_000 + seq };
}

const msg = (room: string, seq: number, from?: string, cid?: string): ServerFrame => ({
  t: "msg",
  ...message(room, seq, from, cid),
});

let sockets: FakeSocket[];
/** Requests other than the inbox's. */
let fetches: { url: string; headers: Record<string, string>; method?: string; body?: string }[];
let fetchAnswer: (url: string) => { status: number; body: unknown };
/** Requests of `GET /api/inbox`. */
let inboxFetches: string[];
/** The inbox, as the server answers it: by default a gateway from before the inbox (404). */
let inboxAnswer: () => { status: number; body: unknown };
/** `GET /api/me`, as the server answers it: by default a gateway from before it (404). */
let meAnswer: () => { status: number; body: unknown };
let cids: number;

function makeClient(overrides: Partial<ChatClientOptions> = {}): ChatClient {
  return new ChatClient({
    credentials: { kind: "dev", user: "alice" },
    origin: "http://chat.test",
    openSocket: (url, handlers) => {
      const socket = new FakeSocket(url, handlers);
      sockets.push(socket);
      return socket;
    },
    fetch: async (url, init) => {
      if (new URL(url).pathname === "/api/inbox") {
        inboxFetches.push(url);
        const answer = inboxAnswer();
        return { status: answer.status, json: async () => answer.body };
      }
      if (new URL(url).pathname === "/api/me") {
        const answer = meAnswer();
        return { status: answer.status, json: async () => answer.body };
      }
      const { method, body } = init;
      fetches.push({ url, headers: init.headers, ...(method ? { method } : {}), ...(body ? { body } : {}) });
      const answer = fetchAnswer(url);
      return { status: answer.status, json: async () => answer.body };
    },
    random: () => 0.5,
    newCid: () => `cid-${++cids}`,
    ...overrides,
  });
}

/** Starts a client, opens its socket and answers the joins, so rooms are joined. */
function online(client: ChatClient, latest: Record<string, number> = {}): FakeSocket {
  client.start();
  const socket = sockets.at(-1) as FakeSocket;
  socket.open();
  for (const join of socket.sentOf("join"))
    socket.receive({ t: "joined", room: join.room, seq: latest[join.room] ?? 0 });
  return socket;
}

function room(client: ChatClient, name: string) {
  const found = client.getSnapshot().rooms.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no room ${name}`);
  return found;
}

beforeEach(() => {
  vi.useFakeTimers();
  sockets = [];
  fetches = [];
  fetchAnswer = () => ({ status: 200, body: { room: "lobby", messages: [] } });
  inboxFetches = [];
  inboxAnswer = () => ({ status: 404, body: { code: "not_found", message: "no such route" } });
  meAnswer = () => ({ status: 404, body: { code: "not_found", message: "no such route" } });
  cids = 0;
});

afterEach(() => {
  vi.useRealTimers();
});

describe("ChatClient connection", () => {
  it("connects to the origin's /ws with the dev user and joins the default room from seq 0", () => {
    const client = makeClient();
    client.start();
    expect(sockets[0]?.url).toBe("ws://chat.test/ws?user=alice");
    expect(client.getSnapshot().connection.status).toBe("connecting");
    sockets[0]?.open();
    expect(client.getSnapshot().connection.status).toBe("online");
    expect(sockets[0]?.sent).toEqual([{ t: "join", room: "lobby", since: 0 }]);
  });

  it("puts a JWT in the query for the socket and in the Authorization header for history", async () => {
    const client = makeClient({
      credentials: { kind: "jwt", token: "a.b.c", user: "alice" },
      origin: "https://chat.test",
    });
    const socket = online(client, { lobby: 5 });
    expect(socket.url).toBe("wss://chat.test/ws?token=a.b.c");
    socket.receive({ t: "joined", room: "lobby", seq: 5, recovered: false });
    socket.receive(msg("lobby", 5));
    await client.loadOlder("lobby");
    expect(fetches[0]?.url).toBe("https://chat.test/api/rooms/lobby/messages?before=5&limit=50");
    expect(fetches[0]?.headers).toEqual({ authorization: "Bearer a.b.c" });
  });

  it("reconnects with growing, jittered delays and rejoins every room with since = the last gap-free seq", () => {
    const random = vi.fn(() => 0.5);
    const client = makeClient({ random });
    const first = online(client);
    client.openRoom("dev");
    first.receive({ t: "joined", room: "dev", seq: 0 });
    first.receive(msg("lobby", 1));
    first.receive(msg("lobby", 2));
    first.receive(msg("dev", 1));
    first.drop(1012);
    const waiting = client.getSnapshot().connection;
    expect(waiting).toMatchObject({ status: "waiting", attempt: 1, reason: "The server is restarting." });
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(backoffDelay(0, { ...RECONNECT_BACKOFF, random: () => 0.5 }));
    expect(sockets).toHaveLength(2);
    // The second attempt fails before opening (a refused upgrade is checked over HTTP: not a 401 here).
    sockets[1]?.drop(1006);
    return vi.waitFor(() => {
      expect(client.getSnapshot().connection).toMatchObject({ status: "waiting", attempt: 2 });
      expect(backoffDelay(1, { ...RECONNECT_BACKOFF, random: () => 0.5 })).toBeGreaterThan(
        backoffDelay(0, { ...RECONNECT_BACKOFF, random: () => 0.5 }),
      );
      vi.advanceTimersByTime(backoffDelay(1, { ...RECONNECT_BACKOFF, random: () => 0.5 }));
      const third = sockets[2] as FakeSocket;
      third.open();
      expect(third.sentOf("join")).toEqual([
        { t: "join", room: "lobby", since: 2 },
        { t: "join", room: "dev", since: 1 },
      ]);
      expect(random).toHaveBeenCalled();
    });
  });

  it("keeps backing off from a server that accepts connections and closes them before serving", () => {
    const client = makeClient();
    client.start();
    for (let attempt = 1; attempt <= 4; attempt++) {
      const socket = sockets.at(-1) as FakeSocket;
      socket.open();
      socket.drop(1011);
      expect(client.getSnapshot().connection).toMatchObject({ status: "waiting", attempt });
      vi.advanceTimersByTime(60_000);
    }
    const socket = sockets.at(-1) as FakeSocket;
    socket.open();
    socket.receive({ t: "joined", room: "lobby", seq: 0 });
    socket.drop(1011);
    expect(client.getSnapshot().connection).toMatchObject({ status: "waiting", attempt: 1 });
  });

  it("stops reconnecting when the server says the connection broke its rules (1008)", () => {
    const client = makeClient();
    online(client).drop(1008);
    expect(client.getSnapshot().connection.status).toBe("refused");
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it("reports refused credentials when the upgrade fails and the history API answers 401", async () => {
    fetchAnswer = () => ({ status: 401, body: { code: "unauthorized", message: "bad token" } });
    const client = makeClient();
    client.start();
    sockets[0]?.drop(1006);
    await vi.waitFor(() => expect(client.getSnapshot().connection.status).toBe("refused"));
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it("declares a connection dead when a ping gets no answer, and reconnects", () => {
    const client = makeClient({ pingIntervalMs: 1000 });
    const socket = online(client);
    vi.advanceTimersByTime(1000);
    expect(socket.sentOf("ping")).toHaveLength(1);
    vi.advanceTimersByTime(1000);
    expect(socket.closedWith).toBeDefined();
    expect(client.getSnapshot().connection.status).toBe("waiting");
  });

  it("stop() closes with 1000 and never reconnects", () => {
    const client = makeClient();
    const socket = online(client);
    client.stop();
    expect(socket.closedWith).toBe(1000);
    socket.drop(1000);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(client.getSnapshot().connection.status).toBe("closed");
  });
});

describe("ChatClient messages", () => {
  it("shows each seq once, in seq order, whether it came live, replayed or from history", async () => {
    const client = makeClient();
    const socket = online(client, { lobby: 0 });
    socket.receive(msg("lobby", 1));
    socket.receive(msg("lobby", 2));
    socket.receive(msg("lobby", 2));
    socket.receive(msg("lobby", 1));
    expect(room(client, "lobby").items.map((item) => item.seq)).toEqual([1, 2]);
  });

  it("takes a send through sending, acked and persisted, as one item", () => {
    const client = makeClient();
    const socket = online(client);
    const result = client.send("lobby", "hello\nworld");
    expect(result).toEqual({ ok: true, cid: "cid-1" });
    expect(socket.sentOf("send")).toEqual([{ t: "send", room: "lobby", cid: "cid-1", body: "hello\nworld" }]);
    expect(room(client, "lobby").items).toMatchObject([{ cid: "cid-1", own: true, delivery: "sending" }]);
    socket.receive({ t: "msg", ...message("lobby", 1, "alice", "cid-1"), body: "hello\nworld" });
    expect(room(client, "lobby").items).toMatchObject([{ seq: 1, delivery: "sending" }]);
    socket.receive({ t: "ack", room: "lobby", cid: "cid-1", seq: 1, id: "id-lobby-1" });
    expect(room(client, "lobby").items).toMatchObject([{ seq: 1, delivery: "acked" }]);
    socket.receive({ t: "persisted", room: "lobby", upTo: 1 });
    expect(room(client, "lobby").items).toEqual([expect.objectContaining({ seq: 1, delivery: "persisted" })]);
  });

  it("refuses empty and oversized bodies with a reason, sending nothing", () => {
    const client = makeClient();
    const socket = online(client);
    expect(client.send("lobby", "  \n ")).toEqual({ ok: false, reason: "Type a message first." });
    const tooLong = client.send("lobby", "x".repeat(4001));
    expect(tooLong.ok).toBe(false);
    expect(tooLong.ok ? "" : tooLong.reason).toMatch(/Too long: 4,001 of at most 4,000/);
    expect(client.send("lobby", "a\u0000b").ok).toBe(false);
    expect(client.send("lobby", "x".repeat(4000)).ok).toBe(true);
    expect(socket.sentOf("send")).toHaveLength(1);
  });

  it("marks a send failed on an error frame and retries it with the same cid", () => {
    const client = makeClient();
    const socket = online(client);
    client.send("lobby", "hi");
    socket.receive({ t: "error", code: "unavailable", cid: "cid-1", message: "not stored durably" });
    expect(room(client, "lobby").items).toMatchObject([
      { delivery: "failed", error: expect.stringMatching(/could not/) },
    ]);
    client.retry("lobby", "cid-1");
    expect(socket.sentOf("send").map((frame) => frame.cid)).toEqual(["cid-1", "cid-1"]);
    socket.receive({ t: "msg", ...message("lobby", 1, "alice", "cid-1") });
    socket.receive({ t: "ack", room: "lobby", cid: "cid-1", seq: 1, id: "id-lobby-1" });
    expect(room(client, "lobby").items).toEqual([expect.objectContaining({ seq: 1, delivery: "acked" })]);
  });

  it("fails a send that gets no ack in time, so the user can retry it", () => {
    const client = makeClient({ ackTimeoutMs: 5000 });
    online(client);
    client.send("lobby", "hi");
    vi.advanceTimersByTime(5000);
    expect(room(client, "lobby").items).toMatchObject([{ delivery: "failed" }]);
  });

  it("resends unacked messages with their cid after a reconnect, once the room is joined again", () => {
    const client = makeClient();
    const first = online(client);
    client.send("lobby", "while the gateway restarts");
    first.drop(1012);
    client.send("lobby", "queued while offline");
    vi.advanceTimersByTime(60_000);
    const second = sockets.at(-1) as FakeSocket;
    second.open();
    expect(second.sentOf("send")).toEqual([]);
    // The first send had been sequenced before the drop: the replay brings it back, and the resend is deduplicated.
    second.receive({ t: "joined", room: "lobby", seq: 1, recovered: true });
    expect(second.sentOf("send").map((frame) => frame.cid)).toEqual(["cid-1", "cid-2"]);
    second.receive({ t: "msg", ...message("lobby", 1, "alice", "cid-1") });
    second.receive({ t: "ack", room: "lobby", cid: "cid-1", seq: 1, id: "id-lobby-1" });
    second.receive({ t: "msg", ...message("lobby", 2, "alice", "cid-2") });
    second.receive({ t: "ack", room: "lobby", cid: "cid-2", seq: 2, id: "id-lobby-2" });
    expect(room(client, "lobby").items.map((item) => [item.seq, item.delivery])).toEqual([
      [1, "acked"],
      [2, "acked"],
    ]);
  });

  it("fills the hole from history when the replay cannot reach back to what it had", async () => {
    const client = makeClient();
    const socket = online(client);
    for (let seq = 1; seq <= 3; seq++) socket.receive(msg("lobby", seq));
    socket.drop(1006);
    vi.advanceTimersByTime(60_000);
    const again = sockets.at(-1) as FakeSocket;
    again.open();
    expect(again.sentOf("join")).toEqual([{ t: "join", room: "lobby", since: 3 }]);
    // The history API pages back from the first replayed seq, 50 at a time, ascending within a page.
    fetchAnswer = (url) => {
      const before = Number(new URL(url).searchParams.get("before"));
      const from = Math.max(1, before - 50);
      const messages = Array.from({ length: before - from }, (_, i) => message("lobby", from + i));
      return { status: 200, body: { room: "lobby", messages, ...(from > 1 ? { nextBefore: from } : {}) } };
    };
    again.receive({ t: "joined", room: "lobby", seq: 300, recovered: false });
    for (let seq = 281; seq <= 300; seq++) again.receive(msg("lobby", seq));
    await vi.waitFor(() => expect(room(client, "lobby").items).toHaveLength(300));
    expect(room(client, "lobby").items.map((item) => item.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(fetches.map((fetched) => new URL(fetched.url).searchParams.get("before"))).toEqual([
      "281",
      "231",
      "181",
      "131",
      "81",
      "31",
    ]);
    again.drop(1006);
    vi.advanceTimersByTime(60_000);
    (sockets.at(-1) as FakeSocket).open();
    expect((sockets.at(-1) as FakeSocket).sentOf("join")).toEqual([{ t: "join", room: "lobby", since: 300 }]);
  });

  it("re-syncs after an epoch frame and continues above the lost seqs", async () => {
    const client = makeClient();
    const socket = online(client);
    for (let seq = 1; seq <= 3; seq++) socket.receive(msg("lobby", seq));
    socket.receive({ t: "epoch", room: "lobby", seq: 10_003 });
    expect(socket.sentOf("join").slice(1)).toEqual([{ t: "join", room: "lobby", since: 3 }]);
    fetchAnswer = () => ({
      status: 200,
      body: { room: "lobby", messages: [1, 2, 3].map((seq) => message("lobby", seq)) },
    });
    socket.receive({ t: "joined", room: "lobby", seq: 10_004, recovered: false });
    socket.receive(msg("lobby", 10_004));
    socket.receive(msg("lobby", 10_005));
    await vi.waitFor(() => expect(fetches).toHaveLength(1));
    expect(room(client, "lobby").items.map((item) => item.seq)).toEqual([1, 2, 3, 10_004, 10_005]);
    expect(socket.sentOf("join")).toHaveLength(2);
  });

  it("starts a room from the replay when it had nothing, and pages older history on request", async () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive({ t: "joined", room: "lobby", seq: 300, recovered: false });
    for (let seq = 201; seq <= 300; seq++) socket.receive(msg("lobby", seq));
    expect(room(client, "lobby").hasOlder).toBe(true);
    expect(fetches).toEqual([]);
    fetchAnswer = () => ({
      status: 200,
      body: {
        room: "lobby",
        messages: Array.from({ length: 50 }, (_, i) => message("lobby", 151 + i)),
        nextBefore: 151,
      },
    });
    await client.loadOlder("lobby");
    expect(fetches.at(-1)?.url).toBe("http://chat.test/api/rooms/lobby/messages?before=201&limit=50&user=alice");
    expect(room(client, "lobby").items[0]?.seq).toBe(151);
    expect(room(client, "lobby").hasOlder).toBe(true);
    fetchAnswer = () => ({ status: 200, body: { room: "lobby", messages: [message("lobby", 150)] } });
    await client.loadOlder("lobby");
    expect(room(client, "lobby").hasOlder).toBe(false);
  });

  it("shows a history failure without losing what is loaded", async () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive({ t: "joined", room: "lobby", seq: 10, recovered: false });
    socket.receive(msg("lobby", 10));
    fetchAnswer = () => ({ status: 503, body: {} });
    await client.loadOlder("lobby");
    expect(room(client, "lobby")).toMatchObject({ loadingOlder: false, historyError: expect.stringMatching(/503/) });
    expect(room(client, "lobby").items).toHaveLength(1);
  });

  it("joins again from the last gap-free seq when a live message skips seqs, once per gap", () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive({ t: "presence", room: "lobby", joined: ["alice", "bob"], count: 2 });
    socket.receive(msg("lobby", 1));
    socket.receive(msg("lobby", 3));
    socket.receive(msg("lobby", 4));
    expect(socket.sentOf("join").slice(1)).toEqual([{ t: "join", room: "lobby", since: 1 }]);
    socket.receive({ t: "joined", room: "lobby", seq: 4, recovered: true });
    socket.receive(msg("lobby", 2));
    expect(room(client, "lobby").items.map((item) => item.seq)).toEqual([1, 2, 3, 4]);
    // The rejoin kept the presence list (the server sends its snapshot only on a fresh join).
    expect(room(client, "lobby").members).toEqual(["alice", "bob"]);
    socket.receive(msg("lobby", 6));
    expect(socket.sentOf("join").slice(1)).toEqual([
      { t: "join", room: "lobby", since: 1 },
      { t: "join", room: "lobby", since: 4 },
    ]);
  });

  it("counts unread messages from others until the room is read, and remembers the read position", () => {
    const storage = new MemoryStorage();
    const client = makeClient({ storage });
    const socket = online(client, { lobby: 3 });
    socket.receive(msg("lobby", 4));
    socket.receive(msg("lobby", 5, "alice"));
    socket.receive(msg("lobby", 6));
    expect(room(client, "lobby").unread).toBe(2);
    client.markRead("lobby");
    expect(room(client, "lobby").unread).toBe(0);
    const again = makeClient({ storage });
    expect(room(again, "lobby").unread).toBe(0);
    const reopened = online(again);
    for (let seq = 1; seq <= 7; seq++) reopened.receive(msg("lobby", seq));
    expect(room(again, "lobby").unread).toBe(1);
  });

  it("tracks presence and typing, and typing indicators expire", () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive({ t: "presence", room: "lobby", joined: ["bob", "alice", "carol"], count: 3 });
    socket.receive({ t: "presence", room: "lobby", left: ["carol"], count: 2 });
    expect(room(client, "lobby")).toMatchObject({ members: ["alice", "bob"], memberCount: 2 });
    socket.receive({ t: "typing", room: "lobby", user: "bob" });
    expect(room(client, "lobby").typing).toEqual(["bob"]);
    vi.advanceTimersByTime(5000);
    expect(room(client, "lobby").typing).toEqual([]);
    const now = vi.fn(() => 0);
    const client2 = makeClient({ now, typingIntervalMs: 2000 });
    const socket2 = online(client2);
    client2.typing("lobby");
    client2.typing("lobby");
    client2.typing("lobby");
    expect(socket2.sentOf("typing")).toHaveLength(1);
    // The keystrokes inside the interval are announced once, at its end.
    now.mockReturnValue(2000);
    vi.advanceTimersByTime(2000);
    expect(socket2.sentOf("typing")).toHaveLength(2);
    client.typing("lobby");
    expect(socket.sentOf("typing")).toHaveLength(1);
  });
});

describe("ChatClient rooms", () => {
  it("opens, remembers and leaves rooms; direct rooms are sorted pairs including us", () => {
    const storage = new MemoryStorage();
    const client = makeClient({ storage });
    const socket = online(client);
    expect(client.openRoom("bad name")).toMatch(/letters, digits/);
    expect(client.openRoom("dm:bob:carol")).toMatch(/another/);
    expect(client.openDirect("alice")).toEqual({ problem: "That is you." });
    expect(client.openDirect("bob")).toEqual({ room: "dm:alice:bob" });
    expect(client.openRoom("dev")).toBeUndefined();
    expect(socket.sentOf("join").map((frame) => frame.room)).toEqual(["lobby", "dm:alice:bob", "dev"]);
    client.leaveRoom("lobby");
    expect(socket.sent.at(-1)).toEqual({ t: "leave", room: "lobby" });
    const again = makeClient({ storage });
    expect(again.getSnapshot().rooms.map((candidate) => candidate.name)).toEqual(["dm:alice:bob", "dev"]);
  });

  it("ignores garbage in storage", () => {
    const storage = new MemoryStorage();
    storage.setItem("parley:alice:rooms", '{"not":"a list"}');
    storage.setItem("parley:alice:read", "not json");
    expect(
      makeClient({ storage })
        .getSnapshot()
        .rooms.map((candidate) => candidate.name),
    ).toEqual(["lobby"]);
  });
});

describe("ChatClient edits, deletions, reactions and replies", () => {
  const edited = (at: number, seq: number, body: string, from = "bob", cid = `c${at}`): ServerFrame => ({
    t: "edited",
    room: "lobby",
    at,
    seq,
    id: `id-lobby-${at}`,
    cid,
    from,
    body,
    editedAt: 1_700_000_000_000 + at,
  });
  const reaction = (at: number, seq: number, user: string, emoji: string, on: boolean, cid = `c${at}`) =>
    ({
      t: "reaction",
      room: "lobby",
      at,
      seq,
      id: `id-lobby-${at}`,
      cid,
      user,
      emoji,
      on,
      ts: 1_700_000_000_000 + at,
    }) satisfies ServerFrame;

  it("rejoins with since past the last edit, deletion or reaction, not only the last message", () => {
    const client = makeClient();
    const first = online(client);
    first.receive(msg("lobby", 1));
    first.receive(edited(2, 1, "fixed"));
    first.receive(reaction(3, 1, "carol", "👍", true));
    first.receive({ t: "deleted", room: "lobby", at: 4, seq: 1, id: "id-lobby-4", cid: "c4", by: "bob", ts: 4 });
    // No false gap: nothing was rejoined to recover.
    expect(first.sentOf("join")).toHaveLength(1);
    first.drop(1012);
    vi.advanceTimersByTime(60_000);
    const second = sockets.at(-1) as FakeSocket;
    second.open();
    expect(second.sentOf("join")).toEqual([{ t: "join", room: "lobby", since: 4 }]);
  });

  it("rejoins to recover when a change skips positions", () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive(msg("lobby", 1));
    socket.receive(reaction(3, 1, "carol", "👍", true));
    expect(socket.sentOf("join").slice(1)).toEqual([{ t: "join", room: "lobby", since: 1 }]);
  });

  it("sends edits, deletions and reactions with cids, shows them at once, and resends them after a reconnect", () => {
    const client = makeClient();
    const first = online(client);
    first.receive(msg("lobby", 1, "alice"));
    first.receive(msg("lobby", 2, "bob"));
    expect(client.edit("lobby", 1, "message 1, fixed")).toEqual({ ok: true, cid: "cid-1" });
    expect(client.toggleReaction("lobby", 2, "🎉")).toEqual({ ok: true, cid: "cid-2" });
    expect(client.deleteMessage("lobby", 1)).toEqual({ ok: true, cid: "cid-3" });
    expect(first.sent.slice(1)).toEqual([
      { t: "edit", room: "lobby", seq: 1, body: "message 1, fixed", cid: "cid-1" },
      { t: "react", room: "lobby", seq: 2, emoji: "🎉", on: true, cid: "cid-2" },
      { t: "delete", room: "lobby", seq: 1, cid: "cid-3" },
    ]);
    expect(room(client, "lobby").items).toMatchObject([
      { seq: 1, deleted: true, saving: "delete" },
      { seq: 2, reactions: [{ emoji: "🎉", count: 1, mine: true }] },
    ]);
    // The reaction was acked before the drop; the other two go out again after the rejoin, with their cids.
    first.receive({ t: "ack", room: "lobby", cid: "cid-2", seq: 3, id: "id-lobby-3" });
    first.drop(1006);
    vi.advanceTimersByTime(60_000);
    const second = sockets.at(-1) as FakeSocket;
    second.open();
    second.receive({ t: "joined", room: "lobby", seq: 5, recovered: true });
    expect(second.sent.filter((frame) => frame.t !== "join").map((frame) => "cid" in frame && frame.cid)).toEqual([
      "cid-1",
      "cid-3",
    ]);
    second.receive(reaction(3, 2, "alice", "🎉", true, "cid-2"));
    second.receive(edited(4, 1, "message 1, fixed", "alice", "cid-1"));
    second.receive({ t: "deleted", room: "lobby", at: 5, seq: 1, id: "id-lobby-5", cid: "cid-3", by: "alice", ts: 5 });
    second.receive({ t: "ack", room: "lobby", cid: "cid-1", seq: 4, id: "id-lobby-4" });
    second.receive({ t: "ack", room: "lobby", cid: "cid-3", seq: 5, id: "id-lobby-5" });
    expect(room(client, "lobby").items).toEqual([
      expect.objectContaining({ seq: 1, deleted: true, body: "" }),
      expect.objectContaining({ seq: 2, reactions: [{ emoji: "🎉", count: 1, mine: true }] }),
    ]);
    expect(room(client, "lobby").items[0]?.saving).toBeUndefined();
    // The toggle reads what is shown: a second click takes the reaction off.
    client.toggleReaction("lobby", 2, "🎉");
    expect(second.sent.at(-1)).toEqual({ t: "react", room: "lobby", seq: 2, emoji: "🎉", on: false, cid: "cid-4" });
  });

  it("shows on the message why the server refused a change, and offers a retry only where one may help", () => {
    const client = makeClient({ ackTimeoutMs: 5000 });
    const socket = online(client);
    socket.receive(msg("lobby", 1, "alice"));
    socket.receive(msg("lobby", 2, "bob"));
    client.edit("lobby", 1, "edited");
    socket.receive({ t: "error", code: "gone", cid: "cid-1", message: "message 1 was deleted" });
    expect(room(client, "lobby").items[0]).toMatchObject({
      body: "message 1",
      failedChange: { cid: "cid-1", action: "edit", retriable: false, reason: "the message was deleted." },
    });
    client.react("lobby", 2, "👍", true);
    socket.receive({ t: "error", code: "not_found", cid: "cid-2", message: "no message 2" });
    expect(room(client, "lobby").items[1]).toMatchObject({
      reactions: [],
      failedChange: { action: "react", reason: "the message was not found.", retriable: false },
    });
    client.dismiss("lobby", "cid-2");
    expect(room(client, "lobby").items[1]?.failedChange).toBeUndefined();
    client.deleteMessage("lobby", 1);
    socket.receive({ t: "error", code: "forbidden", cid: "cid-3", message: "not yours" });
    expect(room(client, "lobby").items[0]?.failedChange).toMatchObject({
      action: "delete",
      reason: "only its author may change that message.",
    });
    // No answer at all: retriable, and a retry goes out with the same cid.
    client.react("lobby", 2, "❤️", true);
    vi.advanceTimersByTime(5000);
    expect(room(client, "lobby").items[1]?.failedChange).toMatchObject({ cid: "cid-4", retriable: true });
    client.retry("lobby", "cid-4");
    expect(socket.sentOf("react").map((frame) => frame.cid)).toEqual(["cid-2", "cid-4", "cid-4"]);
    expect(client.getSnapshot().notice).toBeUndefined();
  });

  it("refuses what the server would: others' messages, deleted ones, bad emoji", () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive(msg("lobby", 1, "bob"));
    socket.receive(msg("lobby", 2, "alice"));
    socket.receive({ t: "deleted", room: "lobby", at: 3, seq: 2, id: "id-lobby-3", cid: "c3", by: "alice", ts: 3 });
    expect(client.edit("lobby", 1, "mine now")).toEqual({
      ok: false,
      reason: "Only its author may change that message.",
    });
    expect(client.deleteMessage("lobby", 1)).toMatchObject({ ok: false });
    expect(client.react("lobby", 2, "👍", true)).toEqual({ ok: false, reason: "That message was deleted." });
    expect(client.react("lobby", 1, "not an emoji", true)).toMatchObject({ ok: false });
    expect(client.react("lobby", 9, "👍", true)).toEqual({ ok: false, reason: "That message is not loaded." });
    expect(client.react("lobby", 1, ":shipit:", true)).toMatchObject({ ok: true });
    expect(socket.sent.filter((frame) => frame.t !== "join")).toEqual([
      { t: "react", room: "lobby", seq: 1, emoji: ":shipit:", on: true, cid: "cid-1" },
    ]);
  });

  it("lets an admin, as the server says, delete anyone's message but edit only their own", async () => {
    meAnswer = () => ({ status: 200, body: { user: "alice", admin: true } });
    const client = makeClient({ credentials: { kind: "dev", user: "alice", admin: true } });
    const socket = online(client);
    expect(socket.url).toContain("user=alice&admin=1");
    await vi.waitFor(() => expect(client.getSnapshot().admin).toBe(true));
    socket.receive(msg("lobby", 1, "bob"));
    expect(client.edit("lobby", 1, "mine now")).toMatchObject({ ok: false });
    expect(client.deleteMessage("lobby", 1)).toEqual({ ok: true, cid: "cid-1" });
    expect(socket.sentOf("delete")).toEqual([{ t: "delete", room: "lobby", seq: 1, cid: "cid-1" }]);
  });

  it("sends a reply with the seq it answers and quotes that message", () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive({ t: "msg", ...message("lobby", 1), body: "lunch?\nat noon" });
    client.send("lobby", "yes", 1);
    expect(socket.sentOf("send")).toEqual([{ t: "send", room: "lobby", cid: "cid-1", body: "yes", replyTo: 1 }]);
    socket.receive({ t: "msg", ...message("lobby", 2, "alice", "cid-1"), body: "yes", replyTo: 1 });
    expect(room(client, "lobby").items[1]).toMatchObject({
      seq: 2,
      replyTo: { seq: 1, from: "bob", excerpt: "lunch?", deleted: false },
    });
  });

  it("pages history as messages stand now, following nextBefore over the seqs that changes took", async () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive({ t: "joined", room: "lobby", seq: 40, recovered: false });
    socket.receive(msg("lobby", 40));
    const stored = (seq: number, extra: object = {}) => ({ ...message("lobby", seq), reactions: [], ...extra });
    fetchAnswer = (url) =>
      new URL(url).searchParams.get("before") === "40"
        ? {
            status: 200,
            body: {
              room: "lobby",
              messages: [
                stored(30, { body: "edited", editedAt: 1_700_000_000_035 }),
                { ...stored(33, { deleted: true }), body: undefined },
                stored(36, { reactions: [{ emoji: "👍", count: 2, mine: true }], replyTo: 33 }),
              ],
              nextBefore: 30,
            },
          }
        : { status: 200, body: { room: "lobby", messages: [stored(2)] } };
    await client.loadOlder("lobby");
    expect(room(client, "lobby").items).toMatchObject([
      { seq: 30, body: "edited", editedAt: 1_700_000_000_035, deleted: false },
      { seq: 33, body: "", deleted: true },
      { seq: 36, reactions: [{ emoji: "👍", count: 2, mine: true }], replyTo: { seq: 33, deleted: true } },
      { seq: 40 },
    ]);
    expect(room(client, "lobby").hasOlder).toBe(true);
    await client.loadOlder("lobby");
    expect(fetches.at(-1)?.url).toContain("before=30");
    expect(room(client, "lobby").items.map((item) => item.seq)).toEqual([2, 30, 33, 36, 40]);
    expect(room(client, "lobby").hasOlder).toBe(false);
    // A live reaction after the page counts on top of it; ours corrects what the page said.
    socket.receive(reaction(41, 36, "alice", "👍", false));
    expect(room(client, "lobby").items[3]?.reactions).toEqual([{ emoji: "👍", count: 1, mine: false }]);
  });
});

describe("ChatClient search", () => {
  const hit = { room: "dm:alice:bob", seq: 3, id: "i3", cid: "c3", from: "bob", body: "the plan", ts: 1_000 };

  it("asks the search API with our credentials and gives back the page", async () => {
    const client = makeClient({ credentials: { kind: "jwt", token: "a.b.c", user: "alice" } });
    fetchAnswer = () => ({ status: 200, body: { messages: [hit], nextBefore: "abc" } });
    expect(await client.search("the plan", { room: "dm:alice:bob", before: "xyz" })).toEqual({
      ok: true,
      page: { messages: [hit], nextBefore: "abc" },
    });
    expect(fetches[0]?.url).toBe("http://chat.test/api/search?q=the+plan&room=dm%3Aalice%3Abob&before=xyz&limit=20");
    expect(fetches[0]?.headers).toEqual({ authorization: "Bearer a.b.c" });
  });

  it("says why without asking when the query cannot be searched, and when the server refuses or garbles", async () => {
    const client = makeClient();
    expect(await client.search("   ")).toEqual({ ok: false, reason: "Type what to search for." });
    expect(await client.search("x".repeat(201))).toMatchObject({ ok: false });
    expect(fetches).toEqual([]);
    fetchAnswer = () => ({ status: 503, body: {} });
    expect(await client.search("plan")).toEqual({ ok: false, reason: "Search failed: the server answered 503." });
    fetchAnswer = () => ({ status: 200, body: { messages: [{ ...hit, body: undefined }] } });
    expect(await client.search("plan")).toMatchObject({ ok: false });
    expect(fetches.at(-1)?.url).toBe("http://chat.test/api/search?q=plan&limit=20&user=alice");
  });
});

describe("ChatClient read positions", () => {
  it("sends the read position at most once per interval, and only when it grew", () => {
    const client = makeClient();
    const socket = online(client, { lobby: 2 });
    socket.receive(msg("lobby", 1));
    socket.receive(msg("lobby", 2));
    client.markRead("lobby");
    expect(socket.sentOf("read")).toEqual([{ t: "read", room: "lobby", seq: 2 }]);
    // Nothing new: nothing to tell.
    vi.advanceTimersByTime(5000);
    client.markRead("lobby");
    expect(socket.sentOf("read")).toHaveLength(1);
    // Reading along: the positions of one interval go out as one frame at its end, the highest.
    socket.receive(msg("lobby", 3));
    client.markRead("lobby");
    expect(socket.sentOf("read")).toHaveLength(2);
    socket.receive(msg("lobby", 4));
    client.markRead("lobby");
    socket.receive({
      t: "reaction",
      room: "lobby",
      seq: 4,
      id: "id-lobby-4",
      at: 5,
      user: "bob",
      emoji: "👍",
      on: true,
      cid: "r1",
      ts: 1_700_000_000_005,
    });
    client.markRead("lobby");
    expect(socket.sentOf("read")).toHaveLength(2);
    vi.advanceTimersByTime(999);
    expect(socket.sentOf("read")).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(socket.sentOf("read")).toEqual([
      { t: "read", room: "lobby", seq: 2 },
      { t: "read", room: "lobby", seq: 3 },
      { t: "read", room: "lobby", seq: 5 },
    ]);
    vi.advanceTimersByTime(5000);
    expect(socket.sentOf("read")).toHaveLength(3);
  });

  it("does not send a position the server already told us, and sends one read offline after the rejoin", () => {
    const client = makeClient();
    const socket = online(client, { lobby: 0 });
    socket.receive(msg("lobby", 1));
    socket.receive({ t: "read", room: "lobby", user: "alice", seq: 1 });
    client.markRead("lobby");
    expect(socket.sentOf("read")).toEqual([]);
    socket.receive(msg("lobby", 2));
    socket.drop();
    client.markRead("lobby");
    expect(room(client, "lobby").unread).toBe(0);
    vi.advanceTimersByTime(60_000);
    const again = sockets.at(-1) as FakeSocket;
    expect(again).not.toBe(socket);
    again.open();
    expect(again.sentOf("read")).toEqual([]);
    again.receive({ t: "joined", room: "lobby", seq: 2 });
    expect(again.sentOf("read")).toEqual([{ t: "read", room: "lobby", seq: 2 }]);
  });

  it("raises the unread baseline from our own read position on the server, never lowering it", () => {
    const storage = new MemoryStorage();
    const client = makeClient({ storage });
    const socket = online(client, { lobby: 3 });
    for (let seq = 4; seq <= 7; seq++) socket.receive(msg("lobby", seq));
    expect(room(client, "lobby").unread).toBe(4);
    // Read on another device (or before a reload) up to 6.
    socket.receive({ t: "read", room: "lobby", user: "alice", seq: 6 });
    expect(room(client, "lobby").unread).toBe(1);
    socket.receive({ t: "read", room: "lobby", user: "alice", seq: 4 });
    expect(room(client, "lobby").unread).toBe(1);
    // Someone else's position is not ours.
    socket.receive({ t: "read", room: "lobby", user: "bob", seq: 7 });
    expect(room(client, "lobby").unread).toBe(1);
    expect(socket.sentOf("read")).toEqual([]);
    // Remembered across a reload, like a position read here.
    const reloaded = makeClient({ storage });
    const reopened = online(reloaded);
    for (let seq = 1; seq <= 7; seq++) reopened.receive(msg("lobby", seq));
    expect(room(reloaded, "lobby").unread).toBe(1);
  });

  it("marks our newest message the other person in a DM has read as seen", () => {
    const client = makeClient({ defaultRooms: ["dm:alice:bob", "lobby"] });
    const socket = online(client);
    const dm = "dm:alice:bob";
    const seen = () =>
      room(client, dm)
        .items.filter((item) => item.seen)
        .map((item) => item.seq);
    socket.receive(msg(dm, 1, "alice"));
    socket.receive(msg(dm, 2, "bob"));
    socket.receive(msg(dm, 3, "alice"));
    socket.receive(msg(dm, 4, "alice"));
    expect(seen()).toEqual([]);
    socket.receive({ t: "read", room: dm, user: "bob", seq: 2 });
    expect(seen()).toEqual([1]);
    socket.receive({ t: "read", room: dm, user: "bob", seq: 3 });
    expect(seen()).toEqual([3]);
    // A receipt never goes back.
    socket.receive({ t: "read", room: dm, user: "bob", seq: 1 });
    expect(seen()).toEqual([3]);
    // Our own reads on another device are no receipt.
    socket.receive({ t: "read", room: dm, user: "alice", seq: 4 });
    expect(seen()).toEqual([3]);
    // A message sent from here, once sequenced.
    client.send(dm, "there?");
    socket.receive({ t: "ack", room: dm, cid: "cid-1", seq: 5, id: "id-dm-5" });
    socket.receive({ t: "read", room: dm, user: "bob", seq: 5 });
    expect(seen()).toEqual([5]);
    socket.receive(msg(dm, 5, "alice", "cid-1"));
    expect(seen()).toEqual([5]);
    expect(room(client, dm).items.find((item) => item.seen)?.cid).toBe("cid-1");
    // Not in a room that is not a DM.
    socket.receive(msg("lobby", 1, "alice"));
    socket.receive({ t: "read", room: "lobby", user: "bob", seq: 1 });
    expect(room(client, "lobby").items.some((item) => item.seen)).toBe(false);
  });
});

describe("ChatClient inbox", () => {
  const dm = "dm:alice:bob";
  const entry = (name: string, latest: number, read: number, unread: number) => ({ room: name, latest, read, unread });
  const names = (client: ChatClient) => client.getSnapshot().rooms.map((candidate) => candidate.name);
  const stored = (storage: MemoryStorage, key: string) => JSON.parse(storage.getItem(`parley:alice:${key}`) ?? "null");
  /**
   * Waits until the client has asked for the inbox `count` times, then lets it finish with the answer: that takes a
   * few promise ticks, no timers.
   */
  async function inboxRead(count = 1): Promise<void> {
    await vi.waitFor(() => expect(inboxFetches).toHaveLength(count));
    for (let tick = 0; tick < 10; tick++) await Promise.resolve();
  }

  it("reads the inbox on every open: adds and joins the rooms it lacks, adopting higher read positions", async () => {
    const storage = new MemoryStorage();
    storage.setItem("parley:alice:read", JSON.stringify({ lobby: 3 }));
    const last = { ...message(dm, 2, "bob"), body: "are you there?\nsecond line" };
    inboxAnswer = () => ({
      status: 200,
      body: { rooms: [entry("dev", 9, 9, 0), { ...entry(dm, 2, 0, 1), last }, entry("lobby", 8, 5, 1)] },
    });
    const client = makeClient({ storage });
    const socket = online(client);
    expect(inboxFetches).toEqual(["http://chat.test/api/inbox?user=alice"]);
    await vi.waitFor(() => expect(names(client)).toEqual(["lobby", "dev", dm]));
    expect(socket.sentOf("join")).toEqual([
      { t: "join", room: "lobby", since: 0 },
      { t: "join", room: "dev", since: 0 },
      { t: "join", room: dm, since: 0 },
    ]);
    // Before anything is loaded, the server's counts and the newest message stand for the room.
    expect(room(client, dm)).toMatchObject({ unread: 1, last: { from: "bob", excerpt: "are you there?" } });
    expect(stored(storage, "read")).toEqual({ lobby: 5, dev: 9, [dm]: 0 });
    expect(stored(storage, "listed")).toEqual(["lobby", "dev", dm]);
    // The positions came from the server: nothing to tell it.
    expect(socket.sentOf("read")).toEqual([]);
    // The direct room's first join does not take its messages as read: the inbox said what was.
    socket.receive({ t: "joined", room: dm, seq: 2 });
    socket.receive(msg(dm, 1, "alice"));
    socket.receive({ t: "msg", ...last });
    expect(room(client, dm).unread).toBe(1);
    socket.drop(1006);
    vi.advanceTimersByTime(60_000);
    (sockets.at(-1) as FakeSocket).open();
    expect(inboxFetches).toHaveLength(2);
  });

  it("tells the server a read position of ours it lacks, and lets a first join's assumption give way", async () => {
    const storage = new MemoryStorage();
    storage.setItem("parley:alice:rooms", JSON.stringify(["lobby", "dev"]));
    storage.setItem("parley:alice:read", JSON.stringify({ dev: 7 }));
    inboxAnswer = () => ({ status: 200, body: { rooms: [entry("dev", 9, 4, 2), entry("lobby", 10, 4, 6)] } });
    const client = makeClient({ storage });
    // Lobby is joined before the inbox answers: the join assumes it read, until the server says otherwise.
    const socket = online(client, { lobby: 10, dev: 9 });
    for (let seq = 1; seq <= 10; seq++) socket.receive(msg("lobby", seq));
    expect(room(client, "lobby").unread).toBe(0);
    await inboxRead();
    expect(room(client, "lobby").unread).toBe(6);
    expect(socket.sentOf("read")).toEqual([{ t: "read", room: "dev", seq: 7 }]);
  });

  it("drops the rooms a previous inbox listed and this one does not (left elsewhere), keeping ones opened here", async () => {
    const storage = new MemoryStorage();
    storage.setItem("parley:alice:rooms", JSON.stringify(["lobby", "dev", "new-here"]));
    storage.setItem("parley:alice:listed", JSON.stringify(["lobby", "dev"]));
    inboxAnswer = () => ({ status: 200, body: { rooms: [entry("lobby", 0, 0, 0)] } });
    const client = makeClient({ storage });
    const socket = online(client);
    await vi.waitFor(() => expect(names(client)).toEqual(["lobby", "new-here"]));
    expect(socket.sent.at(-1)).toEqual({ t: "leave", room: "dev" });
    expect(stored(storage, "rooms")).toEqual(["lobby", "new-here"]);
    // The join of the room opened here put it in the inbox: a later inbox without it means it was left elsewhere.
    expect(stored(storage, "listed")).toEqual(["lobby", "new-here"]);
  });

  it("changes nothing when the inbox answer fails or cannot be read", async () => {
    const storage = new MemoryStorage();
    storage.setItem("parley:alice:rooms", JSON.stringify(["lobby", "dev"]));
    storage.setItem("parley:alice:listed", JSON.stringify(["lobby", "dev"]));
    inboxAnswer = () => ({ status: 200, body: { rooms: [{ room: "other", latest: "many" }] } });
    const client = makeClient({ storage });
    const socket = online(client, { lobby: 3 });
    for (let seq = 1; seq <= 3; seq++) socket.receive(msg("lobby", seq));
    await inboxRead();
    expect(names(client)).toEqual(["lobby", "dev"]);
    expect(room(client, "lobby").unread).toBe(0);
    expect(stored(storage, "listed")).toEqual(["lobby", "dev"]);
    inboxAnswer = () => ({ status: 500, body: { rooms: [] } });
    socket.drop(1006);
    vi.advanceTimersByTime(60_000);
    const again = sockets.at(-1) as FakeSocket;
    again.open();
    await inboxRead(2);
    expect(names(client)).toEqual(["lobby", "dev"]);
    expect(again.sentOf("leave")).toEqual([]);
  });

  it("adds a direct room a live inbox frame names once the inbox lists it, joined, not opened; `left` removes it", async () => {
    const storage = new MemoryStorage();
    const client = makeClient({ storage });
    const socket = online(client);
    inboxAnswer = () => ({ status: 200, body: { rooms: [entry("lobby", 0, 0, 0), entry(dm, 1, 0, 1)] } });
    socket.receive({ t: "inbox", ...entry(dm, 1, 0, 1) });
    await inboxRead(2);
    expect(names(client)).toEqual(["lobby", dm]);
    expect(socket.sentOf("join").at(-1)).toEqual({ t: "join", room: dm, since: 0 });
    expect(room(client, dm).unread).toBe(1);
    socket.receive({ t: "joined", room: dm, seq: 1 });
    socket.receive(msg(dm, 1, "bob"));
    expect(room(client, dm)).toMatchObject({ unread: 1, last: { seq: 1, from: "bob", excerpt: "message 1" } });
    // Read on another device.
    socket.receive({ t: "inbox", ...entry(dm, 1, 1, 0) });
    expect(room(client, dm).unread).toBe(0);
    expect(stored(storage, "read")).toMatchObject({ [dm]: 1 });
    // Left on another device: gone here too, and left on this connection.
    socket.receive({ t: "inbox", ...entry(dm, 1, 0, 0), left: true });
    expect(names(client)).toEqual(["lobby"]);
    expect(socket.sent.at(-1)).toEqual({ t: "leave", room: dm });
    expect(stored(storage, "rooms")).toEqual(["lobby"]);
    expect(stored(storage, "listed")).toEqual(["lobby"]);
  });

  it("ignores a live inbox frame of a room the inbox no longer lists (sent before a leave elsewhere)", async () => {
    const storage = new MemoryStorage();
    const client = makeClient({ storage });
    const socket = online(client);
    inboxAnswer = () => ({ status: 200, body: { rooms: [entry("lobby", 0, 0, 0)] } });
    socket.receive({ t: "inbox", ...entry("dev", 4, 4, 0) });
    await inboxRead(2);
    expect(names(client)).toEqual(["lobby"]);
    expect(socket.sentOf("join")).toEqual([{ t: "join", room: "lobby", since: 0 }]);
    expect(stored(storage, "listed")).toEqual(["lobby"]);
  });

  it("counts unread from the server while the loaded messages do not reach the read position, locally once they do", async () => {
    const client = makeClient();
    const socket = online(client);
    socket.receive({ t: "inbox", ...entry("lobby", 300, 100, 150) });
    socket.receive({ t: "joined", room: "lobby", seq: 300, recovered: false });
    for (let seq = 281; seq <= 300; seq++) socket.receive(msg("lobby", seq));
    expect(room(client, "lobby").hasOlder).toBe(true);
    expect(room(client, "lobby").unread).toBe(150);
    // Messages above what the server counted add to its count.
    socket.receive(msg("lobby", 301));
    socket.receive(msg("lobby", 302, "alice"));
    expect(room(client, "lobby").unread).toBe(151);
    // Read elsewhere up to 290: the loaded messages reach back there, so they are counted.
    socket.receive({ t: "read", room: "lobby", user: "alice", seq: 290 });
    expect(room(client, "lobby").unread).toBe(11);
    // The server stops counting at MAX_UNREAD.
    inboxAnswer = () => ({
      status: 200,
      body: { rooms: [entry("lobby", 302, 290, 11), entry(dm, 5000, 0, MAX_UNREAD)] },
    });
    socket.receive({ t: "inbox", ...entry(dm, 5000, 0, MAX_UNREAD) });
    await inboxRead(2);
    socket.receive({ t: "joined", room: dm, seq: 5000, recovered: false });
    socket.receive(msg(dm, 5000));
    socket.receive(msg(dm, 5001));
    expect(room(client, dm).unread).toBe(MAX_UNREAD);
  });
});

describe("ChatClient files", () => {
  const grant = {
    status: 201,
    body: {
      id: "file-1",
      upload: { url: "/api/objects/file-1?sig=s", method: "PUT", headers: { "content-type": "image/png" } },
      expiresAt: 1,
    },
  };
  const picture = { name: "cat.png", size: 3, type: "image/png", body: new Blob([new Uint8Array([1, 2, 3])]) };
  const uploads: { url: string; method: string; headers: Readonly<Record<string, string>>; size: number }[] = [];
  const uploading =
    (status: number): Upload =>
    async (url, init, onProgress) => {
      uploads.push({ url, method: init.method, headers: init.headers, size: init.body.size });
      onProgress(0.5);
      onProgress(1);
      return status;
    };
  beforeEach(() => {
    uploads.length = 0;
  });

  it("asks for a grant, uploads where it says with progress, and sends the file with the message", async () => {
    fetchAnswer = (url) => (url.includes("/files") ? grant : { status: 200, body: { room: "lobby", messages: [] } });
    const client = makeClient({ upload: uploading(200) });
    const socket = online(client);
    const progress: number[] = [];
    const result = await client.attach("lobby", picture, (fraction) => progress.push(fraction));

    const asked = fetches.find((fetched) => fetched.method === "POST");
    expect(asked?.url).toBe("http://chat.test/api/rooms/lobby/files?user=alice");
    expect(JSON.parse(asked?.body ?? "")).toEqual({ name: "cat.png", size: 3, type: "image/png" });
    expect(uploads).toEqual([
      {
        url: "http://chat.test/api/objects/file-1?sig=s",
        method: "PUT",
        headers: { "content-type": "image/png" },
        size: 3,
      },
    ]);
    expect(progress).toEqual([0.5, 1]);
    const attachment = { id: "file-1", name: "cat.png", size: 3, type: "image/png" };
    expect(result).toEqual({ ok: true, attachment });

    // With a file the body may be empty: the frame has none, carries the file, and so does the message shown at once.
    expect(client.send("lobby", "", undefined, [attachment])).toEqual({ ok: true, cid: "cid-1" });
    expect(socket.sentOf("send")).toEqual([{ t: "send", room: "lobby", cid: "cid-1", attachments: [attachment] }]);
    expect(room(client, "lobby").items[0]?.attachments).toEqual([attachment]);
    expect(client.send("lobby", "")).toEqual({ ok: false, reason: "Type a message first." });
  });

  it("says why a file was not uploaded: the server's refusal, or the upload's failure", async () => {
    fetchAnswer = () => ({ status: 413, body: { code: "too_large", message: "a file may be at most 10 MB" } });
    const client = makeClient({ upload: uploading(200) });
    online(client);
    expect(await client.attach("lobby", picture)).toEqual({
      ok: false,
      reason: "cat.png was not uploaded: a file may be at most 10 MB.",
    });
    expect(uploads).toEqual([]);

    fetchAnswer = () => grant;
    const offline = makeClient({ upload: uploading(0) });
    expect(await offline.attach("lobby", picture)).toEqual({
      ok: false,
      reason: "cat.png was not uploaded: the connection failed.",
    });
    const refused = makeClient({ upload: uploading(403) });
    expect(await refused.attach("lobby", picture)).toEqual({
      ok: false,
      reason: "cat.png was not uploaded: status 403.",
    });
  });

  it("shows a message's files until it is deleted, and gets each file's URL when asked", async () => {
    const client = makeClient();
    const socket = online(client);
    const attachment = { id: "file-2", name: "notes.pdf", size: 9, type: "application/pdf" };
    socket.receive({ ...msg("lobby", 1), attachments: [attachment] } as ServerFrame);
    expect(room(client, "lobby").items[0]?.attachments).toEqual([attachment]);

    fetchAnswer = () => ({ status: 200, body: { url: "https://s3.test/b/file-2?X-Amz-Signature=s", expiresAt: 1 } });
    expect(await client.fileUrl("lobby", "file-2")).toBe("https://s3.test/b/file-2?X-Amz-Signature=s");
    expect(fetches.at(-1)?.url).toBe("http://chat.test/api/rooms/lobby/files/file-2?user=alice");
    fetchAnswer = () => ({ status: 410, body: { code: "gone", message: "deleted" } });
    await expect(client.fileUrl("lobby", "file-2")).rejects.toThrow("the file was deleted");

    socket.receive({ t: "deleted", room: "lobby", at: 2, seq: 1, id: "id-lobby-2", cid: "c2", by: "bob", ts: 2 });
    expect(room(client, "lobby").items[0]).toMatchObject({ deleted: true, attachments: [] });
  });
});
