import { randomUUID } from "node:crypto";
import type { Log } from "@parley/log";
import {
  type ClientFrame,
  CloseCode,
  decodeClientFrame,
  dmMembers,
  ErrorCode,
  encodeServerFrame,
  eventFrame,
  frameType,
  mayAccess,
  type ServerFrame,
} from "@parley/protocol";
import { inSpan, type Logger, SpanKind, tracer } from "@parley/runtime";
import type { Store } from "@parley/store";
import { lookUp } from "./amend.js";
import type { Bus, BusEvent } from "./bus/bus.js";
import { claimAttachments, type FileSharing } from "./files.js";
import { inboxFrame, readInbox } from "./inbox.js";
import { answerJoin } from "./join.js";
import { type LocalRooms, type RoomMember, roomOf } from "./local-rooms.js";
import type { UserConnection } from "./local-users.js";
import type { GatewayMetrics } from "./metrics.js";
import { type SendInput, sendEvent } from "./send.js";
import type { Socket, SocketSession } from "./server.js";
import { SmallMap } from "./small-map.js";
import { takeToken } from "./token-bucket.js";

/** Per-connection limits and deadlines. */
export interface SessionLimits {
  /** Sustained frames per second per connection. */
  readonly framesPerSecond: number;
  /** Frames a connection may send at once above the sustained rate. */
  readonly frameBurst: number;
  /** Queued bytes above which typing events for this client are dropped. */
  readonly shedEphemeralBytes: number;
  /** Queued bytes above which the client is closed with {@link CloseCode.SlowConsumer}. */
  readonly slowConsumerBytes: number;
  /** Most messages replayed on `join` with `since`. */
  readonly maxReplay: number;
  /** Minimum milliseconds between two typing events of one client in one room. */
  readonly typingIntervalMs: number;
  /** A send whose Log append takes longer gets `unavailable` (the client retries with the same cid). */
  readonly appendTimeoutMs: number;
}

/** What a session needs from the gateway; each collaborator is narrowed to the calls it makes. */
export interface SessionContext {
  readonly bus: Pick<
    Bus,
    "publish" | "publishTyping" | "publishRead" | "publishInbox" | "latest" | "recent" | "presence"
  >;
  readonly log: Pick<Log, "append">;
  readonly store: Pick<
    Store,
    "events" | "target" | "saveRead" | "readPositions" | "inbox" | "addMember" | "removeMember"
  >;
  readonly rooms: LocalRooms;
  /** File sharing, unless it is off. */
  readonly files?: FileSharing;
  readonly limits: SessionLimits;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** Told whether each Log append succeeded (readiness follows the Log's health). */
  readonly appended: (ok: boolean) => void;
  /** Told once a session's connection has closed. */
  readonly ended: (session: ClientSession) => void;
}

const TRACER = tracer("parley-gateway");
/**
 * Refused frames a connection may send in a burst, in frame bursts: a client resending its queue after a reconnect
 * may well run into the rate limit once, which is not abuse.
 */
const REFUSALS_BURST_FACTOR = 5;

/** A room this client asked to join: events are held back until `joined` (and any replay) has been sent. */
interface Joining {
  readonly held: BusEvent[];
  /** As {@link Joined.unpersisted}, for own messages that went out meanwhile. */
  unpersisted: number;
}

/** A joined room: all a connection keeps per room, so an idle joined connection stays small. */
interface Joined {
  /**
   * The highest seq delivered while the room's messages come one by one (until the socket is subscribed to the
   * room's topic). Messages at or below it are not delivered again: the Bus's reads and its pub/sub use separate
   * connections, so a message sequenced before the join read `latest` (and so carried by the replay) can arrive on
   * the subscription after the join is complete.
   */
  delivered: number;
  /**
   * The highest seq of this user's own messages (sent here or seen from their other connections) that no watermark
   * sent to this client covers yet, 0 if none. Only such clients are sent watermarks: they are what marks an own
   * message stored, and a passive member would otherwise get one frame a second per busy room for nothing.
   */
  unpersisted: number;
  /** When this client last sent a typing event here (`performance.now()`). */
  lastTyping: number;
}

/**
 * One client connection: decodes its frames, enforces its limits and delivers its rooms' events in order. It is the
 * socket's session itself and shares its context with every other session, so an idle connection costs little.
 */
export class ClientSession implements SocketSession, RoomMember, UserConnection {
  readonly #rooms = new SmallMap<string, Joining | Joined>();
  /** The frame-rate bucket: full again at this time (token-bucket.ts). Kept as a number, not an object, per connection. */
  #framesFullAt = performance.now();
  /** The tolerance for refused frames, a bucket like the frames'. */
  #refusalsFullAt = this.#framesFullAt;
  #closed = false;

