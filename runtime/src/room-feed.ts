import { decodeServerFrame, encodeServerFrame, eventOfFrame, type RoomEvent } from "@parley/protocol";
import type { RedisClient } from "./redis.js";
import { roomKeys } from "./redis-keys.js";

/**
 * A room's feed in the gateways' Redis, as the Bus lays it out (`roomKeys`), for the two services that use it: the
 * gateway's RedisBus and the persister's watermark tracker. One place reads the recent buffer and publishes the
 * `persisted` frame, so the two cannot drift apart.
 */

/**
 * The buffer's tail that can hold seqs above ARGV[1]: the buffer's seqs strictly increase and end at most at the
 * room's counter, so the events above `after` are among its last `counter - after` entries. Reading only those keeps
 * an edit's lookup of a recent message, or a join a few messages behind, from reading the whole buffer.
 */
const RECENT_SCRIPT = `
local wanted = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(ARGV[1])
if wanted <= 0 then return {} end
return redis.call('LRANGE', KEYS[2], -wanted, -1)
`;

/** The events in the room's recent buffer with a seq above `after`, in the buffer's order; other frames are skipped. */
export async function readRecent(
  redis: RedisClient,
  prefix: string,
  room: string,
  after: number,
): Promise<RoomEvent[]> {
  const keys = roomKeys(prefix, room);
  const payloads = await redis.eval(RECENT_SCRIPT, 2, keys.seq, keys.recent, String(after));
  const events: RoomEvent[] = [];
  for (const payload of Array.isArray(payloads) ? payloads : []) {
    if (typeof payload !== "string") continue;
    const decoded = decodeServerFrame(payload);
    const event = decoded.ok ? eventOfFrame(decoded.value) : undefined;
    if (event !== undefined && event.seq > after) events.push(event);
  }
  return events;
}

/** Tells the room's members, on every gateway, that its messages up to `upTo` are stored. */
export async function announcePersisted(redis: RedisClient, prefix: string, room: string, upTo: number): Promise<void> {
  await redis.spublish(roomKeys(prefix, room).channel, encodeServerFrame({ t: "persisted", room, upTo }));
}
