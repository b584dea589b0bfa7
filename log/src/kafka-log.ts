import { ParleyError, retry } from "@parley/protocol";
import { type Logger, MicroBatcher } from "@parley/runtime";
import {
  type EachBatchPayload,
  Kafka,
  type KafkaMessage,
  type logCreator,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
} from "kafkajs";
import type { ConsumedRecord, ConsumeOptions, Consumption, Log, LogRecord } from "./log.js";

/** What a {@link KafkaLog} needs; the consumer timings matter only to processes that consume. */
export interface KafkaLogOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  /** Names this process to the brokers (logs, quotas). */
  readonly clientId: string;
  /** The topic records are appended to and consumed from. */
  readonly topic: string;
  /** Where `deadLetter` writes records the consumer could not handle. */
  readonly deadLetterTopic: string;
  /** Partitions of the topics {@link KafkaLog.ensureTopics} creates (existing topics are left as they are). @default 12 */
  readonly partitions?: number;
  /** Receives the Kafka client's own logs. @default none: they are dropped */
  readonly logger?: Logger;
  /** A consumer that sends no heartbeat for this long is dropped from its group and its partitions reassigned. @default 30000 */
  readonly sessionTimeoutMs?: number;
  /** How often a consumer heartbeats, also while a long batch is being handled; well below the session timeout. @default 3000 */
  readonly heartbeatIntervalMs?: number;
  /** How long the group waits for its members to rejoin during a rebalance. @default 60000 */
  readonly rebalanceTimeoutMs?: number;
  /** Partitions whose batches are handled at the same time by one consumer. @default 1 */
  readonly partitionsConsumedConcurrently?: number;
  /**
   * Told a partition's consumer lag (records between the consumer's position and the partition's end, as of the
   * latest fetch): when a batch arrives (before it is handled) and after it is committed. @default none
   */
  readonly onConsumerLag?: (partition: number, lag: number) => void;
}

/** Headers a dead letter carries besides the original record's own. */
export const DEAD_LETTER_HEADERS = {
  reason: "parley-dead-letter-reason",
  topic: "parley-dead-letter-topic",
  partition: "parley-dead-letter-partition",
  offset: "parley-dead-letter-offset",
} as const;

const DEFAULT_PARTITIONS = 12;
const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000;
const DEFAULT_REBALANCE_TIMEOUT_MS = 60_000;
/** Wait for all in-sync replicas: an acknowledged record survives the loss of the leader. */
const ACKS_ALL = -1;
/** Records and bytes in one produce request; bytes stay under the broker's default 1 MiB batch limit. */
const MAX_SEND_RECORDS = 1_000;
const MAX_SEND_BYTES = 512 * 1024;
/**
 * How long an append waits for others to share its produce request, as Kafka 4's own producer does (`linger.ms`):
 * each request costs the gateway a fixed amount of CPU (request encoding, a CRC, a socket write, its response)
 * however few records it holds, which under load was a sixth of a gateway's busy time.
 */
const LINGER_MS = 5;
/**
 * A fetch returns once FETCH_MIN_BYTES are there or after FETCH_MAX_WAIT_MS. At moderate rates records so reach the
 * handler in batches of up to 100 ms rather than a few at a time, each batch costing a database transaction and an
 * offset commit; and an idle fetch returns soon enough for a consumer to notice `close()` and rebalance quickly.
 */
const FETCH_MIN_BYTES = 1024 * 1024;
const FETCH_MAX_WAIT_MS = 100;
/**
 * How the consumer retries a batch whose handler threw (and its own failed requests): redelivery backs off from
 * `initialRetryTime` to `maxRetryTime` (at most a third of the session timeout, so the heartbeat sent with each
 * failure keeps the membership); after `retries` failures in a row kafkajs restarts the consumer, which rejoins
 * the group and resumes from the committed offsets.
 */
const CONSUMER_RETRY = { initialRetryTime: 250, maxRetryTime: 5_000, retries: 8 } as const;

