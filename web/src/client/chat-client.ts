import {
  type Attachment,
  backoffDelay,
  bodySchema,
  type ClientFrame,
  CloseCode,
  decodeServerFrame,
  dmRoom,
  ErrorCode,
  type EventFrame,
  emojiSchema,
  type HistoryPage,
  historyPageSchema,
  type InboxEntry,
  inboxSchema,
  isRoomName,
  MAX_BODY_LENGTH,
  MAX_SEARCH_QUERY_LENGTH,
  mayAccess,
  meSchema,
  NAME_PATTERN,
  parseJson,
  type SearchPage,
  type ServerFrame,
  searchPageSchema,
  searchQuerySchema,
} from "@parley/protocol";
import { z } from "zod";
import { type ChangeAction, type OutgoingFrame, RoomModel, type RoomSnapshot } from "./room.js";
import { KeyedThrottle } from "./throttle.js";

/**
 * Who we are to the server: a dev-mode name (`?user=`, and `&admin=1` for an admin) or a JWT (`?token=` /
 * `Authorization: Bearer`).
 */
export type Credentials =
  | { readonly kind: "dev"; readonly user: string; readonly admin?: true | undefined }
  | { readonly kind: "jwt"; readonly token: string; readonly user: string };

/** What the client hears from a connection. */
export interface SocketHandlers {
  onOpen(): void;
  onMessage(text: string): void;
  onClose(code: number): void;
}

/** An open (or opening) connection, as the client drives it. */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Opens a browser WebSocket: text frames go to `onMessage`, errors end in `onClose` like the browser does. */
export function browserSocket(url: string, handlers: SocketHandlers): SocketLike {
  const socket = new WebSocket(url);
  socket.onopen = () => handlers.onOpen();
  socket.onmessage = (event) => {
    if (typeof event.data === "string") handlers.onMessage(event.data);
  };
  socket.onclose = (event) => handlers.onClose(event.code);
  return {
    send: (data) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(data);
    },
    close: (code, reason) => socket.close(code, reason),
  };
}

/** The part of `Storage` the client uses to remember rooms and read positions across reloads. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export type ConnectionState =
  | { readonly status: "connecting"; readonly attempt: number }
  | { readonly status: "online" }
  | { readonly status: "waiting"; readonly retryAt: number; readonly reason: string; readonly attempt: number }
  | { readonly status: "refused"; readonly reason: string }
  | { readonly status: "closed" };

export interface ClientSnapshot {
  readonly me: string;
  /** Whether the server says we are an admin (`GET /api/me`), who may delete anyone's messages. */
  readonly admin: boolean;
  readonly connection: ConnectionState;
  /** Rooms in the order the user opened them; DM rooms included. */
  readonly rooms: readonly RoomSnapshot[];
  /** The last problem worth telling the user that belongs to no single message. */
  readonly notice?: string;
}

export interface ChatClientOptions {
  readonly credentials: Credentials;
  /** The server's origin, e.g. `https://chat.example.com` (the page's own origin in the browser). */
  readonly origin: string;
  readonly openSocket: (url: string, handlers: SocketHandlers) => SocketLike;
  readonly fetch: (
    url: string,
    init: { method?: string; headers: Record<string, string>; body?: string },
  ) => Promise<{
    status: number;
    json(): Promise<unknown>;
  }>;
  /** Sends a file's bytes where an upload grant says, telling how far it got (0..1); resolves with the status. */
  readonly upload?: Upload;
  readonly storage?: StorageLike;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly newCid?: () => string;
  /** Rooms opened when nothing is remembered. @default ["lobby"] */
  readonly defaultRooms?: readonly string[];
  /** How long a sent message may wait for its `ack` before it is shown as failed. @default 15000 */
  readonly ackTimeoutMs?: number;
  /** How long a typing indicator stays up after the last typing event. @default 4000 */
  readonly typingTtlMs?: number;
  /** Shortest time between two typing events we send for a room. @default 2000 */
  readonly typingIntervalMs?: number;
  /**
   * Shortest time between two `read` frames we send for a room: reading along a busy room reports its position at
   * most this often. @default 1000
   */
  readonly readIntervalMs?: number;
  /** Application-level ping while idle, to notice a dead connection. @default 25000 */
  readonly pingIntervalMs?: number;
  /** Messages per history page. @default 50 */
  readonly historyPageSize?: number;
  /** Hits per search page. @default 20 */
  readonly searchPageSize?: number;
}

/** A PUT of a file's bytes to `url`, reporting progress; resolves with the HTTP status (0 when it never got one). */
export type Upload = (
  url: string,
  init: { readonly method: string; readonly headers: Readonly<Record<string, string>>; readonly body: Blob },
  onProgress: (fraction: number) => void,
) => Promise<number>;

/** A file the user picked, dropped or pasted. */
export interface LocalFile {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  readonly body: Blob;
}

/** An uploaded file to send with a message, or why it could not be uploaded. */
export type AttachResult =
  | { readonly ok: true; readonly attachment: Attachment }
  | { readonly ok: false; readonly reason: string };

