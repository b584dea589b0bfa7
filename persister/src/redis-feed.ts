import { type ChatMessage, decodeServerFrame, encodeServerFrame, roomKeys } from "@parley/protocol";
import { type RedisClient, type RedisTarget, redisClient } from "@parley/protocol/runtime";
import type { RoomFeed } from "./watermark.js";

export interface RedisFeedOptions {
  /** The gateways' Redis. */
  readonly target: RedisTarget;
  /** The gateways' key prefix (`PARLEY_REDIS_PREFIX`). */
  readonly prefix: string;
}

/**
 * The watermark tracker's view of the gateways' Redis: it reads a room's recent buffer and publishes `persisted`
 * frames on the room's channel, with the key layout the gateways' bus uses (`roomKeys`).
 */
export class RedisFeed implements RoomFeed {
  readonly #redis: RedisClient;
  readonly #prefix: string;

  constructor({ target, prefix }: RedisFeedOptions) {
    this.#redis = redisClient(target, "parley-persister");
    // Connecting now, not on the first announcement, which a Cluster client fails while it is still connecting. A
    // failure needs no handling here: the client keeps reconnecting, and announcements fail (and are logged) until
    // it is back.
    this.#redis.connect().catch(() => {});
    this.#prefix = prefix;
  }

  async recent(room: string, after: number): Promise<ChatMessage[]> {
    const messages: ChatMessage[] = [];
    for (const payload of await this.#redis.lrange(roomKeys(this.#prefix, room).recent, 0, -1)) {
      const decoded = decodeServerFrame(payload);
      if (!decoded.ok || decoded.value.t !== "msg") continue;
      const { t: _t, ...message } = decoded.value;
      if (message.seq > after) messages.push(message);
    }
    return messages;
  }

  async publishPersisted(room: string, upTo: number): Promise<void> {
    await this.#redis.spublish(roomKeys(this.#prefix, room).channel, encodeServerFrame({ t: "persisted", room, upTo }));
  }

  async close(): Promise<void> {
    await this.#redis.quit();
  }
}
