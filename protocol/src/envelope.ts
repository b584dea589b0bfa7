import { z } from "zod";
import { type ChatMessage, chatMessageSchema } from "./message.js";
import { describeIssue, parseJson } from "./parse.js";

/** Version of the Kafka record format written by this code. Consumers accept only versions they know. */
export const ENVELOPE_VERSION = 1;

/**
 * The value of one record on the messages topic (the record key is the room, so a room stays on one partition).
 * JSON, UTF-8, with a version field so the format can evolve while old records are still on the topic.
 */
export const envelopeSchema = chatMessageSchema.extend({ v: z.literal(ENVELOPE_VERSION) });
export type Envelope = z.infer<typeof envelopeSchema>;

export function encodeEnvelope(message: ChatMessage): Buffer {
  const envelope: Envelope = { v: ENVELOPE_VERSION, ...message };
  return Buffer.from(JSON.stringify(envelope));
}

export type EnvelopeResult = { ok: true; message: ChatMessage } | { ok: false; reason: string };

/** Decodes a record value. Never throws: an undecodable record yields the reason for the dead-letter topic. */
export function decodeEnvelope(value: Uint8Array | null): EnvelopeResult {
  if (value === null) return { ok: false, reason: "record has no value" };
  const json = parseJson(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"));
  if (!json.ok) return { ok: false, reason: "value is not valid JSON" };
  const parsed = envelopeSchema.safeParse(json.value);
  if (!parsed.success) return { ok: false, reason: describeIssue(parsed.error, "value") };
  const { v: _version, ...message } = parsed.data;
  return { ok: true, message };
}
