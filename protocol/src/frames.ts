import { z } from "zod";
import { ErrorCode } from "./codes.js";
import {
  attachmentsSchema,
  bodySchema,
  chatMessageSchema,
  cidSchema,
  emojiSchema,
  roomSchema,
  seqSchema,
  targetSchema,
  userSchema,
} from "./message.js";
import { describeIssue, parseJson } from "./parse.js";

/** Hard limit for one WebSocket frame in bytes; larger frames close the connection with 1009. */
export const MAX_FRAME_BYTES = 32 * 1024;

const join = z.object({ t: z.literal("join"), room: roomSchema, since: seqSchema.optional() });
const leave = z.object({ t: z.literal("leave"), room: roomSchema });
const send = z.object({
  t: z.literal("send"),
  room: roomSchema,
  cid: cidSchema,
  /** Optional only with attachments: a message needs a body, files, or both. */
  body: bodySchema.optional(),
  replyTo: targetSchema.optional(),
  attachments: attachmentsSchema.optional(),
});
const typing = z.object({ t: z.literal("typing"), room: roomSchema });
const ping = z.object({ t: z.literal("ping") });
/** Edits, deletions and reactions point at a message by its seq; a `cid` makes a retry safe and earns an `ack`. */
const amend = { room: roomSchema, seq: targetSchema, cid: cidSchema.optional() };
const edit = z.object({ t: z.literal("edit"), ...amend, body: bodySchema });
const del = z.object({ t: z.literal("delete"), ...amend });
const react = z.object({ t: z.literal("react"), ...amend, emoji: emojiSchema, on: z.boolean() });
/** The user has read the room up to `seq` (its stream position): stored, and told to their other devices. */
const read = z.object({ t: z.literal("read"), room: roomSchema, seq: seqSchema });

export const clientFrameSchema = z.discriminatedUnion("t", [join, leave, send, typing, ping, edit, del, react, read]);
/** Every frame a client may send. */
export type ClientFrame = z.infer<typeof clientFrameSchema>;

const timestamp = z.number().int().nonnegative();
/** The stream fields of an `edited`, `deleted` or `reaction` frame. */
const amended = {
  room: roomSchema,
  at: seqSchema.min(1),
  seq: targetSchema,
  id: z.string(),
  cid: cidSchema,
};

export const serverFrameSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("joined"), room: roomSchema, seq: seqSchema, recovered: z.boolean().optional() }),
  z.object({ t: z.literal("left"), room: roomSchema }),
  chatMessageSchema.extend({ t: z.literal("msg") }),
  // Edits, deletions and reactions: `seq` is the message they change, `at` their own seq in the room's stream.
  z.object({ t: z.literal("edited"), ...amended, from: userSchema, body: bodySchema, editedAt: timestamp }),
  z.object({ t: z.literal("deleted"), ...amended, by: userSchema, ts: timestamp }),
  z.object({
    t: z.literal("reaction"),
    ...amended,
    user: userSchema,
    emoji: emojiSchema,
    on: z.boolean(),
    ts: timestamp,
  }),
  z.object({ t: z.literal("ack"), room: roomSchema, cid: cidSchema, seq: seqSchema, id: z.string() }),
  z.object({ t: z.literal("typing"), room: roomSchema, user: userSchema }),
  z.object({
    t: z.literal("presence"),
    room: roomSchema,
    joined: z.array(userSchema).optional(),
    left: z.array(userSchema).optional(),
    count: z.number().int().optional(),
  }),
  z.object({ t: z.literal("persisted"), room: roomSchema, upTo: seqSchema }),
  /** `user` has read `room` up to `seq`: to their own connections, and in a DM to the other person (receipts). */
  z.object({ t: z.literal("read"), room: roomSchema, user: userSchema, seq: seqSchema }),
  /**
   * One entry of the user's inbox changed (`GET /api/inbox` has them all): to every connection of the user. Sent when
   * a direct message to or from them is sent, when they read a room, and when they join or leave one (`left`: the
   * room is no longer in their inbox). Messages of plain rooms do not send it: a client follows those by joining them.
   */
  z.object({
    t: z.literal("inbox"),
    room: roomSchema,
    latest: z.number().int().nonnegative(),
    read: z.number().int().nonnegative(),
    unread: z.number().int().nonnegative(),
    left: z.literal(true).optional(),
  }),
  /**
   * The room's sequence restarted above `seq` because the bus lost its state (e.g. Redis restarted without
   * persistence): seqs up to `seq` that the client has not seen may never arrive. Re-sync with `join` + `since`.
   */
  z.object({ t: z.literal("epoch"), room: roomSchema, seq: seqSchema }),
  z.object({
    t: z.literal("error"),
    code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
    cid: z.string().optional(),
    message: z.string(),
  }),
  z.object({ t: z.literal("pong") }),
]);
/** Every frame the server sends. */
export type ServerFrame = z.infer<typeof serverFrameSchema>;

const NOT_JSON = { ok: false, code: ErrorCode.BadRequest, message: "frame is not valid JSON" } as const;

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string; readonly cid?: string };

/**
 * Decodes one text frame from a client. Never throws: anything that is not a valid v1 frame becomes an error
 * with the code the client should see, and with the frame's `cid` when it carried a usable one.
 */
export function decodeClientFrame(text: string): Decoded<ClientFrame> {
  const json = parseJson(text);
  if (!json.ok) return NOT_JSON;
  const parsed = clientFrameSchema.safeParse(json.value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const cid = cidOf(json.value);
  const issue = parsed.error.issues[0];
  const tooLarge = issue?.code === "too_big" && issue.path.length === 1 && issue.path[0] === "body";
  return {
    ok: false,
    code: tooLarge ? ErrorCode.TooLarge : ErrorCode.BadRequest,
    message: describeIssue(parsed.error, "frame"),
    ...(cid === undefined ? {} : { cid }),
  };
}

function cidOf(raw: unknown): string | undefined {
  if (typeof raw !== "object" || raw === null || !("cid" in raw)) return undefined;
  const parsed = cidSchema.safeParse(raw.cid);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Decodes a server frame: clients and tests use this, and so do the gateway's Bus and the persister for the payloads
 * they read back from Redis (another process, or another version, may have written them).
 */
export function decodeServerFrame(text: string): Decoded<ServerFrame> {
  const json = parseJson(text);
  if (!json.ok) return NOT_JSON;
  const parsed = serverFrameSchema.safeParse(json.value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, code: ErrorCode.BadRequest, message: describeIssue(parsed.error, "frame") };
}

export function encodeServerFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