  constructor(
    private readonly socket: Socket,
    readonly user: string,
    /** May delete anyone's messages. */
    private readonly admin: boolean,
    private readonly context: SessionContext,
  ) {}

  /** Every frame takes a token, undecodable ones too, so garbage cannot be sent faster than chat. */
  text(text: string): void {
    const decoded = decodeClientFrame(text);
    const { framesPerSecond, frameBurst } = this.context.limits;
    const framesFullAt = takeToken(this.#framesFullAt, framesPerSecond, frameBurst);
    const allowed = framesFullAt !== undefined;
    if (allowed) this.#framesFullAt = framesFullAt;
    if (!decoded.ok) {
      this.context.metrics.framesReceived.inc({ type: "invalid" });
      this.#refuse(decoded.code, decoded.message, decoded.cid);
      return;
    }
    const frame = decoded.value;
    this.context.metrics.framesReceived.inc({ type: frame.t });
    if (!allowed) {
      this.#refuse(ErrorCode.RateLimited, "too many frames, slow down", "cid" in frame ? frame.cid : undefined);
      return;
    }
    this.#handle(frame).catch((error: unknown) => {
      this.context.logger.error({ err: error, user: this.user, frame: frame.t }, "frame handling failed");
      this.#error(
        ErrorCode.Unavailable,
        "the server could not handle the frame",
        "cid" in frame ? frame.cid : undefined,
      );
    });
  }

  binary(): void {
    this.context.metrics.framesReceived.inc({ type: "binary" });
    this.close(CloseCode.UnsupportedData, "text frames only");
  }

  oversized(): void {
    this.context.metrics.framesReceived.inc({ type: "oversized" });
    this.close(CloseCode.MessageTooBig, "frame too large");
  }

  dropped(): void {
    if (this.#closed) return;
    this.context.metrics.slowConsumerCloses.inc();
    this.close(CloseCode.SlowConsumer, "too slow, reconnect with since");
  }

  closed(code: number): void {
    this.#closed = true;
    this.context.metrics.disconnects.inc({ code: String(code) });
    for (const room of this.#rooms.keys()) this.context.rooms.leave(room, this);
    this.#rooms.clear();
    this.context.ended(this);
  }

  close(code: CloseCode, reason: string): void {
    this.socket.close(code, reason);
  }

  deliver(event: BusEvent): void {
    const state = this.#rooms.get(roomOf(event));
    if (state === undefined) return;
    if ("held" in state) {
      state.held.push(event);
      return;
    }
    if (event.t === "sequenced") {
      const { seq } = event.event;
      if (seq <= state.delivered) return;
      state.delivered = seq;
    }
    if (event.t === "persisted") {
      if (state.unpersisted === 0) return;
      if (event.upTo >= state.unpersisted) state.unpersisted = 0;
    }
    // Read positions go to the reader's own connections, and in a DM (two users) to the other one as a receipt.
    if (event.t === "read" && event.user !== this.user && dmMembers(event.room) === undefined) return;
    if (event.t === "typing" || event.t === "presence" || event.t === "read") {
      if (event.t === "typing" && event.user === this.user) return;
      if (this.socket.bufferedAmount() > this.context.limits.shedEphemeralBytes) {
        this.context.metrics.shed.inc();
        return;
      }
    }
    this.#write(event.frame, event.t === "sequenced" ? frameType(event.event) : event.t);
  }

  subscribe(room: string): void {
    this.socket.subscribe(room);
  }

  inbox(frame: string): void {
    this.#write(frame, "inbox");
  }

  own(room: string, seq: number): void {
    const state = this.#rooms.get(room);
    if (state && seq > state.unpersisted) state.unpersisted = seq;
  }

  async #handle(frame: ClientFrame): Promise<void> {
    switch (frame.t) {
      case "ping":
        return this.#send({ t: "pong" });
      case "join":
        return this.#join(frame.room, frame.since);
      case "leave":
        return this.#leave(frame.room);
      case "send":
        // The root of the message's trace: sequencing, the Log append and, through the record, the persister.
        return inSpan(
          TRACER,
          "parley.send",
          { kind: SpanKind.SERVER, attributes: { "parley.room": frame.room, "parley.user": this.user } },
          () => this.#message(frame),
        );
      case "typing":
        return this.#typing(frame.room);
      case "edit":
      case "delete":
      case "react":
        return this.#amend(frame);
      case "read":
        return this.#read(frame.room, frame.seq);
    }
  }

  /**
   * Joins, or for a room already joined answers `joined` again; either way with the replay after `since`, so a
   * client that noticed a gap can recover without leaving. Events of a newly joined room are held back until
   * `joined` and the replay are out, so none is missed or delivered out of order.
   */
  async #join(room: string, since: number | undefined): Promise<void> {
    if (!mayAccess(this.user, room)) return this.#error(ErrorCode.Forbidden, `${room} is another users' direct room`);
    const fresh = !this.#rooms.has(room);
    const joining: Joining = { held: [], unpersisted: 0 };
    if (fresh) this.#rooms.set(room, joining);
    try {
      const [added] = await Promise.all([
        fresh && this.context.store.addMember(room, this.user),
        fresh && this.context.rooms.join(room, this),
      ]);
      this.context.metrics.subscribedRooms.set(this.context.rooms.size);
      // A room joined for the first time counts as read up to now: its history is there to scroll, not unread. A
      // direct room's earlier messages were sent to the user, so they stay unread.
      if (added && dmMembers(room) === undefined) {
        await this.context.store.saveRead(room, this.user, await this.context.bus.latest(room));
      }
      if (added) this.#announce(room, [this.user]);
      const answer = await answerJoin(this.context, { room, user: this.user, since, first: fresh });
      // Left or disconnected meanwhile.
      if (fresh ? this.#rooms.get(room) !== joining : !this.#rooms.has(room)) return;
      this.#send(answer.joined);
      for (const event of answer.replay) this.#write(encodeServerFrame(eventFrame(event)), frameType(event), "replay");
      for (const read of answer.reads) this.#send(read);
      if (!answer.presence) return;
      this.#send(answer.presence);
      // Held messages at or below `latest` were covered by the replay (or predate the join).
      const joined: Joined = { delivered: answer.latest, unpersisted: joining.unpersisted, lastTyping: -Infinity };
      this.#rooms.set(room, joined);
      for (const event of joining.held) this.deliver(event);
      this.context.rooms.joined(room, this, joined.delivered);
    } catch (error) {
      if (fresh && this.#rooms.get(room) === joining) {
        this.#rooms.delete(room);
        this.context.rooms.leave(room, this);
      }
      throw error;
    }
  }

  /**
   * Leaves the room on this connection, and takes it out of the user's inbox: their other connections are told
   * (an `inbox` frame with `left`), and stay in the room until they leave it too.
   */
  async #leave(room: string): Promise<void> {
    if (this.#rooms.delete(room)) {
      this.context.rooms.leave(room, this);
      this.socket.unsubscribe(room);
    }
    this.context.metrics.subscribedRooms.set(this.context.rooms.size);
    this.#send({ t: "left", room });
    if (!mayAccess(this.user, room) || !(await this.context.store.removeMember(room, this.user))) return;
    const latest = await this.context.bus.latest(room);
    await this.context.bus.publishInbox(this.user, { t: "inbox", room, latest, read: 0, unread: 0, left: true });
  }

  async #message({ room, cid, body, replyTo, attachments }: ClientFrame & { t: "send" }): Promise<void> {
    if (body === undefined && attachments === undefined) {
      return this.#error(ErrorCode.BadRequest, "a message needs a body, attachments or both", cid);
    }
    if (!this.#joinedState(room)) return this.#error(ErrorCode.NotJoined, `join ${room} first`, cid);
    if (replyTo !== undefined) {
      const { state, retry } = await lookUp(this.context, { room, seq: replyTo, user: this.user, cid });
      if (state === "missing" && !retry)
        return this.#error(ErrorCode.NotFound, `${room} has no message ${replyTo}`, cid);
    }
    const reply = replyTo === undefined ? {} : { replyTo };
    let files = {};
    if (attachments !== undefined) {
      const claim = await claimAttachments(this.context.files, { room, user: this.user, cid, attachments });
      if (!claim.ok) return this.#error(claim.code, claim.message, cid);
      files = { attachments: claim.attachments };
    }
    const message = { room, from: this.user, cid, body: body ?? "", ...reply, ...files };
    const sent = await this.#sequence(message, cid);
    // A direct message shows in both users' inboxes at once, whether or not they have the room open.
    const direct = dmMembers(room);
    if (sent && direct) this.#announceDirect(room, direct);
  }

  /**
   * An edit, deletion or reaction: checked against the message it names (it exists, it is not deleted, and it is
   * the user's own for an edit, or for a deletion by anyone but an admin), then sequenced like a message. Without a
   * cid the gateway picks one: the client gets no `ack` then, and sees the change in the room like everyone else.
   */
  async #amend(frame: ClientFrame & { t: "edit" | "delete" | "react" }): Promise<void> {
    const { room, seq, cid } = frame;
    if (!this.#joinedState(room)) return this.#error(ErrorCode.NotJoined, `join ${room} first`, cid);
    const target = await lookUp(this.context, { room, seq, user: this.user, cid });
    if (!target.retry) {
      if (target.state === "missing") return this.#error(ErrorCode.NotFound, `${room} has no message ${seq}`, cid);
      if (target.state === "deleted") return this.#error(ErrorCode.Gone, `message ${seq} was deleted`, cid);
      const mayChange = target.from === this.user || (frame.t === "delete" && this.admin);
      if (frame.t !== "react" && !mayChange) {
        return this.#error(ErrorCode.Forbidden, `only its author may ${frame.t} message ${seq}`, cid);
      }
    }
    const common = { room, from: this.user, cid: cid ?? randomUUID(), target: seq };
    const change =
      frame.t === "edit"
        ? ({ ...common, kind: "edit", body: frame.body } as const)
        : frame.t === "delete"
          ? ({ ...common, kind: "delete" } as const)
          : ({ ...common, kind: "react", emoji: frame.emoji, on: frame.on } as const);
    const sent = await this.#sequence(change, cid);
    // A deleted direct message no longer counts as unread.
    const direct = dmMembers(room);
    if (sent && direct && frame.t === "delete") this.#announce(room, direct);
  }

  /**
   * Sequences the event and, once it is in the Log, acks it when the client named it with a cid. Resolves with
   * whether it was sequenced.
   */
  async #sequence(input: SendInput, cid: string | undefined): Promise<boolean> {
    const started = performance.now();
    const outcome = await sendEvent(this.context, input);
    if (!outcome.ok) {
      this.#error(outcome.code, outcome.reason, cid);
      return false;
    }
    const { event } = outcome;
    this.context.metrics.ackLatency.observe((performance.now() - started) / 1000);
    this.own(event.room, event.seq);
    if (cid !== undefined) this.#send({ t: "ack", room: event.room, cid, seq: event.seq, id: event.id });
    return true;
  }

  /**
   * Saves how far the user has read (never beyond the room's latest seq, and only ever growing) and tells their
   * other connections, and in a DM the other person. Written to the Store straight away: it is the user's state
   * beside the room's stream, not part of it, and each position supersedes the last.
   */
  async #read(room: string, seq: number): Promise<void> {
    if (!this.#joinedState(room)) return this.#error(ErrorCode.NotJoined, `join ${room} first`);
    const upTo = Math.min(seq, await this.context.bus.latest(room));
    await this.context.store.saveRead(room, this.user, upTo);
    await this.context.bus.publishRead(room, this.user, upTo);
    this.#announce(room, [this.user]);
  }

  /**
   * Lists a direct room in both users' inboxes and announces it, in the background: the room is in `GET /api/inbox`
   * as soon as its frame is sent, not once the persister stored the message (which lists it again, idempotently).
   */
  #announceDirect(room: string, users: readonly string[]): void {
    Promise.all(users.map((user) => this.context.store.addMember(room, user)))
      .then(() => this.#announce(room, users))
      .catch((error: unknown) => this.context.logger.warn({ err: error, room }, "listing a direct room failed"));
  }

  /**
   * Sends each user's entry of `room` as it stands now to all of their connections, in the background: an inbox
   * frame is a notice, and a client that missed one reads `GET /api/inbox` when it connects.
   */
  #announce(room: string, users: readonly string[]): void {
    const { bus, logger } = this.context;
    for (const user of users) {
      readInbox(this.context, user, [room])
        .then(([entry]) => (entry === undefined ? undefined : bus.publishInbox(user, inboxFrame(entry))))
        .catch((error: unknown) => logger.warn({ err: error, room, user }, "announcing an inbox change failed"));
    }
  }

  async #typing(room: string): Promise<void> {
    const state = this.#joinedState(room);
    if (!state) return this.#error(ErrorCode.NotJoined, `join ${room} first`);
    const now = performance.now();
    if (now - state.lastTyping < this.context.limits.typingIntervalMs) return;
    state.lastTyping = now;
    await this.context.bus.publishTyping(room, this.user);
  }

  #joinedState(room: string): Joined | undefined {
    const state = this.#rooms.get(room);
    return state !== undefined && "delivered" in state ? state : undefined;
  }

  /**
   * Answers a refused frame with an error frame while the connection's tolerance lasts:
   * {@link REFUSALS_BURST_FACTOR} times the frame burst, refilled at the frame rate. Past it (a flood of garbage, or
   * a client that ignores `rate_limited`) the connection is closed with 1008, so error frames stay bounded.
   */
  #refuse(code: ErrorCode, message: string, cid?: string): void {
    const { framesPerSecond, frameBurst } = this.context.limits;
    const refusalsFullAt = takeToken(this.#refusalsFullAt, framesPerSecond, REFUSALS_BURST_FACTOR * frameBurst);
    if (refusalsFullAt !== undefined) {
      this.#refusalsFullAt = refusalsFullAt;
      this.#error(code, message, cid);
    } else {
      this.close(CloseCode.PolicyViolation, "too many refused frames");
    }
  }

  #error(code: ErrorCode, message: string, cid?: string): void {
    this.context.metrics.errors.inc({ code });
    this.#send({ t: "error", code, message, ...(cid === undefined ? {} : { cid }) });
  }

  #send(frame: ServerFrame): void {
    this.#write(encodeServerFrame(frame), frame.t);
  }

  /** Every frame goes out here, so the slow-consumer rule holds for all of them. */
  #write(frame: string, type: ServerFrame["t"], path: "live" | "replay" = "live"): void {
    if (this.#closed) return;
    if (this.socket.bufferedAmount() > this.context.limits.slowConsumerBytes || this.socket.send(frame) === "dropped") {
      this.context.metrics.slowConsumerCloses.inc();
      this.close(CloseCode.SlowConsumer, "too slow, reconnect with since");
      return;
    }
    this.context.metrics.framesSent.inc(type);
    if (type === "msg") this.context.metrics.deliveries.inc(path);
  }
}
