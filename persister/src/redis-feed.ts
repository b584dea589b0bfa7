import type { RoomEvent } from "@parley/protocol";
import { announcePersisted, type RedisClient, type RedisTarget, readRecent, redisClient } from "@parley/runtime";
import type { RoomFeed } from "./watermark.js";

export interface RedisFeedOptions {
  /** The gateways' Redis. */
  readonly target: RedisTarget;
  /** The gateways' key prefix (`PARLEY_REDIS_PREFIX`). */
  readonly prefix: string;
}

/**
 * The watermark tracker's view of the gateways' Redis: a room's recent buffer and its `persisted` frames, through the
 * same room-feed functions the gateways' RedisBus uses.
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

  recent(room: string, after: number): Promise<RoomEvent[]> {
    return readRecent(this.#redis, this.#prefix, room, after);
  }

  publishPersisted(room: string, upTo: number): Promise<void> {
    return announcePersisted(this.#redis, this.#prefix, room, upTo);
  }

  async close(): Promise<void> {
    await this.#redis.quit();
  }
}
