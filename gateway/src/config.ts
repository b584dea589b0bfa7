import { join } from "node:path";
import { MAX_ATTACHMENTS } from "@parley/protocol";
import {
  type Env,
  env,
  invalidConfig,
  LOG_LEVELS,
  type LogLevel,
  parseEnv,
  type RedisTarget,
  redisTarget,
  required,
  TRACING_VARIABLES,
  type TracingConfig,
  tracingConfig,
} from "@parley/runtime";
import type { JwtKeySource } from "./auth/jwt-auth.js";
import type { DrainOptions } from "./gateway.js";
import type { SessionLimits } from "./session.js";

/** Every variable the gateway reads, with its default. The README's configuration table mirrors this. */
export const variables = {
  PARLEY_HOST: env.string("0.0.0.0"),
  PARLEY_PORT: env.port(8080),
  PARLEY_METRICS_PORT: env.port(9464),
  PARLEY_LOG_LEVEL: env.oneOf(LOG_LEVELS, "info"),
  PARLEY_BUS: env.oneOf(["memory", "redis"], "memory"),
  PARLEY_REDIS_URL: env.optionalString(),
  PARLEY_REDIS_CLUSTER: env.bool(false),
  PARLEY_REDIS_PREFIX: env.string("parley"),
  PARLEY_RESEED_MARGIN: env.int(10_000),
  PARLEY_LOG: env.oneOf(["memory", "kafka"], "memory"),
  PARLEY_KAFKA_BROKERS: env.list([]),
  PARLEY_KAFKA_TOPIC: env.string("parley.messages"),
  PARLEY_KAFKA_DLQ_TOPIC: env.string("parley.messages.dlq"),
  PARLEY_KAFKA_CLIENT_ID: env.string("parley-gateway"),
  PARLEY_KAFKA_PARTITIONS: env.int(12, { min: 1 }),
  PARLEY_STORE: env.oneOf(["pglite", "postgres"], "pglite"),
  PARLEY_DATABASE_URL: env.optionalString(),
  PARLEY_DB_POOL_SIZE: env.int(10, { min: 1 }),
  PARLEY_DATA_DIR: env.string(".parley/data"),
  PARLEY_AUTH: env.oneOf(["dev", "jwt"], "dev"),
  PARLEY_JWT_SECRET: env.optionalString(),
  PARLEY_JWT_JWKS_URL: env.optionalString(),
  PARLEY_JWT_ISSUER: env.optionalString(),
  PARLEY_JWT_AUDIENCE: env.optionalString(),
  PARLEY_JWT_USER_CLAIM: env.string("sub"),
  PARLEY_JWT_ROLES_CLAIM: env.string("roles"),
  PARLEY_JWT_ADMIN_ROLE: env.optionalString(),
  PARLEY_RATE_PER_SECOND: env.int(20, { min: 1 }),
  PARLEY_RATE_BURST: env.int(40, { min: 1 }),
  PARLEY_TYPING_INTERVAL_MS: env.int(1000),
  PARLEY_APPEND_TIMEOUT_MS: env.int(10_000, { min: 100 }),
  PARLEY_RECENT_LIMIT: env.int(1000, { min: 1 }),
  PARLEY_DEDUPE_TTL_SECONDS: env.int(900, { min: 1 }),
  PARLEY_PRESENCE_LIST_LIMIT: env.int(100),
  PARLEY_PRESENCE_TTL_SECONDS: env.int(30, { min: 3 }),
  PARLEY_MAX_REPLAY: env.int(1000, { min: 0 }),
  PARLEY_HISTORY_MAX_LIMIT: env.int(200, { min: 1 }),
  PARLEY_SHED_BYTES: env.int(256 * 1024, { min: 1024 }),
  PARLEY_SLOW_CONSUMER_BYTES: env.int(1024 * 1024, { min: 4096 }),
  PARLEY_IDLE_TIMEOUT_SECONDS: env.int(60, { min: 8 }),
  PARLEY_DRAIN_BATCH: env.int(500, { min: 1 }),
  PARLEY_DRAIN_INTERVAL_MS: env.int(100),
  PARLEY_WEB_DIR: env.optionalString(),
  PARLEY_GAP_TIMEOUT_MS: env.int(30_000, { min: 100 }),
  PARLEY_FILES: env.oneOf(["fs", "s3", "off"], "fs"),
  PARLEY_FILES_DIR: env.optionalString(),
  PARLEY_FILES_SECRET: env.optionalString(),
  PARLEY_FILES_MAX_BYTES: env.int(25 * 1024 * 1024, { min: 1 }),
  PARLEY_FILES_PER_MESSAGE: env.int(10, { min: 1, max: MAX_ATTACHMENTS }),
  PARLEY_FILES_TYPES: env.list([]),
  PARLEY_FILES_URL_SECONDS: env.int(300, { min: 10, max: 7 * 24 * 3600 }),
  PARLEY_FILES_UNATTACHED_SECONDS: env.int(24 * 3600, { min: 60 }),
  PARLEY_S3_BUCKET: env.optionalString(),
  PARLEY_S3_REGION: env.string("us-east-1"),
  PARLEY_S3_ENDPOINT: env.optionalUrl(),
  PARLEY_S3_PUBLIC_ENDPOINT: env.optionalUrl(),
  PARLEY_S3_FORCE_PATH_STYLE: env.bool(false),
  PARLEY_S3_PREFIX: env.optionalString(),
  PARLEY_S3_ACCESS_KEY_ID: env.optionalString(),
  PARLEY_S3_SECRET_ACCESS_KEY: env.optionalString(),
  ...TRACING_VARIABLES,
};

