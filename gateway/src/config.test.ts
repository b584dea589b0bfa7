import { ConfigError } from "@parley/runtime";
import { documentedVariables } from "@parley/testkit/readme";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig, variables } from "./config.js";

function load(env: Record<string, string>) {
  const warnings: string[] = [];
  const config = loadGatewayConfig(env, (message) => warnings.push(message));
  return { config, warnings };
}

describe("gateway configuration", () => {
  it("defaults to the embedded single-process setup", () => {
    const { config, warnings } = load({});
    expect(config).toMatchObject({
      port: 8080,
      bus: { kind: "memory" },
      log: { kind: "memory" },
      store: { kind: "pglite", dataDir: ".parley/data" },
      auth: { kind: "dev" },
      tracing: { kind: "off" },
    });
    expect(warnings).toEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("builds the distributed setup", () => {
    const { config } = load({
      PARLEY_BUS: "redis",
      PARLEY_REDIS_URL: "redis://r:6379",
      PARLEY_LOG: "kafka",
      PARLEY_KAFKA_BROKERS: "k1:9092, k2:9092",
      PARLEY_STORE: "postgres",
      PARLEY_DATABASE_URL: "postgres://p/db",
      PARLEY_AUTH: "jwt",
      PARLEY_JWT_JWKS_URL: "https://idp/jwks.json",
      PARLEY_JWT_ISSUER: "idp",
    });
    expect(config.bus).toEqual({
      kind: "redis",
      target: { urls: ["redis://r:6379"], cluster: false },
      prefix: "parley",
      reseedMargin: 10_000,
    });
    expect(config.log).toMatchObject({ kind: "kafka", brokers: ["k1:9092", "k2:9092"], topic: "parley.messages" });
    expect(config.auth).toEqual({
      kind: "jwt",
      keys: { jwksUrl: "https://idp/jwks.json" },
      issuer: "idp",
      userClaim: "sub",
      rolesClaim: "roles",
    });
  });

  it("takes the seed nodes of a Redis Cluster as a comma-separated PARLEY_REDIS_URL", () => {
    const { config } = load({
      PARLEY_BUS: "redis",
      PARLEY_REDIS_URL: "redis://a:6379, redis://b:6379,",
      PARLEY_REDIS_CLUSTER: "true",
    });
    expect(config.bus).toMatchObject({ target: { urls: ["redis://a:6379", "redis://b:6379"], cluster: true } });
  });

  it.each([
    [{ PARLEY_PORT: "eighty" }, "PARLEY_PORT"],
    [{ PARLEY_PORT: "70000" }, "PARLEY_PORT"],
    [{ PARLEY_BUS: "zeromq" }, "PARLEY_BUS"],
    [{ PARLEY_BUS: "redis" }, "PARLEY_REDIS_URL"],
    [{ PARLEY_BUS: "redis", PARLEY_REDIS_URL: "redis://a:6379,redis://b:6379" }, "PARLEY_REDIS_URL"],
    [{ PARLEY_BUS: "redis", PARLEY_REDIS_URL: "a:6379,b:6379", PARLEY_REDIS_CLUSTER: "true" }, "PARLEY_REDIS_URL"],
    [{ PARLEY_BUS: "redis", PARLEY_REDIS_URL: "redis://a:6379", PARLEY_REDIS_CLUSTER: "yes" }, "PARLEY_REDIS_CLUSTER"],
    [{ PARLEY_LOG: "kafka" }, "PARLEY_KAFKA_BROKERS"],
    [{ PARLEY_STORE: "postgres" }, "PARLEY_DATABASE_URL"],
    [{ PARLEY_AUTH: "jwt" }, "PARLEY_JWT_SECRET"],
    [{ PARLEY_AUTH: "jwt", PARLEY_JWT_SECRET: "s", PARLEY_JWT_JWKS_URL: "u" }, "PARLEY_JWT_JWKS_URL"],
    [{ PARLEY_OTEL_ENDPOINT: "otel:4318" }, "PARLEY_OTEL_ENDPOINT"],
    [{ PARLEY_OTEL_ENDPOINT: "http://otel:4318", PARLEY_OTEL_SAMPLE_RATIO: "1.5" }, "PARLEY_OTEL_SAMPLE_RATIO"],
  ])("rejects %j naming %s", (env, variable) => {
    expect(() => load(env)).toThrow(ConfigError);
    expect(() => load(env)).toThrow(variable);
  });

  it("traces to an OTLP collector only when PARLEY_OTEL_ENDPOINT is set, sampling every trace by default", () => {
    expect(load({ PARLEY_OTEL_ENDPOINT: "https://otel.example:4318/" }).config.tracing).toEqual({
      kind: "otlp",
      endpoint: "https://otel.example:4318/",
      sampleRatio: 1,
    });
    expect(load({ PARLEY_OTEL_SAMPLE_RATIO: "0.1" }).config.tracing).toEqual({ kind: "off" });
  });

  it("has every variable in the README's table", () => {
    expect(documentedVariables("Gateway").sort()).toEqual(Object.keys(variables).sort());
  });

  it("warns about unknown PARLEY_ variables and ignores others, and the local scripts' port offset", () => {
    const { warnings } = load({ PARLEY_PROT: "1", PARLEY_SERVICES_PORT_OFFSET: "100", HOME: "/root" });
    expect(warnings).toEqual(["unknown configuration variable PARLEY_PROT is ignored"]);
  });
});
