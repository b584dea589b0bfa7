import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";

/** A name no other test (or earlier run) uses: rooms, topics, groups, databases. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

/** A loopback port nothing listens on right now (for a process that cannot be told to pick one itself). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export interface WaitOptions {
  /** @default 20000 */
  readonly timeoutMs?: number;
  /** @default 25 */
  readonly intervalMs?: number;
}

/**
 * Polls `condition` until it returns a value other than `undefined`/`false`, and returns that value.
 * Tests wait for conditions, never for fixed times; the timeout only bounds a broken run.
 */
export async function waitFor<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  { timeoutMs = 20_000, intervalMs = 25 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Addresses of the local real services, exported by `scripts/services.sh env` (the test command sets them). */
export interface ServiceEnv {
  readonly redisUrl: string;
  /** The seed nodes of the local Redis Cluster, comma-separated as `PARLEY_REDIS_URL` takes them. */
  readonly redisClusterUrls: string;
  readonly kafkaBrokers: string[];
  readonly databaseUrl: string;
  /** The local S3 server (SeaweedFS) and its bucket. */
  readonly s3: {
    readonly endpoint: string;
    readonly bucket: string;
    readonly region: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
  };
}

export function serviceEnv(): ServiceEnv {
  const { REDIS_URL, REDIS_CLUSTER_URLS, KAFKA_BROKERS, DATABASE_URL } = process.env;
  const { S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
  if (
    !REDIS_URL ||
    !REDIS_CLUSTER_URLS ||
    !KAFKA_BROKERS ||
    !DATABASE_URL ||
    !S3_ENDPOINT ||
    !S3_BUCKET ||
    !S3_REGION ||
    !S3_ACCESS_KEY_ID ||
    !S3_SECRET_ACCESS_KEY
  ) {
    throw new Error(
      "REDIS_URL, REDIS_CLUSTER_URLS, KAFKA_BROKERS, DATABASE_URL or S3_* are unset: run tests through `npm test`, which starts the services",
    );
  }
  return {
    redisUrl: REDIS_URL,
    redisClusterUrls: REDIS_CLUSTER_URLS,
    kafkaBrokers: KAFKA_BROKERS.split(","),
    databaseUrl: DATABASE_URL,
    s3: {
      endpoint: S3_ENDPOINT,
      bucket: S3_BUCKET,
      region: S3_REGION,
      accessKeyId: S3_ACCESS_KEY_ID,
      secretAccessKey: S3_SECRET_ACCESS_KEY,
    },
  };
}
