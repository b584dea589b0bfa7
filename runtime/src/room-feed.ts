import { type ChatMessage, decodeServerFrame, encodeServerFrame } from "@parley/protocol";
import type { RedisClient } from "./redis.js";
import { roomKeys } from "./redis-keys.js";

/**
 * A room's feed in the gateways' Redis, as the Bus lays it out (`roomKeys`), for the two services that use it: the
 * gateway's RedisBus and the persister's watermark tracker. One place reads the recent buffer and publishes the
 * `persisted` frame, so the two cannot drift apart.
 */

/** The messages in the room's recent buffer with a seq above `after`, in the buffer's order; other frames are skipped. */
export async function readRecent(
  redis: RedisClient,
  prefix: string,
  room: string,
  after: number,
): Promise<ChatMessage[]> {
  const messages: ChatMessage[] = [];
  for (const payload of await redis.lrange(roomKeys(prefix, room).recent, 0, -1)) {
    const decoded = decodeServerFrame(payload);
    if (!decoded.ok || decoded.value.t !== "msg") continue;
    const { t: _t, ...message } = decoded.value;
    if (message.seq > after) messages.push(message);
  }
  return messages;
}

/** Tells the room's members, on every gateway, that its messages up to `upTo` are stored. */
export async function announcePersisted(redis: RedisClient, prefix: string, room: string, upTo: number): Promise<void> {
  await redis.spublish(roomKeys(prefix, room).channel, encodeServerFrame({ t: "persisted", room, upTo }));
}