interface Outgoing {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The Log on Apache Kafka (kafkajs): an idempotent producer writing with acks from all in-sync replicas, appends
 * from concurrent callers coalesced into one produce request while another is in flight, and consumer groups that
 * commit a batch's offsets only after its handler resolved.
 */
export class KafkaLog implements Log {
  readonly #kafka: Kafka;
  readonly #options: KafkaLogOptions;
  readonly #batcher: MicroBatcher<Outgoing>;
  readonly #consumptions = new Set<Consumption>();
  #producer: Promise<Producer> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: KafkaLogOptions) {
    this.#options = options;
    this.#kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      logLevel: logLevel.INFO,
      logCreator: kafkaLogCreator(options.logger),
    });
    this.#batcher = new MicroBatcher({
      maxItems: MAX_SEND_RECORDS,
      maxBytes: MAX_SEND_BYTES,
      lingerMs: LINGER_MS,
      sizeOf,
      send: (items) => this.#send(items),
    });
  }

  /** Creates the topic and the dead-letter topic unless they exist; safe to call from several processes at once. */
  async ensureTopics(): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const numPartitions = this.#options.partitions ?? DEFAULT_PARTITIONS;
      // One topic per call: kafkajs reports "already exists" as success only when every topic of the call exists.
      for (const topic of [this.#options.topic, this.#options.deadLetterTopic]) {
        await whileSettling(() => admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true }));
      }
    } finally {
      await admin.disconnect();
    }
  }

  append({ key, value, headers = {} }: LogRecord): Promise<void> {
    return this.#produce({ topic: this.#options.topic, key, value, headers });
  }

  deadLetter(record: ConsumedRecord, reason: string): Promise<void> {
    return this.#produce({
      topic: this.#options.deadLetterTopic,
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        [DEAD_LETTER_HEADERS.reason]: reason,
        [DEAD_LETTER_HEADERS.topic]: this.#options.topic,
        [DEAD_LETTER_HEADERS.partition]: String(record.partition),
        [DEAD_LETTER_HEADERS.offset]: record.offset,
      },
    });
  }

  async consume({ group, handler, onFatal, onAssigned }: ConsumeOptions): Promise<Consumption> {
    if (this.#closed) throw closedError();
    const heartbeatIntervalMs = this.#options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    const sessionTimeout = this.#options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    const consumer = this.#kafka.consumer({
      groupId: group,
      sessionTimeout,
      rebalanceTimeout: this.#options.rebalanceTimeoutMs ?? DEFAULT_REBALANCE_TIMEOUT_MS,
      heartbeatInterval: heartbeatIntervalMs,
      minBytes: FETCH_MIN_BYTES,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      allowAutoTopicCreation: false,
      retry: { ...CONSUMER_RETRY, maxRetryTime: Math.min(CONSUMER_RETRY.maxRetryTime, Math.floor(sessionTimeout / 3)) },
    });
    let running = false;
    const topic = this.#options.topic;
    const owner = onAssigned === undefined ? undefined : await this.#keyOwner(topic);
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        if (owner) onAssigned?.(owner(new Set(payload.memberAssignment[topic] ?? [])));
        resolve();
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart) return;
        if (running) onFatal?.(payload.error);
        else reject(payload.error);
      });
    });
    try {
      await consumer.connect();
      await whileSettling(() => consumer.subscribe({ topics: [topic], fromBeginning: true }));
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.#options.partitionsConsumedConcurrently ?? 1,
        eachBatch: async (payload) => {
          const { onConsumerLag } = this.#options;
          onConsumerLag?.(payload.batch.partition, Number(payload.batch.offsetLagLow()));
          await handleBatch(payload, handler, heartbeatIntervalMs, this.#options.logger);
          onConsumerLag?.(payload.batch.partition, Number(payload.batch.offsetLag()));
        },
      });
      await joined;
      running = true;
    } catch (error) {
      await consumer.disconnect();
      throw error;
    }
    const consumption = closeOnce(async () => {
      this.#consumptions.delete(consumption);
      await consumer.disconnect();
    });
    this.#consumptions.add(consumption);
    return consumption;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Consumers first: the batches they are finishing may still dead-letter records.
      await Promise.all([...this.#consumptions].map((consumption) => consumption.close()));
      this.#closed = true;
      await this.#batcher.flush();
      const producer = await this.#producer?.catch(() => undefined);
      await producer?.disconnect();
    })();
    return this.#closing;
  }

  /**
   * For the topic's partitions as they are now: given a member's partitions, whether a key is in one of them, by the
   * producer's own partitioner (the same murmur2 hash as Kafka's Java clients).
   */
  async #keyOwner(topic: string): Promise<(partitions: ReadonlySet<number>) => (key: string) => boolean> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitionMetadata = topics[0]?.partitions ?? [];
      const partitioner = Partitioners.DefaultPartitioner();
      return (partitions) => (key) =>
        partitions.has(partitioner({ topic, partitionMetadata, message: { key, value: null } }));
    } finally {
      await admin.disconnect();
    }
  }

  #produce(outgoing: Outgoing): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#batcher.add(outgoing);
  }

  async #send(items: Outgoing[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const { topic, key, value, headers } of items) {
      const messages = byTopic.get(topic) ?? [];
      messages.push({ key, value, headers: { ...headers } });
      byTopic.set(topic, messages);
    }
    const producer = await this.#connectedProducer();
    await producer.sendBatch({
      acks: ACKS_ALL,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }

  /** Connects the producer on first use; a failed connect is retried by the next send. */
  #connectedProducer(): Promise<Producer> {
    if (this.#producer === undefined) {
      const connecting = (async () => {
        const producer = this.#kafka.producer({
          idempotent: true,
          // One request in flight keeps the idempotent producer's sequence numbers, and so each key's order, intact.
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          createPartitioner: Partitioners.DefaultPartitioner,
        });
        await producer.connect();
        return producer;
      })();
      connecting.catch(() => {
        if (this.#producer === connecting) this.#producer = undefined;
      });
      this.#producer = connecting;
    }
    return this.#producer;
  }
}