const uploadGrantSchema = z.object({
  id: z.string(),
  upload: z.object({ url: z.string(), method: z.string(), headers: z.record(z.string(), z.string()) }),
});
const downloadSchema = z.object({ url: z.string() });

/** The server's own words for a refusal (`{code, message}`), or its status. */
async function refusal(response: { status: number; json(): Promise<unknown> }): Promise<string> {
  const body: unknown = await response.json().catch(() => undefined);
  const said = z.object({ message: z.string() }).safeParse(body);
  return said.success ? said.data.message : `the server answered ${response.status}`;
}

/** A page of search results, or why there is none. */
export type SearchResult =
  | { readonly ok: true; readonly page: SearchPage }
  | { readonly ok: false; readonly reason: string };

/** Why `q` cannot be searched for, or `undefined` when it can. */
export function searchProblem(q: string): string | undefined {
  if (q.trim() === "") return "Type what to search for.";
  if (q.length > MAX_SEARCH_QUERY_LENGTH) return `Too long: at most ${MAX_SEARCH_QUERY_LENGTH} characters.`;
  if (!searchQuerySchema.safeParse(q).success) return "The search contains characters that cannot be searched for.";
  return undefined;
}

export type SendResult = { readonly ok: true; readonly cid: string } | { readonly ok: false; readonly reason: string };

/** Reconnect delays: from 0.1 s up to 15 s, with full jitter so a restarted gateway's clients spread out. */
export const RECONNECT_BACKOFF = { initialMs: 500, maxMs: 15_000, floorMs: 100 } as const;

const SEND_ERRORS: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.RateLimited]: "Sending too fast; try again in a moment.",
  [ErrorCode.Unavailable]: "The server could not store it; try again.",
  [ErrorCode.TooLarge]: `Too long: at most ${MAX_BODY_LENGTH} characters.`,
  [ErrorCode.NotJoined]: "Not in the room yet; try again.",
  [ErrorCode.BadRequest]: "The server refused this message.",
  [ErrorCode.NotFound]: "The message it answers was not found.",
  [ErrorCode.Gone]: "The message it answers was deleted.",
};

/** What an error frame means for one of our edits, deletions or reactions, and whether a retry may help. */
const CHANGE_ERRORS: Partial<Record<ErrorCode, { readonly reason: string; readonly retriable: boolean }>> = {
  [ErrorCode.NotFound]: { reason: "the message was not found.", retriable: false },
  [ErrorCode.Forbidden]: { reason: "only its author may change that message.", retriable: false },
  [ErrorCode.Gone]: { reason: "the message was deleted.", retriable: false },
  [ErrorCode.BadRequest]: { reason: "the server refused it.", retriable: false },
  [ErrorCode.TooLarge]: { reason: `too long: at most ${MAX_BODY_LENGTH} characters.`, retriable: false },
  [ErrorCode.RateLimited]: { reason: "too fast; try again in a moment.", retriable: true },
  [ErrorCode.Unavailable]: { reason: "the server could not store it; try again.", retriable: true },
  [ErrorCode.NotJoined]: { reason: "not in the room yet; try again.", retriable: true },
};

/** Why a body cannot be sent, or `undefined` when it can. */
export function bodyProblem(body: string): string | undefined {
  if (body.trim() === "") return "Type a message first.";
  if (body.length > MAX_BODY_LENGTH) {
    return `Too long: ${body.length.toLocaleString("en")} of at most ${MAX_BODY_LENGTH.toLocaleString("en")} characters.`;
  }
  if (!bodySchema.safeParse(body).success) return "The message contains characters that cannot be sent.";
  return undefined;
}

/** Why a name cannot be a user or room name, or `undefined`. */
export function nameProblem(name: string, what: "room" | "user"): string | undefined {
  if (name === "") return `Enter a ${what} name.`;
  if (!NAME_PATTERN.test(name)) {
    return `A ${what} name is 1–64 letters, digits, "_", "." or "-", starting with a letter or digit.`;
  }
  return undefined;
}

