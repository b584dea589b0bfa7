import { createLogger } from "@parley/runtime";
import { serviceEnv, uniqueName } from "@parley/testkit";
import { KafkaLog, type KafkaLogOptions } from "./index.js";

/**
 * Group timings for tests: the broker's minimum session timeout, and heartbeats frequent enough that a rebalance
 * (a second member joining, a member leaving) completes in about a second.
 */
const TEST_GROUP_TIMINGS = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 10_000 };

/** Options for a KafkaLog on the local broker; by default on fresh topic names of its own. */
export function kafkaLogOptions(overrides: Partial<KafkaLogOptions> = {}): KafkaLogOptions {
  const topic = overrides.topic ?? uniqueName("parley-test");
  return {
    brokers: serviceEnv().kafkaBrokers,
    clientId: uniqueName("persister-test"),
    topic,
    deadLetterTopic: `${topic}.dlq`,
    partitions: 4,
    logger: createLogger("kafka-test", "silent"),
    ...TEST_GROUP_TIMINGS,
    ...overrides,
  };
}

/** A KafkaLog whose topics exist. */
export async function testKafkaLog(overrides: Partial<KafkaLogOptions> = {}): Promise<KafkaLog> {
  const log = new KafkaLog(kafkaLogOptions(overrides));
  await log.ensureTopics();
  return log;
}
