import { Cluster, Redis } from "ioredis";
import { invalidConfig } from "./config.js";

/** Where the services find Redis: one standalone server, or seed nodes of a Redis Cluster. */
export interface RedisTarget {
  /** `redis://[user:password@]host:port[/db]`: the server, or the Cluster nodes to discover the rest from. */
  readonly urls: readonly [string, ...string[]];
  readonly cluster: boolean;
}

export type RedisClient = Redis | Cluster;

/**
 * The target described by `PARLEY_REDIS_URL` (a comma-separated list of seed nodes when `PARLEY_REDIS_CLUSTER` is
 * true) and `PARLEY_REDIS_CLUSTER`.
 */
export function redisTarget(urlList: string, cluster: boolean): RedisTarget {
  const [first, ...rest] = urlList
    .split(",")
    .map((url) => url.trim())
    .filter((url) => url.length > 0);
  if (first === undefined || (!cluster && rest.length > 0)) {
    throw invalidConfig(
      "PARLEY_REDIS_URL",
      "expected one URL (a comma-separated list of Cluster nodes only with PARLEY_REDIS_CLUSTER=true)",
    );
  }
  const bad = [first, ...rest].find((url) => !/^rediss?:\/\/[^\s/]+/.test(url));
  if (bad !== undefined) {
    throw invalidConfig("PARLEY_REDIS_URL", `expected redis:// or rediss:// URLs, got ${bad}`);
  }
  return Object.freeze({ urls: Object.freeze([first, ...rest] as const), cluster });
}

/**
 * A client for `target` that connects on `connect()` or its first command. A command fails after 5 s or one retry
 * rather than queueing through an outage, so callers see Redis being down: the Cluster client, which would hold
 * commands without a time limit while it has no node, fails them at once instead. It follows slot moves itself.
 * A `subscriber` keeps one connection per shard on a Cluster, for SSUBSCRIBE; any other client auto-pipelines:
 * the commands of one event-loop turn go out in one write, in order (under load, a write per command was a large
 * share of a gateway's CPU).
 */
export function redisClient(target: RedisTarget, connectionName: string, { subscriber = false } = {}): RedisClient {
  const options = {
    maxRetriesPerRequest: 1,
    commandTimeout: 5_000,
    lazyConnect: true,
    connectionName,
    enableAutoPipelining: !subscriber,
  } as const;
  if (!target.cluster) return new Redis(target.urls[0], options);
  // The nodes the Cluster reports are reached with `redisOptions`: the seed URL's credentials and TLS go there too.
  const seed = new URL(target.urls[0]);
  return new Cluster([...target.urls], {
    lazyConnect: true,
    enableOfflineQueue: false,
    shardedSubscribers: subscriber,
    enableAutoPipelining: !subscriber,
    redisOptions: {
      ...options,
      ...(seed.username ? { username: decodeURIComponent(seed.username) } : {}),
      ...(seed.password ? { password: decodeURIComponent(seed.password) } : {}),
      ...(seed.protocol === "rediss:" ? { tls: {} } : {}),
    },
  });
}
