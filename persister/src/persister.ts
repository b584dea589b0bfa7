import type { ConsumedRecord, Consumption, Log } from "@parley/log";
import { type BackoffOptions, decodeEnvelope, isRetriable, type RoomEvent, retry } from "@parley/protocol";
import { contextFromHeaders, type Logger, type Span, SpanKind, SpanStatusCode, tracer } from "@parley/runtime";
import type { Store } from "@parley/store";

/** The counter of a metrics library the persister needs (prom-client's `Counter` fits). */
export interface Counter {
  inc(value?: number): void;
}

/** A histogram of a metrics library (prom-client's `Histogram` fits). */
export interface Observer {
  observe(value: number): void;
}

const TRACER = tracer("parley-persister");

/** What the persister counts; `createPersisterMetrics` provides them as Prometheus metrics. */
export interface PersisterMetrics {
  /** Records handed over by the log, redeliveries included. */
  readonly recordsConsumed: Counter;
  /** Messages newly stored (replays not counted). */
  readonly rowsInserted: Counter;
  /** Records sent to the dead-letter topic. */
  readonly deadLettered: Counter;
  /** Failed store or dead-letter attempts that were retried. */
  readonly retries: Counter;
  /** Records per batch handed over by the log. */
  readonly batchSize?: Observer;
  /** Seconds per store insert call (a batch, or one message when a batch was refused), retries excluded. */
  readonly insertDuration?: Observer;
}

/** Per room, the seqs of a batch now committed in the store. */
export type PersistedBatch = ReadonlyMap<string, readonly number[]>;

/** What a {@link Persister} needs. */
export interface PersisterOptions {
  /** Where records come from, and where undecodable ones are dead-lettered. */
  readonly log: Log;
  /** Where messages go. */
  readonly store: Pick<Store, "insert">;
  /** Consumer group; every persister instance of a deployment uses the same one so they share the partitions. */
  readonly group: string;
  readonly logger: Logger;
  /** @default none: nothing is counted */
  readonly metrics?: PersisterMetrics;
  /** Backoff between attempts when the store or the dead-letter topic fails. @default 100 ms doubling to 5 s */
  readonly retryBackoff?: BackoffOptions;
  /**
   * Called after a batch's rows are committed in the store, with the seqs per room in that batch (before the log
   * offsets are committed, so a crash right after means the batch is inserted again, harmlessly). Not a gap-free
   * watermark: appends of one room from several gateways can reach the log out of seq order; the
   * `WatermarkTracker` turns these into one.
   */
  readonly onPersisted?: (batch: PersistedBatch) => void;
  /** The consumer stopped for good (see `ConsumeOptions.onFatal`); the owner should exit so it is restarted. */
  readonly onFatal?: (error: unknown) => void;
  /** The rooms this persister handles changed (see `ConsumeOptions.onAssigned`; records are keyed by room). */
  readonly onAssigned?: (owns: (room: string) => boolean) => void;
}

interface Decoded {
  readonly record: ConsumedRecord;
  readonly event: RoomEvent;
}

/**
 * Consumes the log into the store. Per batch: records that do not decode are dead-lettered with the reason; the
 * rest are inserted in one idempotent call. A failing store (an outage) is retried with backoff for as long as it
 * takes, never skipped and never committed past; only closing interrupts that, and then the batch stays uncommitted
 * and is delivered again. Events the store refuses outright (data it can never hold) are dead-lettered one by one.
 */
export class Persister {
  readonly #options: PersisterOptions;
  /** Aborted by `close()`: stops retrying, so a batch waiting out an outage ends (uncommitted) and close can finish. */
  readonly #closing = new AbortController();
  #consumption: Consumption | undefined;

  constructor(options: PersisterOptions) {
    this.#options = options;
  }