function randomCid(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Why `emoji` cannot be a reaction, or `undefined` when it can. */
export function emojiProblem(emoji: string): string | undefined {
  return emojiSchema.safeParse(emoji).success ? undefined : "A reaction is one emoji or a :shortcode:.";
}

/** The defaults of {@link ChatClientOptions}, resolved once when a client is made. */
const DEFAULTS = {
  random: () => Math.random(),
  now: () => Date.now(),
  newCid: randomCid,
  defaultRooms: ["lobby"],
  ackTimeoutMs: 15_000,
  typingTtlMs: 4000,
  typingIntervalMs: 2000,
  readIntervalMs: 1000,
  pingIntervalMs: 25_000,
  historyPageSize: 50,
  searchPageSize: 20,
} satisfies Partial<ChatClientOptions>;

/** The options with every default filled in. */
type Settings = ChatClientOptions & { readonly [K in keyof typeof DEFAULTS]-?: NonNullable<ChatClientOptions[K]> };

/**
 * Puts `credentials` on a request to `url`: a dev name in the query; a token as a Bearer header (the returned
 * headers), or in the query where headers cannot be set.
 */
function authorize(credentials: Credentials, url: URL, token: "header" | "query"): Record<string, string> {
  if (credentials.kind === "dev") {
    url.searchParams.set("user", credentials.user);
    if (credentials.admin) url.searchParams.set("admin", "1");
  } else if (token === "query") url.searchParams.set("token", credentials.token);
  else return { authorization: `Bearer ${credentials.token}` };
  return {};
}

/**
 * The protocol side of the web client, without any UI: one WebSocket to the gateway, reconnected with backoff and
 * jitter; every open room rejoined with `since` so nothing is missed; messages, edits, deletions and reactions
 * deduplicated by their position in the room's stream and folded into each message's current state; our own sends
 * tracked by cid through sending -> acked -> persisted, and they and our changes resent with the same cid (never
 * applied twice) after a reconnect or a retry. The UI reads immutable snapshots (`subscribe` / `getSnapshot`, React's
 * external-store shape).
 */
export class ChatClient {
  readonly me: string;
  readonly #options: Settings;
  readonly #rooms = new Map<string, RoomModel>();
  readonly #listeners = new Set<() => void>();
  #socket: SocketLike | undefined;
  #connection: ConnectionState = { status: "closed" };
  #attempt = 0;
  #stopped = true;
  #notice: string | undefined;
  #admin = false;
  #snapshot: ClientSnapshot | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #typingTimer: ReturnType<typeof setInterval> | undefined;
  #awaitingPong = false;
  readonly #ackTimers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #typingThrottle: KeyedThrottle;
  readonly #readThrottle: KeyedThrottle;
  /** Rooms read while not joined: their `read` frame goes out after the (re)join. */
  readonly #readDue = new Set<string>();
  /**
   * The rooms of our inbox on the server, as far as we know (listed by it, or joined): a remembered room missing from
   * a later inbox was left on another device, while one never listed was opened here and the join adds it.
   */
  readonly #listed: Set<string>;
  /** Rooms left or dropped since the pending inbox request went out: its answer may still list them. */
  readonly #departed = new Set<string>();

  constructor(options: ChatClientOptions) {
    this.#options = { ...DEFAULTS, ...options };
    this.#typingThrottle = new KeyedThrottle(this.#options.typingIntervalMs, this.#options.now);
    this.#readThrottle = new KeyedThrottle(this.#options.readIntervalMs, this.#options.now);
    this.me = options.credentials.user;
    const remembered = this.#load("rooms", z.array(z.string())) ?? [...this.#options.defaultRooms];
    const lastRead = this.#load("read", z.record(z.string(), z.number().int())) ?? {};
    this.#listed = new Set(this.#load("listed", z.array(z.string())));
    for (const name of remembered) {
      if (!isRoomName(name) || !mayAccess(this.me, name)) continue;
      const room = this.#room(name);
      room.lastRead = lastRead[name];
    }
  }

  // ---- the store React reads ----

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getSnapshot = (): ClientSnapshot => {
    this.#snapshot ??= {
      me: this.me,
      admin: this.#admin,
      connection: this.#connection,
      rooms: [...this.#rooms.values()].map((room) => room.snapshot()),
      ...(this.#notice === undefined ? {} : { notice: this.#notice }),
    };
    return this.#snapshot;
  };

  // ---- lifecycle ----

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#typingTimer = setInterval(() => {
      let changed = false;
      for (const room of this.#rooms.values()) changed = room.expireTyping(this.#options.now()) || changed;
      if (changed) this.#emit();
    }, 1000);
    this.#connect();
  }

  /** Closes the connection for good (sign-out). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#pingTimer);
    clearInterval(this.#typingTimer);
    for (const timer of this.#ackTimers.values()) clearTimeout(timer);
    this.#ackTimers.clear();
    this.#typingThrottle.cancel();
    this.#readThrottle.cancel();
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(CloseCode.Normal, "signed out");
    this.#setConnection({ status: "closed" });
  }

  /** Skips the backoff wait (the user pressed "reconnect now", or the browser came back online). */
  reconnectNow(): void {
    if (this.#stopped || this.#connection.status === "online" || this.#connection.status === "connecting") return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  // ---- rooms ----

  /** Opens (joins) a room by name; returns why not, if it cannot be opened. */
  openRoom(name: string): string | undefined {
    if (!isRoomName(name)) return nameProblem(name, "room") ?? "Invalid room name.";
    if (!mayAccess(this.me, name)) return "That is another people's conversation.";
    if (this.#rooms.has(name)) return undefined;
    this.#add(name);
    this.#emit();
    return undefined;
  }

  /** A new room: remembered, and joined when online. */
  #add(name: string): RoomModel {
    const room = this.#room(name);
    this.#saveRooms();
    this.#sendJoin(name);
    return room;
  }

  /** Opens the direct conversation with `user`; returns the room name, or why not. */
  openDirect(user: string): { room: string } | { problem: string } {
    const problem = nameProblem(user, "user");
    if (problem) return { problem };
    if (user === this.me) return { problem: "That is you." };
    const room = dmRoom(this.me, user);
    const refused = this.openRoom(room);
    return refused ? { problem: refused } : { room };
  }

  leaveRoom(name: string): void {
    if (!this.#rooms.has(name)) return;
    this.#drop(name);
    this.#emit();
  }

  /** Forgets a room and leaves it on this connection (the server takes it out of our inbox, if it is still there). */
  #drop(name: string): void {
    this.#rooms.delete(name);
    this.#readThrottle.forget(name);
    this.#readDue.delete(name);
    this.#departed.add(name);
    this.#unlist(name);
    this.#frame({ t: "leave", room: name });
    this.#saveRooms();
  }

  /**
   * The user is looking at the newest of the room (page visible, room open, scrolled to the bottom): it is read up to
   * there. Remembered on this device at once, and told to the server (for our other devices, and as a DM's receipt)
   * in a `read` frame at most every `readIntervalMs`, only when the position grew.
   */
  markRead(name: string): void {
    const room = this.#rooms.get(name);
    if (!room) return;
    const rose = room.markRead();
    if (room.readUnreported()) this.#reportRead(name);
    if (!rose) return;
    this.#saveRead();
    this.#emit();
  }

  /** Sends the room's read position now, or at the end of the interval since the last one (once, however often asked). */
  #reportRead(name: string): void {
    this.#readThrottle.request(name, () => this.#sendRead(name));
  }

  /** Puts the room's read position on the wire if the server does not have it; offline it waits for the rejoin. */
  #sendRead(name: string): boolean {
    const room = this.#rooms.get(name);
    if (!room?.readUnreported() || room.lastRead === undefined) return false;
    if (!room.joined || !this.#socket) {
      this.#readDue.add(name);
      return false;
    }
    room.readReported = room.lastRead;
    this.#frame({ t: "read", room: name, seq: room.lastRead });
    return true;
  }

  #saveRead(): void {
    const read: Record<string, number> = {};
    for (const [roomName, model] of this.#rooms) if (model.lastRead !== undefined) read[roomName] = model.lastRead;
    this.#save("read", read);
  }

  /** Reads `GET /api/me` for the connection just opened; a failed answer leaves what we knew. */
  async #readMe(): Promise<void> {
    try {
      const response = await this.#get("/api/me", {});
      if (response.status !== 200) return;
      const me = meSchema.safeParse(await response.json());
      if (!me.success || me.data.admin === this.#admin) return;
      this.#admin = me.data.admin;
    } catch {
      return;
    }
    this.#emit();
  }

  // ---- the inbox ----

  /**
   * Reads `GET /api/inbox` for the connection just opened, or for a live frame naming a room we lack, and merges it: rooms left on another device since it was last
   * read are dropped, rooms we lack (joined elsewhere, or a direct message we never opened) are added and joined, and
   * every entry updates its room. A failed or unreadable answer changes nothing: the next connection reads it again,
   * and meanwhile the rooms we have work as before, so it is not worth a notice.
   */
  async #syncInbox(): Promise<void> {
    const socket = this.#socket;
    const listedBefore = [...this.#listed];
    this.#departed.clear();
    let entries: InboxEntry[];
    try {
      const response = await this.#get("/api/inbox", {});
      if (response.status !== 200) return;
      const inbox = inboxSchema.safeParse(await response.json());
      if (!inbox.success) return;
      entries = inbox.data.rooms;
    } catch {
      return;
    }
    if (this.#socket !== socket) return; // a newer connection reads its own
    const listed = new Set(entries.map((entry) => entry.room));
    for (const name of listedBefore) {
      if (listed.has(name)) continue;
      if (this.#rooms.has(name)) this.#drop(name);
      else this.#unlist(name);
    }
    for (const entry of entries) if (!this.#departed.has(entry.room)) this.#onInbox(entry);
    this.#emit();
  }

  /**
   * An entry of our inbox (read, or sent live): a room we lack is added and joined, without being opened on screen;
   * the room takes the entry's read position and count, and tells the server a position of ours it lacks.
   */
  #onInbox(entry: InboxEntry): void {
    if (!mayAccess(this.me, entry.room)) return;
    const room = this.#rooms.get(entry.room) ?? this.#add(entry.room);
    if (room.onInbox(entry)) this.#saveRead();
    if (room.readUnreported()) this.#reportRead(room.name);
    this.#list(room.name);
  }

  #list(name: string): void {
    if (this.#listed.has(name)) return;
    this.#listed.add(name);
    this.#save("listed", [...this.#listed]);
  }

  #unlist(name: string): void {
    if (this.#listed.delete(name)) this.#save("listed", [...this.#listed]);
  }

  // ---- messages ----

  /**
   * Sends a message, as a reply to the message at seq `replyTo` when given, with uploaded `attachments` (see
   * {@link attach}); with attachments the body may be empty.
   */
  send(name: string, body: string, replyTo?: number, attachments: readonly Attachment[] = []): SendResult {
    const room = this.#rooms.get(name);
    if (!room) return { ok: false, reason: "Open the room first." };
    const problem = attachments.length > 0 && body === "" ? undefined : bodyProblem(body);
    if (problem) return { ok: false, reason: problem };
    const cid = this.#options.newCid();
    room.addSend(cid, body, this.#options.now(), replyTo, attachments);
    this.#flush(room);
    this.#emit();
    return { ok: true, cid };
  }

  /**
   * Replaces the body of our message at `seq`. Shown at once; sent with a cid, so a retry after a reconnect is never
   * applied twice; a refusal (`forbidden`, `gone`, `not_found`) shows on the message.
   */
  edit(name: string, seq: number, body: string): SendResult {
    const target = this.#changeable(name, seq, "edit");
    if ("reason" in target) return { ok: false, reason: target.reason };
    const problem = bodyProblem(body);
    if (problem) return { ok: false, reason: problem };
    return this.#change(target.room, (cid) => ({ t: "edit", room: name, seq, body, cid }));
  }

  /** Deletes a message at `seq` (ours, or anyone's when we are an admin): it becomes a tombstone for everyone. */
  deleteMessage(name: string, seq: number): SendResult {
    const target = this.#changeable(name, seq, "delete");
    if ("reason" in target) return { ok: false, reason: target.reason };
    return this.#change(target.room, (cid) => ({ t: "delete", room: name, seq, cid }));
  }

  /** Puts our reaction `emoji` on the message at `seq` (`on`) or takes it off. */
  react(name: string, seq: number, emoji: string, on: boolean): SendResult {
    const target = this.#changeable(name, seq, "react");
    if ("reason" in target) return { ok: false, reason: target.reason };
    const problem = emojiProblem(emoji);
    if (problem) return { ok: false, reason: problem };
    return this.#change(target.room, (cid) => ({ t: "react", room: name, seq, emoji, on, cid }));
  }

  /** Toggles our reaction `emoji` on the message at `seq`, from what is shown now. */
  toggleReaction(name: string, seq: number, emoji: string): SendResult {
    const mine = this.#rooms
      .get(name)
      ?.messageAt(seq)
      ?.current.reactions.some((reaction) => reaction.emoji === emoji && reaction.mine);
    return this.react(name, seq, emoji, mine !== true);
  }

  /** The room, if we may change its message at `seq`; otherwise why not (what the server would refuse). */
  #changeable(name: string, seq: number, action: ChangeAction): { room: RoomModel } | { reason: string } {
    const room = this.#rooms.get(name);
    if (!room) return { reason: "Open the room first." };
    const message = room.messageAt(seq);
    if (!message) return { reason: "That message is not loaded." };
    if (message.current.deleted) return { reason: "That message was deleted." };
    const mayChange = message.from === this.me || action === "react" || (action === "delete" && this.#admin);
    if (!mayChange) return { reason: "Only its author may change that message." };
    return { room };
  }

  #change(room: RoomModel, frame: (cid: string) => Extract<OutgoingFrame, { t: ChangeAction }>): SendResult {
    const cid = this.#options.newCid();
    room.addChange(frame(cid));
    this.#flush(room);
    this.#emit();
    return { ok: true, cid };
  }

  /**
   * Sends a failed message or change again with its original cid: the server answers a duplicate with the original
   * seq and applies it once.
   */
  retry(name: string, cid: string): void {
    const room = this.#rooms.get(name);
    if (!room?.retry(cid)) return;
    this.#flush(room);
    this.#emit();
  }

  /** Forgets a failed change once its reason was read. */
  dismiss(name: string, cid: string): void {
    const room = this.#rooms.get(name);
    if (!room) return;
    room.dismiss(cid);
    this.#emit();
  }

  /**
   * Tells the room we are typing: at once, then at most every `typingIntervalMs`; a keystroke inside that window is
   * announced at its end, so a short burst of typing right after a message still shows.
   */
  typing(name: string): void {
    if (!this.#rooms.get(name)?.joined) return;
    this.#typingThrottle.request(name, () => {
      if (!this.#rooms.get(name)?.joined) return false;
      this.#frame({ t: "typing", room: name });
      return true;
    });
  }

  /** Loads the page of history above the oldest message we have (the user scrolled to the top). */
  async loadOlder(name: string): Promise<void> {
    const room = this.#rooms.get(name);
    if (!room || room.loadingOlder || !room.hasOlder) return;
    const before = room.oldestSeq ?? room.lastSeq + 1;
    if (before <= 1) {
      room.hasOlder = false;
      room.changed();
      this.#emit();
      return;
    }
    room.loadingOlder = true;
    room.changed();
    this.#emit();
    try {
      const asOf = room.historyMark();
      const page = await this.#history(name, before);
      if (this.#rooms.get(name) !== room) return;
      room.onHistory(page.messages, page.nextBefore !== undefined, asOf);
    } catch (error) {
      room.loadingOlder = false;
      room.historyError = `Could not load older messages: ${error instanceof Error ? error.message : String(error)}.`;
      room.changed();
    }
    this.#emit();
  }

  /**
   * Searches the messages we may read (in `room` only, if given) for `q`, newest first; `before` is the previous
   * page's `nextBefore`. Never rejects: a refusal or a network error comes back as the reason.
   */
  async search(q: string, { room, before }: { room?: string; before?: string } = {}): Promise<SearchResult> {
    const problem = searchProblem(q);
    if (problem) return { ok: false, reason: problem };
    try {
      const response = await this.#get("/api/search", {
        q,
        ...(room === undefined ? {} : { room }),
        ...(before === undefined ? {} : { before }),
        limit: String(this.#options.searchPageSize),
      });
      if (response.status === 400) return { ok: false, reason: "The server could not read that search." };
      if (response.status !== 200)
        return { ok: false, reason: `Search failed: the server answered ${response.status}.` };
      const page = searchPageSchema.safeParse(await response.json());
      return page.success
        ? { ok: true, page: page.data }
        : { ok: false, reason: "Search failed: an unreadable answer." };
    } catch (error) {
      return { ok: false, reason: `Search failed: ${error instanceof Error ? error.message : String(error)}.` };
    }
  }

  /**
   * Uploads `file` for a message in room `name`: asks the server for an upload grant, then sends the bytes where it
   * says (the gateway, or S3 directly), reporting progress. Never rejects: a refusal (too large, a type not allowed,
   * sharing off) or a network error comes back as the reason.
   */
  async attach(
    name: string,
    file: LocalFile,
    onProgress: (fraction: number) => void = () => {},
  ): Promise<AttachResult> {
    const upload = this.#options.upload;
    if (upload === undefined) return { ok: false, reason: "This client cannot upload files." };
    const failed = (why: string): AttachResult => ({ ok: false, reason: `${file.name} was not uploaded: ${why}.` });
    try {
      const url = new URL(`/api/rooms/${encodeURIComponent(name)}/files`, this.#options.origin);
      const headers = { ...authorize(this.#options.credentials, url, "header"), "content-type": "application/json" };
      const { name: fileName, size, type } = file;
      const mediaType = type === "" ? "application/octet-stream" : type;
      const body = JSON.stringify({ name: fileName, size, type: mediaType });
      const response = await this.#options.fetch(url.toString(), { method: "POST", headers, body });
      if (response.status !== 201) return failed(await refusal(response));
      const grant = uploadGrantSchema.safeParse(await response.json());
      if (!grant.success) return failed("an unreadable answer");
      const { id, upload: where } = grant.data;
      const target = new URL(where.url, this.#options.origin).toString();
      const status = await upload(
        target,
        { method: where.method, headers: where.headers, body: file.body },
        onProgress,
      );
      if (status < 200 || status > 299) return failed(status === 0 ? "the connection failed" : `status ${status}`);
      return { ok: true, attachment: { id, name: fileName, size, type: mediaType } };
    } catch (error) {
      return failed(error instanceof Error ? error.message : String(error));
    }
  }

  /** A short-lived URL of a file sent in room `name` (a preview's source, a download's target). */
  async fileUrl(name: string, id: string): Promise<string> {
    const response = await this.#get(`/api/rooms/${encodeURIComponent(name)}/files/${encodeURIComponent(id)}`, {});
    if (response.status === 410) throw new Error("the file was deleted");
    if (response.status !== 200) throw new Error(await refusal(response));
    const download = downloadSchema.safeParse(await response.json());
    if (!download.success) throw new Error("an unreadable answer");
    return new URL(download.data.url, this.#options.origin).toString();
  }

  /** A request to the history API of `room`, with our credentials. */
  #fetchHistory(room: string, params: Record<string, string>): ReturnType<ChatClientOptions["fetch"]> {
    return this.#get(`/api/rooms/${encodeURIComponent(room)}/messages`, params);
  }

  /** A GET of the server's `path` with the query `params` and our credentials. */
  #get(path: string, params: Record<string, string>): ReturnType<ChatClientOptions["fetch"]> {
    const url = new URL(path, this.#options.origin);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    const headers = authorize(this.#options.credentials, url, "header");
    return this.#options.fetch(url.toString(), { headers });
  }

  /** One page (`historyPageSize` messages) of the history API. */
  async #history(name: string, before: number): Promise<HistoryPage> {
    const response = await this.#fetchHistory(name, {
      before: String(before),
      limit: String(this.#options.historyPageSize),
    });
    if (response.status !== 200) throw new Error(`the server answered ${response.status}`);
    const page = historyPageSchema.safeParse(await response.json());
    if (!page.success) throw new Error("the server sent an unreadable page");
    return page.data;
  }

  /**
   * Fetches the stored messages between what we had and a replay that could not reach back to it (a long absence,
   * or seqs lost with Redis), newest first, until the pages reach our old messages. Lost seqs simply never appear,
   * and neither do the seqs of edits, deletions and reactions: a history page holds messages only, as they stand.
   */
  async #fillHole(name: string, hole: { after: number; before: number }): Promise<void> {
    let before = hole.before;
    for (let page = 0; page < 20 && before > hole.after + 1; page++) {
      let result: HistoryPage;
      const asOf = this.#rooms.get(name)?.historyMark() ?? 0;
      try {
        result = await this.#history(name, before);
      } catch {
        return; // The hole stays; the messages are still in history for a later reload.
      }
      const room = this.#rooms.get(name);
      if (!room) return;
      room.onHoleFill(
        result.messages.filter((message) => message.seq > hole.after),
        asOf,
      );
      this.#emit();
      if (result.nextBefore === undefined) return;
      before = result.nextBefore;
    }
  }

  // ---- the connection ----

  #wsUrl(): string {
    const url = new URL("/ws", this.#options.origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    // Browsers cannot set headers on a WebSocket upgrade, so the token travels in the query (over TLS in production).
    authorize(this.#options.credentials, url, "query");
    return url.toString();
  }

  #connect(): void {
    this.#setConnection({ status: "connecting", attempt: this.#attempt });
    let opened = false;
    let socket: SocketLike | undefined;
    // Events of a socket we gave up on (stopped, replaced, declared dead) are ignored.
    const current = () => socket !== undefined && this.#socket === socket;
    try {
      socket = this.#options.openSocket(this.#wsUrl(), {
        onOpen: () => {
          if (!current()) return;
          opened = true;
          this.#notice = undefined;
          if (this.#rooms.size === 0) this.#attempt = 0; // no `joined` will come to prove the connection
          this.#setConnection({ status: "online" });
          for (const name of this.#rooms.keys()) this.#sendJoin(name);
          void this.#syncInbox();
          void this.#readMe();
          this.#startPing();
        },
        onMessage: (text) => {
          if (!current()) return;
          const decoded = decodeServerFrame(text);
          // A frame this version does not understand (a newer server's extension) is skipped, not fatal.
          if (decoded.ok) this.#onFrame(decoded.value);
        },
        onClose: (code) => {
          if (!current()) return;
          this.#socket = undefined;
          this.#onClosed(code, opened);
        },
      });
    } catch (error) {
      this.#scheduleReconnect(error instanceof Error ? error.message : "Cannot connect.");
      return;
    }
    this.#socket = socket;
  }

  #onClosed(code: number, opened: boolean): void {
    clearInterval(this.#pingTimer);
    for (const room of this.#rooms.values()) room.onDisconnected();
    for (const timer of this.#ackTimers.values()) clearTimeout(timer);
    this.#ackTimers.clear();
    if (this.#stopped) return;
    if (code === CloseCode.PolicyViolation) {
      this.#setConnection({ status: "refused", reason: "The server closed the connection for breaking its rules." });
      return;
    }
    if (!opened) {
      // A refused upgrade looks like any network error to a browser: ask the history API whether we are let in.
      void this.#checkCredentials().then((refused) => {
        if (this.#stopped) return;
        if (refused) this.#setConnection({ status: "refused", reason: refused });
        else this.#scheduleReconnect("Cannot reach the server.");
      });
      return;
    }
    this.#scheduleReconnect(
      code === CloseCode.ServiceRestart ? "The server is restarting." : `Connection lost (code ${code}).`,
    );
  }

  async #checkCredentials(): Promise<string | undefined> {
    try {
      const response = await this.#fetchHistory(this.#rooms.keys().next().value ?? "lobby", { limit: "1" });
      return response.status === 401 ? "The server did not accept your sign-in." : undefined;
    } catch {
      return undefined;
    }
  }

  #scheduleReconnect(reason: string): void {
    const delay = backoffDelay(this.#attempt, { ...RECONNECT_BACKOFF, random: this.#options.random });
    this.#attempt += 1;
    this.#setConnection({ status: "waiting", retryAt: this.#options.now() + delay, reason, attempt: this.#attempt });
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #startPing(): void {
    clearInterval(this.#pingTimer);
    this.#awaitingPong = false;
    this.#pingTimer = setInterval(() => {
      const socket = this.#socket;
      if (!socket) return;
      if (this.#awaitingPong) {
        // No pong for a whole interval: the connection is dead without having said so.
        this.#socket = undefined;
        socket.close();
        this.#onClosed(1006, true);
        return;
      }
      this.#awaitingPong = true;
      this.#frame({ t: "ping" });
    }, this.#options.pingIntervalMs);
  }

  #onFrame(frame: ServerFrame): void {
    this.#awaitingPong = false;
    switch (frame.t) {
      case "joined": {
        // The backoff restarts only once the server really serves us, not on every accepted-then-closed socket.
        this.#attempt = 0;
        const room = this.#rooms.get(frame.room);
        if (!room) return;
        room.onJoined(frame.seq, frame.recovered);
        this.#list(room.name); // joining put it in our inbox
        this.#flush(room);
        if (this.#readDue.delete(room.name)) this.#reportRead(room.name);
        break;
      }
      case "read": {
        if (this.#rooms.get(frame.room)?.onRead(frame.user, frame.seq)) this.#saveRead();
        break;
      }
      case "left":
        return;
      case "inbox":
        // `left`: left on another device, or on this one (then it is gone already).
        if (frame.left) {
          if (this.#rooms.has(frame.room)) this.#drop(frame.room);
          else this.#unlist(frame.room);
        } else if (this.#rooms.has(frame.room)) this.#onInbox(frame);
        // A room we lack (a new DM, or joined on another device): the frame may predate a leave sent after it, so
        // the inbox, which lists only the rooms we are in now, decides.
        else void this.#syncInbox();
        break;
      case "msg":
      case "edited":
      case "deleted":
      case "reaction":
        this.#onEvent(frame);
        break;
      case "epoch": {
        // The room restarted its sequence above `seq` (Redis lost its data): re-sync from what we have.
        const room = this.#rooms.get(frame.room);
        if (!room || room.lastSeq >= frame.seq || room.recovering) return;
        room.recovering = true;
        this.#sendJoin(room.name);
        break;
      }
      case "ack": {
        this.#rooms.get(frame.room)?.onAck(frame.cid, frame.seq);
        clearTimeout(this.#ackTimers.get(frame.cid));
        this.#ackTimers.delete(frame.cid);
        break;
      }
      case "persisted":
        this.#rooms.get(frame.room)?.onPersisted(frame.upTo);
        break;
      case "presence":
        this.#rooms.get(frame.room)?.onPresence(frame.joined, frame.left, frame.count);
        break;
      case "typing":
        this.#rooms.get(frame.room)?.onTyping(frame.user, this.#options.now() + this.#options.typingTtlMs);
        break;
      case "error":
        this.#onError(frame.code, frame.message, frame.cid);
        break;
      case "pong":
        return;
      default:
        // A frame type added to the protocol fails the build here until the client decides what it means.
        frame satisfies never;
        return;
    }
    this.#emit();
  }

  /** A message, edit, deletion or reaction: all of them take a position in the room's gap-free stream. */
  #onEvent(frame: EventFrame): void {
    const room = this.#rooms.get(frame.room);
    if (!room) return;
    if (room.onEvent(frame) === "gap" && !room.recovering) {
      // Seqs are gap-free, so a hole means frames were lost: a `join` of the joined room replays from `since`.
      room.recovering = true;
      this.#sendJoin(room.name);
    }
    const hole = room.takeHole();
    if (hole) void this.#fillHole(room.name, hole);
  }

  #onError(code: ErrorCode, message: string, cid: string | undefined): void {
    if (cid !== undefined) {
      const change = CHANGE_ERRORS[code] ?? { reason: message, retriable: false };
      for (const room of this.#rooms.values()) {
        const failed =
          room.onSendError(cid, SEND_ERRORS[code] ?? message) ||
          room.onChangeError(cid, change.reason, change.retriable);
        if (!failed) continue;
        clearTimeout(this.#ackTimers.get(cid));
        this.#ackTimers.delete(cid);
        return;
      }
    }
    this.#notice = code === ErrorCode.Forbidden ? "You cannot open that conversation." : message;
  }

  #sendJoin(name: string): void {
    const room = this.#rooms.get(name);
    if (!room || !this.#socket || this.#connection.status !== "online") return;
    // Always with `since`: 0 for a room we have nothing of gets the recent conversation replayed.
    this.#frame({ t: "join", room: name, since: room.lastSeq });
  }

  /** Puts our unsent messages and changes on the wire, each awaiting its ack. */
  #flush(room: RoomModel): void {
    if (!room.joined || !this.#socket) return;
    for (const frame of room.takeUnsent()) {
      const { cid } = frame;
      this.#frame(frame);
      clearTimeout(this.#ackTimers.get(cid));
      this.#ackTimers.set(
        cid,
        setTimeout(() => {
          this.#ackTimers.delete(cid);
          const failed =
            room.onSendError(cid, "No confirmation from the server; try again.") ||
            room.onChangeError(cid, "no confirmation from the server; try again.", true);
          if (failed) this.#emit();
        }, this.#options.ackTimeoutMs),
      );
    }
  }

  #frame(frame: ClientFrame): void {
    this.#socket?.send(JSON.stringify(frame));
  }

  #room(name: string): RoomModel {
    let room = this.#rooms.get(name);
    if (!room) {
      room = new RoomModel(name, this.me);
      this.#rooms.set(name, room);
    }
    return room;
  }

  #setConnection(connection: ConnectionState): void {
    this.#connection = connection;
    this.#emit();
  }

  #emit(): void {
    this.#snapshot = undefined;
    for (const listener of this.#listeners) listener();
  }

  #saveRooms(): void {
    this.#save("rooms", [...this.#rooms.keys()]);
  }

  /** What an earlier visit saved, if it still reads as `schema` (storage is input like any other). */
  #load<T>(key: string, schema: z.ZodType<T>): T | undefined {
    const text = this.#options.storage?.getItem(`parley:${this.me}:${key}`);
    if (text == null) return undefined;
    const json = parseJson(text);
    const parsed = json.ok ? schema.safeParse(json.value) : undefined;
    return parsed?.success ? parsed.data : undefined;
  }

  #save(key: string, value: unknown): void {
    try {
      this.#options.storage?.setItem(`parley:${this.me}:${key}`, JSON.stringify(value));
    } catch {
      // Storage full or disabled (private mode): the client works, it just forgets on reload.
    }
  }
}
