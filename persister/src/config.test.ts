import { ConfigError } from "@parley/runtime";
import { documentedVariables } from "@parley/testkit/readme";
import { describe, expect, it } from "vitest";
import { loadMigrateConfig, loadPersisterConfig, variables } from "./config.js";

const required = { PARLEY_DATABASE_URL: "postgres://u:p@db:5432/parley", PARLEY_KAFKA_BROKERS: "k1:9092, k2:9092," };

describe("loadPersisterConfig", () => {
  it("applies the defaults", () => {
    expect(loadPersisterConfig(required, () => {})).toEqual({
      logLevel: "info",
      tracing: { kind: "off" },
      metricsPort: 9465,
      database: { connectionString: "postgres://u:p@db:5432/parley", poolSize: 4 },
      kafka: {
        brokers: ["k1:9092", "k2:9092"],
        topic: "parley.messages",
        deadLetterTopic: "parley.messages.dlq",
        clientId: "parley-persister",
        partitions: 12,
        sessionTimeoutMs: 30_000,
        heartbeatIntervalMs: 3_000,
        partitionsConsumedConcurrently: 2,
      },
      group: "parley-persister",
      gapTimeoutMs: 30_000,
    });
  });

  it("traces to an OTLP collector when PARLEY_OTEL_ENDPOINT is set", () => {
    const config = loadPersisterConfig(
      { ...required, PARLEY_OTEL_ENDPOINT: "http://otel:4318", PARLEY_OTEL_SAMPLE_RATIO: "0.25" },
      () => {},
    );
    expect(config.tracing).toEqual({ kind: "otlp", endpoint: "http://otel:4318", sampleRatio: 0.25 });
  });

  it("announces watermarks through Redis when PARLEY_REDIS_URL is set", () => {
    const config = loadPersisterConfig({ ...required, PARLEY_REDIS_URL: "redis://r:6379" }, () => {});
    expect(config.redis).toEqual({ target: { urls: ["redis://r:6379"], cluster: false }, prefix: "parley" });
    const cluster = loadPersisterConfig(
      { ...required, PARLEY_REDIS_URL: "redis://a:6379,redis://b:6379", PARLEY_REDIS_CLUSTER: "true" },
      () => {},
    );
    expect(cluster.redis?.target).toEqual({ urls: ["redis://a:6379", "redis://b:6379"], cluster: true });
  });

  it("has every variable in the README's table", () => {
    expect(documentedVariables("Persister").sort()).toEqual(Object.keys(variables).sort());
  });

  it("reads every variable and freezes the result", () => {
    const config = loadPersisterConfig(
      {
        ...required,
        PARLEY_DB_POOL_SIZE: "8",
        PARLEY_LOG_LEVEL: "debug",
        PARLEY_KAFKA_TOPIC: "t",
        PARLEY_KAFKA_DLQ_TOPIC: "t.dlq",
        PARLEY_KAFKA_GROUP: "g",
        PARLEY_KAFKA_CLIENT_ID: "c",
        PARLEY_KAFKA_PARTITIONS: "3",
        PARLEY_KAFKA_SESSION_TIMEOUT_MS: "6000",
        PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS: "500",
        PARLEY_KAFKA_CONCURRENCY: "3",
        PARLEY_METRICS_PORT: "0",
      },
      () => {},
    );
    expect(config).toMatchObject({
      logLevel: "debug",
      metricsPort: 0,
      database: { poolSize: 8 },
      kafka: {
        topic: "t",
        deadLetterTopic: "t.dlq",
        clientId: "c",
        partitions: 3,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        partitionsConsumedConcurrently: 3,
      },
      group: "g",
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.kafka)).toBe(true);
    expect(Object.isFrozen(config.kafka.brokers)).toBe(true);
  });

  it("names every missing or invalid variable", () => {
    const invalid = () => loadPersisterConfig({ PARLEY_KAFKA_BROKERS: " , ", PARLEY_KAFKA_PARTITIONS: "0" }, () => {});
    expect(invalid).toThrow(ConfigError);
    expect(invalid).toThrow(/PARLEY_KAFKA_BROKERS: expected a comma-separated list/);
    expect(invalid).toThrow(/PARLEY_KAFKA_PARTITIONS/);
    expect(() => loadPersisterConfig({ PARLEY_KAFKA_BROKERS: "k:9092" }, () => {})).toThrow(
      /PARLEY_DATABASE_URL: required/,
    );
    expect(() => loadPersisterConfig({ PARLEY_DATABASE_URL: "x" }, () => {})).toThrow(/PARLEY_KAFKA_BROKERS: required/);
  });

  it("refuses a heartbeat interval that is not below the session timeout", () => {
    const heartbeat = {
      ...required,
      PARLEY_KAFKA_SESSION_TIMEOUT_MS: "6000",
      PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS: "6000",
    };
    expect(() => loadPersisterConfig(heartbeat, () => {})).toThrow(/PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS/);
  });

  it("warns about unknown PARLEY_ variables, but not the local scripts' port offset", () => {
    const warnings: string[] = [];
    const env = { ...required, PARLEY_KAFKA_TOPICS: "typo", PARLEY_SERVICES_PORT_OFFSET: "100", HOME: "/root" };
    loadPersisterConfig(env, (message) => warnings.push(message));
    expect(warnings).toEqual([expect.stringContaining("PARLEY_KAFKA_TOPICS")]);
  });
});

describe("loadMigrateConfig", () => {
  it("needs only the database", () => {
    expect(loadMigrateConfig({ PARLEY_DATABASE_URL: "postgres://db/parley" }, () => {})).toEqual({
      logLevel: "info",
      database: { connectionString: "postgres://db/parley", poolSize: 4 },
    });
    expect(() => loadMigrateConfig({}, () => {})).toThrow(/PARLEY_DATABASE_URL: required/);
  });
});