/**
 * Runs the handler on one fetched batch and commits it only if the handler resolved. Heartbeats continue while the
 * handler runs, so a slow batch (a database outage the handler waits out) does not cost the partitions.
 */
async function handleBatch(
  { batch, heartbeat, resolveOffset, commitOffsetsIfNecessary }: EachBatchPayload,
  handler: ConsumeOptions["handler"],
  heartbeatIntervalMs: number,
  logger: Logger | undefined,
): Promise<void> {
  const records = batch.messages.map((message) => toConsumedRecord(batch.partition, message));
  const beat = setInterval(() => {
    // A failed heartbeat (a rebalance began) needs no action here: the commit below then fails, and the batch is
    // delivered again to whoever owns the partition next.
    heartbeat().catch((error: unknown) => logger?.debug({ err: error }, "heartbeat during a batch failed"));
  }, heartbeatIntervalMs);
  try {
    await handler(records);
  } catch (error) {
    // kafkajs heartbeats only after a batch succeeds: without this, a run of failures would cost the membership.
    await heartbeat().catch(() => {});
    throw new HandlerError(error);
  } finally {
    clearInterval(beat);
  }
  const last = batch.lastOffset();
  const next = (BigInt(last) + 1n).toString();
  await commitOffsetsIfNecessary({
    topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
  });
  resolveOffset(last);
}

/**
 * A handler's failure, marked retriable for kafkajs: it then refetches the batch after a backoff instead of
 * treating e.g. a TypeError from the handler as fatal and stopping the consumer for good.
 */
class HandlerError extends Error {
  override readonly name = "LogHandlerError";
  readonly retriable = true;
  constructor(cause: unknown) {
    super(`batch handler failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Converts what kafkajs read into the Log's record; headers repeated under one name keep their last value. */
export function toConsumedRecord(partition: number, message: KafkaMessage): ConsumedRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last !== undefined) headers[name] = last.toString();
  }
  return { key: message.key?.toString() ?? null, value: message.value, headers, partition, offset: message.offset };
}

function sizeOf({ key, value, headers }: Outgoing): number {
  let size = (key === null ? 0 : Buffer.byteLength(key)) + (value?.length ?? 0);
  for (const [name, header] of Object.entries(headers)) size += Buffer.byteLength(name) + Buffer.byteLength(header);
  return size;
}

function closedError(): ParleyError {
  return new ParleyError("the log is closed", { retriable: false });
}

function closeOnce(close: () => Promise<void>): Consumption {
  let closing: Promise<void> | undefined;
  return { close: () => (closing ??= close()) };
}

/**
 * Sends kafkajs's logs to the service's logger. kafkajs recovers by itself from what it reports as errors (a broker
 * answer during a rebalance, a batch to redeliver), and what it cannot recover from reaches our code as a rejected
 * append or a crashed consumer, so its errors are warnings here and its routine chatter is debug.
 */
function kafkaLogCreator(logger: Logger | undefined): logCreator {
  return () =>
    ({ namespace, level, log: { message, ...extra } }) => {
      if (logger === undefined) return;
      const fields = { component: "kafkajs", namespace, ...extra };
      if (level === logLevel.ERROR || level === logLevel.WARN) logger.warn(fields, message);
      else logger.debug(fields, message);
    };
}

/**
 * Runs `operation`, again for a while as long as it fails with errors kafkajs marks retriable. A broker that has just
 * started, or a topic just created (by this process or another), answers metadata requests with "This server does
 * not host this topic-partition" for a moment; without this a service starting next to a fresh broker exits.
 */
function whileSettling<T>(operation: () => Promise<T>): Promise<T> {
  return retry(
    () =>
      operation().catch((error: unknown) => {
        if ((error as { retriable?: unknown }).retriable === true) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new ParleyError(`kafka refused the request: ${reason}`, { retriable: false, cause: error });
      }),
    { attempts: 10, initialMs: 200, maxMs: 3_000 },
  );
}
