/** One record to append. `key` decides the partition, so every record of a room keeps its order. */
export interface LogRecord {
  readonly key: string;
  readonly value: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A record as a consumer sees it: where it sits, so it can be committed past and dead-lettered with its origin.
 * Key and value are nullable because a consumer reads whatever is on the topic, not only what `append` wrote
 * (another producer may write a record without a key, or a tombstone without a value).
 */
export interface ConsumedRecord {
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly partition: number;
  /** Offset within the partition, as a decimal string (Kafka offsets exceed 2^53). */
  readonly offset: string;
}

/**
 * Receives one batch of records of one partition, in offset order.
 * Resolving commits the batch; throwing (or rejecting) commits nothing and the same records are delivered again.
 */
export type BatchHandler = (records: readonly ConsumedRecord[]) => Promise<void>;

/** What {@link Log.consume} needs. */
export interface ConsumeOptions {
  /** Consumer group: each record is handled by one member of the group. A new group starts at the oldest record. */
  readonly group: string;
  /** Called with each batch; see {@link BatchHandler} for what resolving and throwing mean. */
  readonly handler: BatchHandler;
  /**
   * Called when the consumer has stopped for good on an error it cannot recover from by itself (it will not
   * consume again). Transient failures never reach it: they are retried. The owner should exit so it is restarted.
   */
  readonly onFatal?: (error: unknown) => void;
  /**
   * Told which keys this member handles, whenever that changes (it joined its group, or the group rebalanced):
   * until the next call, records of a key reach this member only if `owns(key)`. @default none
   */
  readonly onAssigned?: (owns: (key: string) => boolean) => void;
}

/** A running consumer. `close()` stops fetching, waits for the batch in hand (committing it if it succeeds) and leaves the group. */
export interface Consumption {
  close(): Promise<void>;
}

/**
 * The durable message log (Kafka in production).
 *
 * Guarantees any implementation must give:
 * - `append` resolves only once the record is durable (Kafka: acks from all in-sync replicas); if it rejects, the
 *   record may or may not have been written, so callers retry and readers must be idempotent.
 * - The producer is idempotent: its own retries never write a record twice.
 * - Records with the same key are consumed in the order they were appended.
 * - Consumption is at-least-once: a batch is committed only after its handler resolves; a handler that throws gets
 *   the same records again, and a consumer that restarts resumes after the last committed batch.
 * - Within a group, a partition is handled by one member at a time, one batch at a time, so members never see
 *   each other's records unless a batch was left uncommitted (a crash or a handler that threw).
 * - `consume` resolves once the consumer is a member of its group. Each member is told the keys it handles
 *   (`onAssigned`) when it joins and after every rebalance; once the group has settled, every key is handled by
 *   exactly one member.
 * - `deadLetter` durably appends the record to a separate dead-letter topic with the reason, so one bad record
 *   never blocks its partition.
 */
export interface Log {
  append(record: LogRecord): Promise<void>;
  deadLetter(record: ConsumedRecord, reason: string): Promise<void>;
  consume(options: ConsumeOptions): Promise<Consumption>;
  /** Flushes what was appended, closes the consumers still running, then releases connections. */
  close(): Promise<void>;
}