export type BusConfig =
  | { readonly kind: "memory" }
  | { readonly kind: "redis"; readonly target: RedisTarget; readonly prefix: string; readonly reseedMargin: number };
export type LogConfig =
  | { readonly kind: "memory" }
  | {
      readonly kind: "kafka";
      readonly brokers: readonly string[];
      readonly topic: string;
      readonly deadLetterTopic: string;
      readonly clientId: string;
      readonly partitions: number;
    };
export type StoreConfig =
  | { readonly kind: "pglite"; readonly dataDir: string }
  | { readonly kind: "postgres"; readonly connectionString: string; readonly poolSize: number };
export type AuthConfig =
  | { readonly kind: "dev" }
  | {
      readonly kind: "jwt";
      readonly keys: JwtKeySource;
      readonly issuer?: string;
      readonly audience?: string;
      readonly userClaim: string;
      readonly rolesClaim: string;
      readonly adminRole?: string;
    };

/** What file sharing allows; see {@link FilesConfig}. */
export interface FileLimits {
  readonly maxBytes: number;
  readonly perMessage: number;
  /** Media types (`image/png`) or families (`image/*`) an upload may have; empty: any. */
  readonly types: readonly string[];
  /** How long an upload or download URL is valid. */
  readonly urlSeconds: number;
  /** An upload no message carries is deleted this long after it was granted. */
  readonly unattachedSeconds: number;
}

export type FilesConfig =
  | { readonly kind: "off" }
  | { readonly kind: "fs"; readonly dir: string; readonly secret?: string; readonly limits: FileLimits }
  | {
      readonly kind: "s3";
      readonly bucket: string;
      readonly region: string;
      readonly endpoint?: string;
      /** Where browsers reach S3, when not at `endpoint`: the URLs handed to them are signed for it. */
      readonly publicEndpoint?: string;
      readonly forcePathStyle: boolean;
      readonly prefix?: string;
      readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
      readonly limits: FileLimits;
    };

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
  readonly tracing: TracingConfig;
  readonly bus: BusConfig;
  readonly log: LogConfig;
  readonly store: StoreConfig;
  readonly auth: AuthConfig;
  readonly limits: SessionLimits;
  readonly recentLimit: number;
  readonly dedupeTtlSeconds: number;
  readonly presenceListLimit: number;
  readonly presenceTtlSeconds: number;
  readonly maxHistoryLimit: number;
  readonly idleTimeoutSeconds: number;
  readonly drain: DrainOptions;
  readonly webDir?: string;
  readonly files: FilesConfig;
  /** Embedded mode (in-process persister): how long a missing seq may stay missing before repair. */
  readonly gapTimeoutMs: number;
}

