/** How a {@link MicroBatcher} sends and how much it puts in one batch. */
export interface MicroBatcherOptions<T> {
  /** Sends one batch; its outcome settles the promise of every item in it. */
  readonly send: (items: T[]) => Promise<void>;
  /** Most items in one batch. */
  readonly maxItems: number;
  /** Most bytes in one batch (by `sizeOf`); a single item larger than this still goes, alone. */
  readonly maxBytes: number;
  /** An item's size in bytes, as `maxBytes` counts it. */
  readonly sizeOf: (item: T) => number;
  /**
   * How long an item added while nothing is in flight waits for others to join its batch, in ms. @default 0: it
   * goes at once
   */
  readonly lingerMs?: number;
}

interface Pending<T> {
  readonly item: T;
  readonly size: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Coalesces concurrent calls into batches: an item added while nothing is in flight is sent at once, or after
 * `lingerMs`; items added while a batch is in flight (or lingers) wait for it and go out together in the next one.
 * At most one batch is in flight, so batches (and the items in them) are sent in the order they were added.
 */
export class MicroBatcher<T> {
  readonly #options: MicroBatcherOptions<T>;
  #queue: Pending<T>[] = [];
  #draining: Promise<void> | undefined;

  constructor(options: MicroBatcherOptions<T>) {
    this.#options = options;
  }

  /** Resolves once the batch holding `item` was sent; rejects with that batch's error. */
  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, size: this.#options.sizeOf(item), resolve, reject });
      if (this.#draining === undefined) this.#startDraining(this.#options.lingerMs ?? 0);
    });
  }

  /** Resolves once everything added so far has been sent (successfully or not). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  #startDraining(lingerMs = 0): void {
    const draining =
      lingerMs > 0 ? new Promise((resolve) => setTimeout(resolve, lingerMs)).then(() => this.#drain()) : this.#drain();
    this.#draining = draining.finally(() => {
      this.#draining = undefined;
      // Items added by callbacks that ran after the loop saw an empty queue, but before this point.
      if (this.#queue.length > 0) this.#startDraining();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#take();
      try {
        await this.#options.send(batch.map((pending) => pending.item));
        for (const pending of batch) pending.resolve();
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
  }

  #take(): Pending<T>[] {
    const { maxItems, maxBytes } = this.#options;
    let count = 0;
    let bytes = 0;
    for (const pending of this.#queue) {
      if (count === maxItems || (count > 0 && bytes + pending.size > maxBytes)) break;
      count++;
      bytes += pending.size;
    }
    return this.#queue.splice(0, count);
  }
}
