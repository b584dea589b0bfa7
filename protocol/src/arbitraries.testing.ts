import fc from "fast-check";
import { type Attachment, bodySchema, type ChatMessage, fileNameSchema, type RoomEvent } from "./message.js";
import { dmRoom } from "./rooms.js";

/** fast-check arbitraries of the protocol's values, for the property tests of everything that encodes or decodes them. */

export const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
export const room = fc.oneof(
  name,
  fc
    .tuple(name, name)
    .filter(([a, b]) => a !== b)
    .map(([a, b]) => dmRoom(a, b)),
);
export const cid = fc.stringMatching(/^[\x21-\x7e]{1,64}$/);
export const body = fc
  .string({ minLength: 1, maxLength: 300, unit: "binary" })
  .filter((text) => bodySchema.safeParse(text).success);
export const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
export const emoji = fc.constantFrom("👍", "👍🏽", "❤️", "👨‍👩‍👧", "🇳🇱", ":tada:", ":+1:", ":thumbs_up:");

const sequenced = { room, seq, id: fc.uuid(), cid, from: name, ts: fc.nat() };

export const attachment: fc.Arbitrary<Attachment> = fc.record({
  id: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  name: fc.string({ minLength: 1, maxLength: 80, unit: "binary" }).filter((n) => fileNameSchema.safeParse(n).success),
  size: fc.nat(),
  type: fc.constantFrom("image/png", "application/pdf", "text/html", "application/vnd.oasis.opendocument.text"),
});

/** Messages with a body, a reply and attachments in every combination (attachment-only ones with an empty body). */
export const message: fc.Arbitrary<ChatMessage> = fc
  .record(
    { ...sequenced, body, replyTo: seq, attachments: fc.array(attachment, { minLength: 1, maxLength: 4 }) },
    { requiredKeys: ["room", "seq", "id", "cid", "from", "ts", "body"] },
  )
  .chain((m) => (m.attachments === undefined ? fc.constant(m) : fc.constantFrom(m, { ...m, body: "" })));

export const roomEvent: fc.Arbitrary<RoomEvent> = fc.oneof(
  message,
  fc.record({ ...sequenced, kind: fc.constant("edit" as const), target: seq, body }),
  fc.record({ ...sequenced, kind: fc.constant("delete" as const), target: seq }),
  fc.record({ ...sequenced, kind: fc.constant("react" as const), target: seq, emoji, on: fc.boolean() }),
);
