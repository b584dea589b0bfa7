import { z } from "zod";
import { chatMessageSchema, deletionSchema, editSchema, type RoomEvent, reactionSchema } from "./message.js";
import { describeIssue, parseJson } from "./parse.js";

/**
 * Versions of the Kafka record format. Version 1 holds a message as v1 of the wire protocol has it; version 2 any
 * room event, told apart by `kind`. A plain message (no `replyTo`) is still written as version 1, so a persister
 * from before version 2 keeps storing the bulk of the traffic during a rolling upgrade.
 */
export const ENVELOPE_VERSION = 2;

const v1 = chatMessageSchema.omit({ replyTo: true }).extend({ v: z.literal(1) });
const v2 = z.discriminatedUnion("kind", [
  chatMessageSchema.extend({ v: z.literal(2), kind: z.literal("msg") }),
  editSchema.extend({ v: z.literal(2) }),
  deletionSchema.extend({ v: z.literal(2) }),
  reactionSchema.extend({ v: z.literal(2) }),
]);

/**
 * The value of one record on the messages topic (the record key is the room, so a room stays on one partition).
 * JSON, UTF-8, with a version field so the format can evolve while old records are still on the topic.
 */
export type Envelope = z.infer<typeof v1> | z.infer<typeof v2>;

export function encodeEnvelope(event: RoomEvent): Buffer {
  let envelope: Envelope;
  if ("kind" in event) envelope = { v: 2, ...event };
  else if (event.replyTo === undefined) envelope = { v: 1, ...event };
  else envelope = { v: 2, kind: "msg", ...event };
  return Buffer.from(JSON.stringify(envelope));
}

export type EnvelopeResult = { ok: true; event: RoomEvent } | { ok: false; reason: string };

/** Decodes a record value. Never throws: an undecodable record yields the reason for the dead-letter topic. */
export function decodeEnvelope(value: Uint8Array | null): EnvelopeResult {
  if (value === null) return { ok: false, reason: "record has no value" };
  const json = parseJson(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"));
  if (!json.ok) return { ok: false, reason: "value is not valid JSON" };
  const version = typeof json.value === "object" && json.value !== null && "v" in json.value ? json.value.v : undefined;
  if (version !== 1 && version !== ENVELOPE_VERSION) return { ok: false, reason: `v: unknown version ${version}` };
  const parsed = (version === 1 ? v1 : v2).safeParse(json.value);
  if (!parsed.success) return { ok: false, reason: describeIssue(parsed.error, "value") };
  if (parsed.data.v === 1 || parsed.data.kind === "msg") {
    const { v: _v, kind: _kind, ...message } = { kind: "msg", ...parsed.data };
    return { ok: true, event: message };
  }
  const { v: _v, ...event } = parsed.data;
  return { ok: true, event };
}
