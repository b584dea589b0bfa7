/**
 * The persister's composition root: reads the environment once, wires the Kafka log, the PostgreSQL store and the
 * persister, serves metrics and readiness, and owns start-up and shutdown order. Migrations are not run here:
 * `npm run migrate` (a Job in Kubernetes) applies them; until then inserts fail and are retried.
 */

import { KafkaLog } from "@parley/log";
import { createLogger, type Logger, serveMetrics, startTracing } from "@parley/runtime";
import { createPostgresStore } from "@parley/store";
import { loadPersisterConfig, type PersisterConfig } from "./config.js";
import { createPersisterMetrics } from "./metrics.js";
import { createPersistence } from "./persistence.js";
import { RedisFeed } from "./redis-feed.js";

const SERVICE = "parley-persister";
/** Metrics are scraped from outside the pod. */
const METRICS_HOST = "0.0.0.0";
/** Exit anyway if shutdown hangs, within Kubernetes' default 30 s grace period. */
const SHUTDOWN_TIMEOUT_MS = 25_000;

async function start(config: PersisterConfig, logger: Logger): Promise<void> {
  const tracing = await startTracing(SERVICE, config.tracing);
  const metrics = createPersisterMetrics();
  // Ready (`/readyz` 200 on the metrics port) only while consuming: not before `persister.start()` has joined the
  // group, and no longer once shutdown has begun.
  let phase: "starting" | "consuming" | "stopping" = "starting";
  const metricsServer = await serveMetrics(metrics.registry, METRICS_HOST, config.metricsPort, {
    ready: () => phase === "consuming",
  });
  const store = createPostgresStore({ ...config.database, logger });
  const log = new KafkaLog({
    ...config.kafka,
    logger,
    onConsumerLag: (partition, lag) => metrics.consumerLag.set({ partition: String(partition) }, lag),
  });
  await log.ensureTopics();
  const feed = config.redis === undefined ? undefined : new RedisFeed(config.redis);
  const { persister, watermarks } = createPersistence({
    log,
    store,
    group: config.group,
    logger,
    metrics,
    ...(feed === undefined ? {} : { feed }),
    gapTimeoutMs: config.gapTimeoutMs,
    onFatal: (error) => void shutdown("consumer stopped", error),
  });

  async function shutdown(reason: string, error?: unknown): Promise<void> {
    if (phase === "stopping") return;
    phase = "stopping";
    if (error === undefined) logger.info({ reason }, "stopping");
    else logger.fatal({ reason, err: error }, "stopping");
    setTimeout(() => {
      logger.error("shutdown timed out");
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    try {
      // Order: stop consuming (the batch in hand finishes and commits, or is abandoned uncommitted if it is waiting
      // out an outage), flush dead letters, finish watermark work, then release Redis, the database and the metrics
      // port.
      await persister.close();
      await log.close();
      await watermarks.close();
      await feed?.close();
      await store.close();
      await metricsServer.close();
      await tracing.shutdown();
      logger.info("stopped");
      process.exit(error === undefined ? 0 : 1);
    } catch (closeError) {
      logger.error({ err: closeError }, "shutdown failed");
      process.exit(1);
    }
  }
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  await persister.start();
  // A signal or a fatal consumer error during start-up has begun the shutdown already: stay not ready.
  if (phase === "starting") phase = "consuming";
  logger.info(
    { group: config.group, topic: config.kafka.topic, metricsPort: metricsServer.port },
    "persister consuming",
  );
}

const bootLogger = createLogger(SERVICE, "info");
try {
  const config = loadPersisterConfig(process.env, (message) => bootLogger.warn(message));
  await start(config, createLogger(SERVICE, config.logLevel));
} catch (error) {
  bootLogger.fatal({ err: error }, "failed to start");
  process.exit(1);
}
