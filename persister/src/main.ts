/**
 * The persister's composition root: reads the environment once, wires the Kafka log, the PostgreSQL store and the
 * persister, serves metrics and readiness, and owns start-up and shutdown order. Migrations are not run here:
 * `npm run migrate` (a Job in Kubernetes) applies them; until then inserts fail and are retried.
 */

import { KafkaLog } from "@parley/log";
import { type Logger, runService, type ServiceLifecycle, serveMetrics, startTracing } from "@parley/runtime";
import { createPostgresStore } from "@parley/store";
import { loadPersisterConfig, type PersisterConfig } from "./config.js";
import { createPersisterMetrics } from "./metrics.js";
import { createPersistence } from "./persistence.js";
import { RedisFeed } from "./redis-feed.js";

const SERVICE = "parley-persister";
/** Metrics are scraped from outside the pod. */
const METRICS_HOST = "0.0.0.0";

async function start(config: PersisterConfig, logger: Logger, lifecycle: ServiceLifecycle): Promise<void> {
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
    onFatal: (error) => lifecycle.fail("consumer stopped", error),
  });

  lifecycle.onStop(async () => {
    phase = "stopping";
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
  });

  await persister.start();
  // A signal or a fatal consumer error during start-up has begun the shutdown already: stay not ready.
  if (phase === "starting") phase = "consuming";
  logger.info(
    { group: config.group, topic: config.kafka.topic, metricsPort: metricsServer.port },
    "persister consuming",
  );
}

await runService({ name: SERVICE, loadConfig: loadPersisterConfig, start });
