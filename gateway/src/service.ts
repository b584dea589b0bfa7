/**
 * The gateway's wiring: reads the environment once, picks an implementation for each seam, wires them, and owns
 * start-up and shutdown order. Two composition roots run it: the gateway service (`main.ts`, the image's command)
 * and the embedded server (`embedded/`, `npm start`), which adds the persister beside it as a {@link Companion}.
 */

import { randomBytes } from "node:crypto";
import { FsObjectStore, S3ObjectStore } from "@parley/files";
import { KafkaLog, type Log, MemoryLog } from "@parley/log";
import { MAX_FRAME_BYTES } from "@parley/protocol";
import {
  invalidConfig,
  type Logger,
  runService,
  type ServiceLifecycle,
  serveMetrics,
  startTracing,
  unknownKind,
} from "@parley/runtime";
import { createPgliteStore, createPostgresStore, type Store } from "@parley/store";
import type { Registry } from "prom-client";
import type { Authenticator } from "./auth/auth.js";
import { DevAuthenticator } from "./auth/dev-auth.js";
import { JwtAuthenticator } from "./auth/jwt-auth.js";
import type { Bus, BusOptions } from "./bus/bus.js";
import { MemoryBus } from "./bus/memory-bus.js";
import { RedisBus } from "./bus/redis-bus.js";
import {
  type AuthConfig,
  type BusConfig,
  type FilesConfig,
  type GatewayConfig,
  type LogConfig,
  loadGatewayConfig,
  type StoreConfig,
} from "./config.js";
import { type FileSharing, FileSweeper, OBJECTS_PATH } from "./files.js";
import { Gateway } from "./gateway.js";
import { instrumentAppend, instrumentBus } from "./instrumented.js";
import { createGatewayMetrics } from "./metrics.js";
import { createTransport, loadedUwsBinary } from "./server.js";
import { loadStaticFiles } from "./static-files.js";

async function createBus(config: BusConfig, options: BusOptions, logger: Logger): Promise<Bus> {
  switch (config.kind) {
    case "memory":
      return new MemoryBus(options);
    case "redis": {
      const bus = new RedisBus({
        ...options,
        target: config.target,
        prefix: config.prefix,
        reseedMargin: config.reseedMargin,
        onInvalidPayload: (payload) => logger.error({ bytes: payload.length }, "undecodable payload on the bus"),
        onSubscriberStalled: () => logger.warn("the Redis subscriber missed its probe; reconnecting it"),
      });
      await bus.connect();
      return bus;
    }
    default:
      return unknownKind(config, "bus kind");
  }
}

async function createLog(config: LogConfig): Promise<Log> {
  switch (config.kind) {
    case "memory":
      return new MemoryLog();
    case "kafka": {
      const log = new KafkaLog(config);
      await log.ensureTopics();
      return log;
    }
    default:
      return unknownKind(config, "log kind");
  }
}

async function createStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case "pglite":
      return createPgliteStore({ dataDir: config.dataDir });
    case "postgres":
      return createPostgresStore(config);
    default:
      return unknownKind(config, "store kind");
  }
}

/** How often each gateway looks for files to delete. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

/**
 * The object store the config names. The filesystem store signs its URLs with `PARLEY_FILES_SECRET`, or with a key of
 * this process when none is set: enough for one process (`npm start`), whose URLs then last until it restarts.
 */
function createFileSharing(config: FilesConfig, store: Store): FileSharing | undefined {
  switch (config.kind) {
    case "off":
      return undefined;
    case "fs": {
      const secret = config.secret ?? randomBytes(32).toString("base64url");
      const served = new FsObjectStore({ dir: config.dir, basePath: OBJECTS_PATH, secret });
      return { objects: served, served, store, limits: config.limits };
    }
    case "s3": {
      const { limits, ...s3 } = config;
      return { objects: new S3ObjectStore(s3), store, limits };
    }
    default:
      return unknownKind(config, "files kind");
  }
}

function createAuthenticator(config: AuthConfig): Authenticator {
  switch (config.kind) {
    case "dev":
      return new DevAuthenticator();
    case "jwt":
      return new JwtAuthenticator(config);
    default:
      return unknownKind(config, "auth kind");
  }
}

/** What a component running in the gateway's process is handed: the seams it may share, and the metrics registry. */
export interface GatewayParts {
  readonly config: GatewayConfig;
  readonly log: Log;
  readonly store: Store;
  readonly bus: Bus;
  readonly registry: Registry;
  readonly logger: Logger;
}

/** A component started beside the gateway (the embedded persister); closed once clients are gone, before the Log. */
export interface Companion {
  close(): Promise<void>;
}

export interface GatewayBootOptions {
  /**
   * Starts a component in this process once the seams exist, before the gateway listens; it may decline
   * (`undefined`). Without one, the in-memory Log is refused: nothing would ever consume it.
   */
  readonly companion?: (parts: GatewayParts) => Promise<Companion | undefined>;
}

