import { z } from "zod";
import { chatMessageSchema, deletionSchema, editSchema, type RoomEvent, reactionSchema } from "./message.js";
import { describeIssue, parseJson } from "./parse.js";

/**
 * Versions of the Kafka record format. Version 1 holds a message as v1 of the wire protocol has it; version 2 any
 * room event, told apart by `kind`; version 3 a message with attachments. Each event is written in the oldest version
 * that can hold it (a plain message as version 1, a reply or an edit as version 2), so a persister from before a
 * version keeps storing the bulk of the traffic during a rolling upgrade, and every version stays decodable while old
 * records are on the topic.
 */
export const ENVELOPE_VERSION = 3;

const v1 = chatMessageSchema.omit({ replyTo: true, attachments: true }).extend({ v: z.literal(1) });
const v2 = z.discriminatedUnion("kind", [
  chatMessageSchema.omit({ attachments: true }).extend({ v: z.literal(2), kind: z.literal("msg") }),
  editSchema.extend({ v: z.literal(2) }),
  deletionSchema.extend({ v: z.literal(2) }),
  reactionSchema.extend({ v: z.literal(2) }),
]);
const v3 = chatMessageSchema.required({ attachments: true }).extend({ v: z.literal(3), kind: z.literal("msg") });
const VERSIONS = { 1: v1, 2: v2, 3: v3 } as const;

/**
 * The value of one record on the messages topic (the record key is the room, so a room stays on one partition).
 * JSON, UTF-8, with a version field so the format can evolve while old records are still on the topic.
 */
export type Envelope = z.infer<typeof v1> | z.infer<typeof v2> | z.infer<typeof v3>;

export function encodeEnvelope(event: RoomEvent): Buffer {
  let envelope: Envelope;
  if ("kind" in event) envelope = { v: 2, ...event };
  else if (event.attachments !== undefined) envelope = { v: 3, kind: "msg", ...event, attachments: event.attachments };
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
  if (version !== 1 && version !== 2 && version !== 3) return { ok: false, reason: `v: unknown version ${version}` };
  const parsed = VERSIONS[version].safeParse(json.value);
  if (!parsed.success) return { ok: false, reason: describeIssue(parsed.error, "value") };
  if (parsed.data.v !== 2 || parsed.data.kind === "msg") {
    const { v: _v, kind: _kind, ...message } = { kind: "msg", ...parsed.data };
    return { ok: true, event: message };
  }
  const { v: _v, ...event } = parsed.data;
  return { ok: true, event };
}
