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

const database = {
  PARLEY_DATABASE_URL: env.optionalString(),
  PARLEY_DB_POOL_SIZE: env.int(4, { min: 1 }),
};
const logLevel = { PARLEY_LOG_LEVEL: env.oneOf(LOG_LEVELS, "info") };

/** Every variable the persister reads, with its default. The README's configuration table mirrors this. */
export const variables = {
  ...database,
  ...logLevel,
  PARLEY_KAFKA_BROKERS: env.list([]),
  PARLEY_KAFKA_TOPIC: env.string("parley.messages"),
  PARLEY_KAFKA_DLQ_TOPIC: env.string("parley.messages.dlq"),
  PARLEY_KAFKA_GROUP: env.string("parley-persister"),
  PARLEY_KAFKA_CLIENT_ID: env.string("parley-persister"),
  PARLEY_KAFKA_PARTITIONS: env.int(12, { min: 1 }),
  PARLEY_KAFKA_SESSION_TIMEOUT_MS: env.int(30_000, { min: 1_000 }),
  PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS: env.int(3_000, { min: 100 }),
  PARLEY_KAFKA_CONCURRENCY: env.int(2, { min: 1 }),
  PARLEY_METRICS_PORT: env.port(9465),
  PARLEY_REDIS_URL: env.optionalString(),
  PARLEY_REDIS_CLUSTER: env.bool(false),
  PARLEY_REDIS_PREFIX: env.string("parley"),
  PARLEY_GAP_TIMEOUT_MS: env.int(30_000, { min: 100 }),
  ...TRACING_VARIABLES,
};

/** The slice `createPostgresStore` takes. */
export interface DatabaseConfig {
  readonly connectionString: string;
  readonly poolSize: number;
}

/** The slice `KafkaLog` takes (see `KafkaLogOptions` for each field). */
export interface KafkaConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly clientId: string;
  readonly partitions: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Partitions whose batches are written to the database at the same time. */
  readonly partitionsConsumedConcurrently: number;
}

/** Everything the persister's composition root needs, parsed and frozen. */
export interface PersisterConfig {
  readonly logLevel: LogLevel;
  readonly tracing: TracingConfig;
  readonly metricsPort: number;
  readonly database: DatabaseConfig;
  readonly kafka: KafkaConfig;
  /** Consumer group shared by every persister replica. */
  readonly group: string;
  /** The gateways' Redis: watermarks are announced there and gaps repaired from its recent buffers. */
  readonly redis?: { readonly target: RedisTarget; readonly prefix: string };
  /** How long a missing seq may stay missing before it is repaired or recorded lost. */
  readonly gapTimeoutMs: number;
}

/** Everything the migrate command needs, parsed and frozen. */
export interface MigrateConfig {
  readonly logLevel: LogLevel;
  readonly database: DatabaseConfig;
}

/** Parses the persister's configuration once, at start. Errors name the variable. */
export function loadPersisterConfig(source: Env, warn: (message: string) => void): PersisterConfig {
  const v = parseEnv(variables, source, warn);
  const connectionString = required("PARLEY_DATABASE_URL", v.PARLEY_DATABASE_URL);
  if (v.PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS >= v.PARLEY_KAFKA_SESSION_TIMEOUT_MS) {
    throw invalidConfig("PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS", "must be below PARLEY_KAFKA_SESSION_TIMEOUT_MS");
  }
  return Object.freeze({
    logLevel: v.PARLEY_LOG_LEVEL,
    tracing: tracingConfig(v),
    metricsPort: v.PARLEY_METRICS_PORT,
    database: Object.freeze({ connectionString, poolSize: v.PARLEY_DB_POOL_SIZE }),
    kafka: Object.freeze({
      brokers: Object.freeze(required("PARLEY_KAFKA_BROKERS", v.PARLEY_KAFKA_BROKERS)),
      topic: v.PARLEY_KAFKA_TOPIC,
      deadLetterTopic: v.PARLEY_KAFKA_DLQ_TOPIC,
      clientId: v.PARLEY_KAFKA_CLIENT_ID,
      partitions: v.PARLEY_KAFKA_PARTITIONS,
      sessionTimeoutMs: v.PARLEY_KAFKA_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: v.PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS,
      partitionsConsumedConcurrently: v.PARLEY_KAFKA_CONCURRENCY,
    }),
    group: v.PARLEY_KAFKA_GROUP,
    gapTimeoutMs: v.PARLEY_GAP_TIMEOUT_MS,
    ...(v.PARLEY_REDIS_URL === undefined
      ? {}
      : {
          redis: Object.freeze({
            target: redisTarget(v.PARLEY_REDIS_URL, v.PARLEY_REDIS_CLUSTER),
            prefix: v.PARLEY_REDIS_PREFIX,
          }),
        }),
  });
}

/** The migrate command's configuration: only the database (a migration Job needs nothing else). */
export function loadMigrateConfig(source: Env, warn: (message: string) => void): MigrateConfig {
  const v = parseEnv({ ...database, ...logLevel }, source, warn);
  return Object.freeze({
    logLevel: v.PARLEY_LOG_LEVEL,
    database: Object.freeze({
      connectionString: required("PARLEY_DATABASE_URL", v.PARLEY_DATABASE_URL),
      poolSize: v.PARLEY_DB_POOL_SIZE,
    }),
  });
}