/** Parses the gateway's configuration once, at start. Errors name the variable. */
export function loadGatewayConfig(source: Env, warn: (message: string) => void): GatewayConfig {
  const v = parseEnv(variables, source, warn);
  const bus: BusConfig =
    v.PARLEY_BUS === "redis"
      ? {
          kind: "redis",
          target: redisTarget(
            required("PARLEY_REDIS_URL", v.PARLEY_REDIS_URL, "PARLEY_BUS=redis"),
            v.PARLEY_REDIS_CLUSTER,
          ),
          prefix: v.PARLEY_REDIS_PREFIX,
          reseedMargin: v.PARLEY_RESEED_MARGIN,
        }
      : { kind: "memory" };
  const log: LogConfig =
    v.PARLEY_LOG === "kafka"
      ? {
          kind: "kafka",
          brokers: Object.freeze(required("PARLEY_KAFKA_BROKERS", v.PARLEY_KAFKA_BROKERS, "PARLEY_LOG=kafka")),
          topic: v.PARLEY_KAFKA_TOPIC,
          deadLetterTopic: v.PARLEY_KAFKA_DLQ_TOPIC,
          clientId: v.PARLEY_KAFKA_CLIENT_ID,
          partitions: v.PARLEY_KAFKA_PARTITIONS,
        }
      : { kind: "memory" };
  const store: StoreConfig =
    v.PARLEY_STORE === "postgres"
      ? {
          kind: "postgres",
          connectionString: required("PARLEY_DATABASE_URL", v.PARLEY_DATABASE_URL, "PARLEY_STORE=postgres"),
          poolSize: v.PARLEY_DB_POOL_SIZE,
        }
      : { kind: "pglite", dataDir: v.PARLEY_DATA_DIR };
  let auth: AuthConfig = { kind: "dev" };
  if (v.PARLEY_AUTH === "jwt") {
    if ((v.PARLEY_JWT_SECRET === undefined) === (v.PARLEY_JWT_JWKS_URL === undefined)) {
      throw invalidConfig("PARLEY_JWT_SECRET, PARLEY_JWT_JWKS_URL", "PARLEY_AUTH=jwt needs exactly one of them");
    }
    auth = {
      kind: "jwt",
      keys:
        v.PARLEY_JWT_SECRET === undefined ? { jwksUrl: v.PARLEY_JWT_JWKS_URL ?? "" } : { secret: v.PARLEY_JWT_SECRET },
      userClaim: v.PARLEY_JWT_USER_CLAIM,
      rolesClaim: v.PARLEY_JWT_ROLES_CLAIM,
      ...(v.PARLEY_JWT_ADMIN_ROLE === undefined ? {} : { adminRole: v.PARLEY_JWT_ADMIN_ROLE }),
      ...(v.PARLEY_JWT_ISSUER === undefined ? {} : { issuer: v.PARLEY_JWT_ISSUER }),
      ...(v.PARLEY_JWT_AUDIENCE === undefined ? {} : { audience: v.PARLEY_JWT_AUDIENCE }),
    };
  }
  return Object.freeze({
    files: filesConfig(v),
    host: v.PARLEY_HOST,
    port: v.PARLEY_PORT,
    metricsPort: v.PARLEY_METRICS_PORT,
    logLevel: v.PARLEY_LOG_LEVEL,
    tracing: tracingConfig(v),
    bus,
    log,
    store,
    auth,
    limits: Object.freeze({
      framesPerSecond: v.PARLEY_RATE_PER_SECOND,
      frameBurst: v.PARLEY_RATE_BURST,
      shedEphemeralBytes: v.PARLEY_SHED_BYTES,
      slowConsumerBytes: v.PARLEY_SLOW_CONSUMER_BYTES,
      maxReplay: v.PARLEY_MAX_REPLAY,
      typingIntervalMs: v.PARLEY_TYPING_INTERVAL_MS,
      appendTimeoutMs: v.PARLEY_APPEND_TIMEOUT_MS,
    }),
    recentLimit: v.PARLEY_RECENT_LIMIT,
    dedupeTtlSeconds: v.PARLEY_DEDUPE_TTL_SECONDS,
    presenceListLimit: v.PARLEY_PRESENCE_LIST_LIMIT,
    presenceTtlSeconds: v.PARLEY_PRESENCE_TTL_SECONDS,
    maxHistoryLimit: v.PARLEY_HISTORY_MAX_LIMIT,
    idleTimeoutSeconds: v.PARLEY_IDLE_TIMEOUT_SECONDS,
    gapTimeoutMs: v.PARLEY_GAP_TIMEOUT_MS,
    drain: Object.freeze({ batchSize: v.PARLEY_DRAIN_BATCH, intervalMs: v.PARLEY_DRAIN_INTERVAL_MS }),
    ...(v.PARLEY_WEB_DIR === undefined ? {} : { webDir: v.PARLEY_WEB_DIR }),
  });
}

