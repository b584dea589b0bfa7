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
/** A message's body: empty only when it carries attachments (the gateway refuses a `send` with neither). */
export const messageBodySchema = z.union([z.literal(""), bodySchema]);
export const seqSchema = z.number().int().nonnegative();
/** A message's position in its room: what `replyTo`, `edit`, `delete` and `react` point at. */
export const targetSchema = seqSchema.min(1);

/** Longest emoji or `:shortcode:` a reaction may carry, in UTF-16 code units. */
export const MAX_EMOJI_LENGTH = 32;
const EMOJI_PATTERN = /^(?:\p{RGI_Emoji}|:[a-z0-9_+\-]{1,30}:)$/v;
/** One emoji as Unicode lists it (skin tones and ZWJ sequences included), or a `:shortcode:`. */
export const emojiSchema = z
  .string()
  .max(MAX_EMOJI_LENGTH)
  .regex(EMOJI_PATTERN, "emoji must be one Unicode emoji or a :shortcode:");

/** Most files one message may carry (a gateway's configured limit may be lower). */
export const MAX_ATTACHMENTS = 32;
/** Longest file name, in UTF-16 code units. */
export const MAX_FILE_NAME_LENGTH = 255;
/** A file's id: chosen by the gateway on upload, a plain name that is safe as an object key and in a URL path. */
export const fileIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "file id must be 1 to 64 letters, digits, _ or -");
/** A file's name as its uploader gave it, without a path: no `/`, `\\`, control characters or lone surrogates. */
export const fileNameSchema = z
  .string()
  .min(1)
  .max(MAX_FILE_NAME_LENGTH)
  .refine(
    (name) => name.isWellFormed() && !/[\p{Cc}/\\]/u.test(name) && name !== "." && name !== "..",
    "file name must be well-formed text without /, \\ or control characters",
  );
/** A media type, `type/subtype` in lower case without parameters (RFC 6838's characters). */
export const mediaTypeSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/,
    "type must be a media type like image/png",
  );
/** A file a message carries: uploaded first (`POST /api/rooms/{room}/files`), then named in the `send`. */
export const attachmentSchema = z.object({
  id: fileIdSchema,
  name: fileNameSchema,
  /** In bytes, as uploaded. */
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  type: mediaTypeSchema,
});
export type Attachment = z.infer<typeof attachmentSchema>;

/**
 * Media types served inline, as themselves, so clients preview them: raster images, which cannot carry script. SVG is
 * not among them (it can), and neither is anything a browser renders as a document: those are served as downloads.
 */
export const INLINE_MEDIA_TYPES: ReadonlySet<string> = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
]);
export const attachmentsSchema = z.array(attachmentSchema).min(1).max(MAX_ATTACHMENTS);

/** What every sequenced event of a room carries. */
const sequenced = {
  room: roomSchema,
  /** Position in the room, gap-free and strictly increasing from 1: messages, edits, deletions and reactions. */
  seq: seqSchema.min(1),
  /** Globally unique id assigned by the gateway that first accepted it. */
  id: opaqueKey("id"),
  /** The sender's idempotency key. */
  cid: cidSchema,
  from: userSchema,
  /** Milliseconds since the epoch when the gateway accepted it. */
  ts: z.number().int().nonnegative(),
};

/** One sequenced chat message: what the Bus publishes, clients receive, the Log carries and the Store keeps. */
export const chatMessageSchema = z.object({
  ...sequenced,
  body: messageBodySchema,
  /** The seq of the message of the same room this one answers. */
  replyTo: targetSchema.optional(),
  /** Files the message carries, in the order the sender gave them. */
  attachments: attachmentsSchema.optional(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

/** The author replaced the body of message `target`. A later edit wins; an edit of a deleted message changes nothing. */
export const editSchema = z.object({ ...sequenced, kind: z.literal("edit"), target: targetSchema, body: bodySchema });
export type Edit = z.infer<typeof editSchema>;

/** Message `target` was deleted (by its author or an admin): it stays as a tombstone, its body is dropped. */
export const deletionSchema = z.object({ ...sequenced, kind: z.literal("delete"), target: targetSchema });
export type Deletion = z.infer<typeof deletionSchema>;

/**
 * `from` put reaction `emoji` on message `target` (`on`) or took it off. Each user's latest event per message and
 * emoji (by seq) is their state, so a retried or repeated reaction never counts twice.
 */
export const reactionSchema = z.object({
  ...sequenced,
  kind: z.literal("react"),
  target: targetSchema,
  emoji: emojiSchema,
  on: z.boolean(),
});
export type Reaction = z.infer<typeof reactionSchema>;

/**
 * Everything that takes a seq in a room, in one stream: recovery, the Log, the Store and watermarks treat them
 * alike, so edits, deletions and reactions are ordered with the messages and recovered like them.
 * A message has no `kind`, so records written before the others existed still read as messages.
 */
export type RoomEvent = ChatMessage | Edit | Deletion | Reaction;

/** Whether `event` is a message rather than an edit, deletion or reaction of one. */
export function isMessage(event: RoomEvent): event is ChatMessage {
  return !("kind" in event);
}
