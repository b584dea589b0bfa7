import { backoffDelay, ParleyError } from "@parley/protocol";
import type { BatchHandler, ConsumedRecord, ConsumeOptions, Consumption, Log, LogRecord } from "./log.js";

/** Tuning for a {@link MemoryLog}; the defaults suit the embedded server. */
export interface MemoryLogOptions {
  /** Partitions records are spread over by key; several let the members of a group share the work. @default 4 */
  readonly partitions?: number;
  /** Most records handed to one handler call. @default 500 */
  readonly maxBatchSize?: number;
}

/** A record `deadLetter` received, kept so it can be inspected (the embedded server has no dead-letter topic). */
export interface DeadLetter {
  readonly record: ConsumedRecord;
  readonly reason: string;
}

const DEFAULT_PARTITIONS = 4;
const DEFAULT_MAX_BATCH_SIZE = 500;
/** Records every group has committed are dropped once this many accumulate in a partition. */
const TRIM_THRESHOLD = 1024;
/** Redelivery after a throwing handler backs off from this delay. */
const REDELIVERY_BACKOFF = { initialMs: 10, maxMs: 1_000 } as const;

/**
 * The embedded Log: the reference implementation of the {@link Log} guarantees, in memory, for one process only.
 * Nothing survives the process; records every group has committed are released so memory stays bounded (a group
 * that appears later starts at the oldest record still held, as with Kafka's retention).
 */
export class MemoryLog implements Log {
  readonly #partitions: Partition[];
  readonly #maxBatchSize: number;
  readonly #groups = new Map<string, Group>();
  readonly #deadLetters: DeadLetter[] = [];
  #closed = false;

  constructor({ partitions = DEFAULT_PARTITIONS, maxBatchSize = DEFAULT_MAX_BATCH_SIZE }: MemoryLogOptions = {}) {
    if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError("partitions must be a positive integer");
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new RangeError("maxBatchSize must be a positive integer");
    }
    this.#partitions = Array.from({ length: partitions }, () => ({ base: 0, records: [] }));
    this.#maxBatchSize = maxBatchSize;
  }

  async append(record: LogRecord): Promise<void> {
    this.#assertOpen();
    const index = partitionOf(record.key, this.#partitions.length);
    const partition = this.#partitions[index];
    if (partition === undefined) throw new Error(`no partition ${index}`);
    partition.records.push({
      key: record.key,
      value: Buffer.from(record.value),
      headers: { ...record.headers },
      partition: index,
      offset: String(partition.base + partition.records.length),
    });
    for (const group of this.#groups.values()) group.schedule();
  }

  /** Accepted also while closing, so the batches `close()` waits for can finish. */
  async deadLetter(record: ConsumedRecord, reason: string): Promise<void> {
    this.#deadLetters.push({ record, reason });
  }

  /** What `deadLetter` received so far, oldest first. */
  deadLetters(): readonly DeadLetter[] {
    return [...this.#deadLetters];
  }

  async consume({ group: name, handler, onAssigned }: ConsumeOptions): Promise<Consumption> {
    this.#assertOpen();
    let group = this.#groups.get(name);
    if (group === undefined) {
      group = new Group(this.#partitions, this.#maxBatchSize, () => this.#trim());
      this.#groups.set(name, group);
    }
    return group.join(handler, onAssigned);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#groups.values()].map((group) => group.close()));
  }

  #assertOpen(): void {
    if (this.#closed) throw new ParleyError("the log is closed", { retriable: false });
  }

  /** Drops records that every group has committed. */
  #trim(): void {
    this.#partitions.forEach((partition, index) => {
      const committed = Math.min(...[...this.#groups.values()].map((group) => group.committed(index)));
      const droppable = committed - partition.base;
      if (droppable >= TRIM_THRESHOLD) {
        partition.records.splice(0, droppable);
        partition.base = committed;
      }
    });
  }
}

interface Partition {
  /** Offset of `records[0]`. */
  base: number;
  readonly records: ConsumedRecord[];
}

interface Member {
  readonly handler: BatchHandler;
  readonly onAssigned: ConsumeOptions["onAssigned"];
  /** Batches this member is handling; `close()` waits for them. */
  readonly inFlight: Set<Promise<void>>;
}

/** One consumer group: committed offsets and the members partitions are spread over. */
class Group {
  readonly #partitions: readonly Partition[];
  readonly #maxBatchSize: number;
  readonly #onCommit: () => void;
  readonly #members: Member[] = [];
  /** Per partition: the next offset to deliver (everything below it is committed). */
  readonly #committed: number[];
  /** Per partition: consecutive failed deliveries, for the redelivery backoff. */
  readonly #failures: number[];
  /** Partitions with a batch in a handler or waiting for redelivery: they get nothing else meanwhile. */
  readonly #busy = new Set<number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #scheduled = false;

  constructor(partitions: readonly Partition[], maxBatchSize: number, onCommit: () => void) {
    this.#partitions = partitions;
    this.#maxBatchSize = maxBatchSize;
    this.#onCommit = onCommit;
    this.#committed = partitions.map((partition) => partition.base);
    this.#failures = partitions.map(() => 0);
  }

  committed(partition: number): number {
    return this.#committed[partition] ?? 0;
  }

  join(handler: BatchHandler, onAssigned: ConsumeOptions["onAssigned"]): Consumption {
    const member: Member = { handler, onAssigned, inFlight: new Set() };
    this.#members.push(member);
    this.#assign();
    this.schedule();
    return { close: () => this.#leave(member) };
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#members].map((member) => this.#leave(member)));
  }

  /** Dispatches on the next turn, so records appended together are delivered together. */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#dispatch();
    });
  }

  async #leave(member: Member): Promise<void> {
    const index = this.#members.indexOf(member);
    if (index === -1) return;
    this.#members.splice(index, 1);
    this.#assign();
    await Promise.all(member.inFlight);
    this.schedule();
  }

  /** Tells every member the keys it now handles: those of the partitions `#dispatch` gives it. */
  #assign(): void {
    const members = [...this.#members];
    const count = this.#partitions.length;
    for (const member of members) {
      member.onAssigned?.((key) => members[partitionOf(key, count) % members.length] === member);
    }
  }

  #dispatch(): void {
    this.#partitions.forEach((partition, index) => {
      // A partition belongs to one member; its owner changes when members join or leave (a rebalance).
      const owner = this.#members[index % this.#members.length];
      if (owner === undefined || this.#busy.has(index)) return;
      const start = (this.#committed[index] ?? 0) - partition.base;
      const records = partition.records.slice(start, start + this.#maxBatchSize);
      if (records.length > 0) this.#deliver(owner, index, records);
    });
  }

  #deliver(member: Member, partition: number, records: readonly ConsumedRecord[]): void {
    this.#busy.add(partition);
    const delivery = Promise.resolve()
      .then(() => member.handler(records))
      .then(
        () => {
          this.#committed[partition] = (this.#committed[partition] ?? 0) + records.length;
          this.#failures[partition] = 0;
          this.#busy.delete(partition);
          this.#onCommit();
          this.schedule();
        },
        () => {
          const failures = (this.#failures[partition] ?? 0) + 1;
          this.#failures[partition] = failures;
          const timer = setTimeout(
            () => {
              this.#timers.delete(timer);
              this.#busy.delete(partition);
              this.schedule();
            },
            backoffDelay(failures, REDELIVERY_BACKOFF),
          );
          this.#timers.add(timer);
        },
      )
      .finally(() => member.inFlight.delete(delivery));
    member.inFlight.add(delivery);
  }
}

/** Same key, same partition (FNV-1a; any stable hash keeps a key's order). */
function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