function filesConfig(v: ReturnType<typeof parseEnv<typeof variables>>): FilesConfig {
  const limits: FileLimits = Object.freeze({
    maxBytes: v.PARLEY_FILES_MAX_BYTES,
    perMessage: v.PARLEY_FILES_PER_MESSAGE,
    types: Object.freeze(v.PARLEY_FILES_TYPES),
    urlSeconds: v.PARLEY_FILES_URL_SECONDS,
    unattachedSeconds: v.PARLEY_FILES_UNATTACHED_SECONDS,
  });
  switch (v.PARLEY_FILES) {
    case "off":
      return { kind: "off" };
    case "fs":
      return {
        kind: "fs",
        dir: v.PARLEY_FILES_DIR ?? join(v.PARLEY_DATA_DIR, "files"),
        ...(v.PARLEY_FILES_SECRET === undefined ? {} : { secret: v.PARLEY_FILES_SECRET }),
        limits,
      };
    case "s3": {
      const { PARLEY_S3_ACCESS_KEY_ID: accessKeyId, PARLEY_S3_SECRET_ACCESS_KEY: secretAccessKey } = v;
      if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
        throw invalidConfig("PARLEY_S3_ACCESS_KEY_ID, PARLEY_S3_SECRET_ACCESS_KEY", "set both or neither");
      }
      return {
        kind: "s3",
        bucket: required("PARLEY_S3_BUCKET", v.PARLEY_S3_BUCKET, "PARLEY_FILES=s3"),
        region: v.PARLEY_S3_REGION,
        forcePathStyle: v.PARLEY_S3_FORCE_PATH_STYLE || v.PARLEY_S3_ENDPOINT !== undefined,
        ...(v.PARLEY_S3_ENDPOINT === undefined ? {} : { endpoint: v.PARLEY_S3_ENDPOINT }),
        ...(v.PARLEY_S3_PUBLIC_ENDPOINT === undefined ? {} : { publicEndpoint: v.PARLEY_S3_PUBLIC_ENDPOINT }),
        ...(v.PARLEY_S3_PREFIX === undefined ? {} : { prefix: v.PARLEY_S3_PREFIX }),
        ...(accessKeyId === undefined || secretAccessKey === undefined
          ? {}
          : { credentials: { accessKeyId, secretAccessKey } }),
        limits,
      };
    }
  }
}
