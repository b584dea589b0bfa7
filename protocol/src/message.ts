import { z } from "zod";
import { isRoomName, NAME_PATTERN } from "./rooms.js";

/** Largest message body, in UTF-16 code units (what `string.length` counts in every runtime). */
export const MAX_BODY_LENGTH = 4000;
/** Longest message id or client-chosen `cid`. */
export const MAX_CID_LENGTH = 64;

export const roomSchema = z.string().refine(isRoomName, "invalid room name");
export const userSchema = z.string().regex(NAME_PATTERN, "invalid user name");
/** An opaque key (a UUID, a counter): visible ASCII only, stored and compared byte for byte. */
const opaqueKey = (what: string) =>
  z
    .string()
    .min(1)
    .max(MAX_CID_LENGTH)
    .regex(/^[\x21-\x7e]+$/, `${what} must be visible ASCII`);
export const cidSchema = opaqueKey("cid");
/**
 * Any well-formed text without NUL: PostgreSQL text cannot hold U+0000, and a lone surrogate would not survive
 * UTF-8, so either would be a message that can never be stored exactly. Its length is checked in UTF-16 units, as
 * documented; zod's own `max` counts code points, which let 4,000 emoji (8,000 units) through.
 */
export const bodySchema = z
  .string()
  .min(1)
  .check((context) => {
    if (context.value.length <= MAX_BODY_LENGTH) return;
    context.issues.push({
      code: "too_big",
      origin: "string",
      maximum: MAX_BODY_LENGTH,
      inclusive: true,
      input: context.value,
      message: `Too big: expected at most ${MAX_BODY_LENGTH} UTF-16 code units`,
    });
  })
  .refine((body) => !body.includes("\u0000") && body.isWellFormed(), "body must be well-formed text without NUL");
export const seqSchema = z.number().int().nonnegative();

/** One sequenced chat message: what the Bus publishes, clients receive, the Log carries and the Store keeps. */
export const chatMessageSchema = z.object({
  room: roomSchema,
  /** Position in the room, gap-free and strictly increasing from 1. */
  seq: seqSchema.min(1),
  /** Globally unique id assigned by the gateway that first accepted the send. */
  id: opaqueKey("id"),
  /** The sender's idempotency key. */
  cid: cidSchema,
  from: userSchema,
  body: bodySchema,
  /** Milliseconds since the epoch when the gateway accepted the send. */
  ts: z.number().int().nonnegative(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;