  /** Joins the consumer group; batches flow from then on. */
  async start(): Promise<void> {
    const { log, group, onFatal, onAssigned } = this.#options;
    this.#consumption = await log.consume({
      group,
      handler: (records) => this.#handle(records),
      ...(onFatal === undefined ? {} : { onFatal }),
      ...(onAssigned === undefined ? {} : { onAssigned }),
    });
  }

  /** Stops consuming: a batch still being retried is abandoned uncommitted; a batch that succeeds is committed. */
  async close(): Promise<void> {
    this.#closing.abort(new Error("the persister is closing"));
    await this.#consumption?.close();
  }

  async #handle(records: readonly ConsumedRecord[]): Promise<void> {
    const { metrics, logger } = this.#options;
    metrics?.recordsConsumed.inc(records.length);
    metrics?.batchSize?.observe(records.length);
    const decoded: Decoded[] = [];
    const rejected: Promise<void>[] = [];
    for (const record of records) {
      const result = decodeEnvelope(record.value);
      if (result.ok) decoded.push({ record, event: result.event });
      else rejected.push(this.#deadLetter(record, result.reason));
    }
    await Promise.all(rejected);
    if (decoded.length === 0) return;
    const spans = this.#traceRecords(decoded);
    let result: { inserted: number; stored: readonly RoomEvent[] };
    try {
      result = await this.#insert(decoded);
    } catch (error) {
      for (const span of spans) span.setStatus({ code: SpanStatusCode.ERROR, message: "the batch was not stored" });
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
    const { inserted, stored } = result;
    metrics?.rowsInserted.inc(inserted);
    logger.debug({ records: records.length, inserted }, "batch persisted");
    this.#announce(stored);
  }

  /**
   * One consumer span per record that carries a trace context (the gateway's W3C `traceparent` header), ended
   * once the batch holding it is committed in the store: the message's trace ends with its insert.
   */
  #traceRecords(decoded: readonly Decoded[]): Span[] {
    const spans: Span[] = [];
    for (const { record, event } of decoded) {
      if (record.headers.traceparent === undefined) continue;
      spans.push(
        TRACER.startSpan(
          "parley.persist",
          {
            kind: SpanKind.CONSUMER,
            attributes: {
              "parley.room": event.room,
              "parley.seq": event.seq,
              "parley.message_id": event.id,
              "messaging.destination.partition.id": String(record.partition),
              "messaging.kafka.offset": record.offset,
              "parley.batch_size": decoded.length,
            },
          },
          contextFromHeaders(record.headers),
        ),
      );
    }
    return spans;
  }

  /**
   * Inserts all in one call; if the store refuses the data itself, inserts one by one and dead-letters the refused.
   * Resolves with how many rows were new and which events are now stored.
   */
  async #insert(decoded: readonly Decoded[]): Promise<{ inserted: number; stored: readonly RoomEvent[] }> {
    const { logger } = this.#options;
    const events = decoded.map(({ event }) => event);
    try {
      return { inserted: await this.#retrying("insert", () => this.#timedInsert(events)), stored: events };
    } catch (error) {
      if (isRetriable(error) || this.#closing.signal.aborted) throw error;
      logger.warn({ err: error }, "the store refused a batch; inserting its events one by one");
    }
    let inserted = 0;
    const stored: RoomEvent[] = [];
    for (const { record, event } of decoded) {
      try {
        inserted += await this.#retrying("insert", () => this.#timedInsert([event]));
        stored.push(event);
      } catch (error) {
        if (isRetriable(error) || this.#closing.signal.aborted) throw error;
        await this.#deadLetter(
          record,
          `refused by the store: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return { inserted, stored };
  }

  async #timedInsert(events: readonly RoomEvent[]): Promise<number> {
    const started = performance.now();
    const inserted = await this.#options.store.insert(events);
    this.#options.metrics?.insertDuration?.observe((performance.now() - started) / 1000);
    return inserted;
  }

  async #deadLetter(record: ConsumedRecord, reason: string): Promise<void> {
    const { log, logger, metrics } = this.#options;
    logger.warn({ partition: record.partition, offset: record.offset, reason }, "dead-lettering a record");
    await this.#retrying("dead-letter", () => log.deadLetter(record, reason));
    metrics?.deadLettered.inc();
  }

  /** Retries until it works or the persister closes (then throws, so the batch is not committed). */
  #retrying<T>(what: string, operation: () => Promise<T>): Promise<T> {
    const { logger, metrics, retryBackoff } = this.#options;
    return retry(operation, {
      ...retryBackoff,
      signal: this.#closing.signal,
      onRetry: (error, attempt, delayMs) => {
        metrics?.retries.inc();
        logger.warn({ err: error, attempt, delayMs }, `${what} failed; retrying`);
      },
    });
  }

  #announce(stored: readonly RoomEvent[]): void {
    const { onPersisted, logger } = this.#options;
    if (onPersisted === undefined || stored.length === 0) return;
    const seqs = new Map<string, number[]>();
    for (const { room, seq } of stored) {
      const list = seqs.get(room);
      if (list) list.push(seq);
      else seqs.set(room, [seq]);
    }
    try {
      onPersisted(seqs);
    } catch (error) {
      // The rows are committed whatever a listener does; failing the batch would only insert them again.
      logger.error({ err: error }, "the persisted-batch listener threw");
    }
  }
}