async function start(
  config: GatewayConfig,
  logger: Logger,
  lifecycle: ServiceLifecycle,
  options: GatewayBootOptions,
): Promise<void> {
  const tracing = await startTracing(SERVICE, config.tracing);
  const metrics = createGatewayMetrics();
  const store = await createStore(config.store);
  // PostgreSQL is migrated by its own command (a Job in Kubernetes); the embedded PGlite store by whoever opens it.
  if (config.store.kind === "pglite") await store.migrate();
  const rawBus = await createBus(
    config.bus,
    {
      // Events only arrive after the first join, when `gateway` below exists.
      listener: (event) => gateway.deliver(event),
      recentLimit: config.recentLimit,
      dedupeTtlSeconds: config.dedupeTtlSeconds,
      presenceListLimit: config.presenceListLimit,
      presenceTtlSeconds: config.presenceTtlSeconds,
      seed: (room) => store.latest(room),
    },
    logger,
  );
  const bus = instrumentBus(rawBus, metrics, config.bus.kind);
  const log = await createLog(config.log);
  const companion = await options.companion?.({ config, log, store, bus, registry: metrics.registry, logger });
  const files = createFileSharing(config.files, store);
  const staticFiles =
    config.webDir === undefined
      ? undefined
      : await loadStaticFiles(config.webDir, { fileOrigin: await files?.objects.origin() });
  const sweeper = files === undefined ? undefined : new FileSweeper(files, logger);
  sweeper?.start(SWEEP_INTERVAL_MS);
  const transport = createTransport({
    host: config.host,
    port: config.port,
    wsPath: "/ws",
    maxFrameBytes: MAX_FRAME_BYTES,
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    // A frame the room's fan-out would queue beyond it is dropped and the client closed as a slow consumer; the
    // margin above the gateway's own check lets the frame that crosses it through.
    maxBackpressureBytes: config.limits.slowConsumerBytes + 2 * MAX_FRAME_BYTES,
  });
  const gateway = new Gateway({
    auth: createAuthenticator(config.auth),
    bus,
    log: instrumentAppend(log, metrics, config.log.kind),
    store,
    limits: config.limits,
    maxHistoryLimit: config.maxHistoryLimit,
    metrics,
    logger,
    topics: transport.topics,
    ...(files === undefined ? {} : { files }),
    ...(staticFiles ? { fallback: staticFiles } : {}),
  });
  const server = await transport.listen((request) => gateway.http(request), gateway);
  metrics.watch(gateway);
  const metricsServer = await serveMetrics(metrics.registry, config.host, config.metricsPort);
  logger.info(
    {
      port: server.port,
      metricsPort: metricsServer.port,
      bus: config.bus.kind,
      log: config.log.kind,
      store: config.store.kind,
      files: config.files.kind,
      node: process.version,
      uws: loadedUwsBinary(),
    },
    `Parley gateway listening on http://localhost:${server.port}`,
  );
  // The one line for a person at a terminal (`npm start`); the JSON line above is for log collectors.
  if (staticFiles) {
    const wildcard = config.host === "0.0.0.0" || config.host === "::";
    const host = wildcard ? "localhost" : config.host.includes(":") ? `[${config.host}]` : config.host;
    process.stdout.write(
      `\nParley is running: open http://${host}:${server.port} to chat; ` +
        `metrics at http://${host}:${metricsServer.port}/metrics. Ctrl+C stops it.\n\n`,
    );
  }

  lifecycle.onStop(async () => {
    logger.info({ connections: gateway.connections }, "draining");
    // Order: refuse upgrades and fail readiness, close clients in batches, stop listening, then flush the Log
    // (every ack already sent is durable; in-flight sends finish before close), and release the rest.
    await gateway.drain(config.drain);
    server.stopListening();
    await companion?.close();
    await sweeper?.stop();
    await files?.objects.close();
    await log.close();
    await bus.close();
    await store.close();
    await metricsServer.close();
    await tracing.shutdown();
  });
}

const SERVICE = "parley-gateway";

/** Runs the gateway until SIGTERM or SIGINT (see `runService`); exits the process if it cannot start. */
export function bootGateway(options: GatewayBootOptions = {}): Promise<void> {
  return runService({
    name: SERVICE,
    loadConfig: (env, warn) => {
      const config = loadGatewayConfig(env, warn);
      if (config.log.kind === "memory" && options.companion === undefined) {
        throw invalidConfig(
          "PARLEY_LOG",
          "memory is only for the embedded server (npm start), which consumes it in-process; the gateway service needs kafka",
        );
      }
      return config;
    },
    start: (config, logger, lifecycle) => start(config, logger, lifecycle, options),
  });
}
