// No Node-only imports here: the web client imports this module too (`@parley/protocol/retry`).

/**
 * An error that says whether trying again can help (kafkajs style). Code that retries asks `isRetriable`;
 * anything that is not a ParleyError is treated as retriable, since infrastructure errors usually are.
 */
export class ParleyError extends Error {
  readonly retriable: boolean;
  constructor(message: string, { retriable, cause }: { retriable: boolean; cause?: unknown }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ParleyError";
    this.retriable = retriable;
  }
}

export function isRetriable(error: unknown): boolean {
  return !(error instanceof ParleyError) || error.retriable;
}

export interface BackoffOptions {
  /** @default 100 */
  readonly initialMs?: number;
  /** @default 5000 */
  readonly maxMs?: number;
  /** Shortest delay, so a failing peer is never hammered in a tight loop. @default 0 */
  readonly floorMs?: number;
  /** Source of randomness in [0, 1) (tests pass a fixed one). @default Math.random */
  readonly random?: () => number;
}

/**
 * Exponential backoff with full jitter: a random delay in [floor, max(floor, min(max, initial * 2^attempt))).
 * The jitter spreads the retries of many clients that failed at once (a restarted gateway's reconnects).
 */
export function backoffDelay(
  attempt: number,
  { initialMs = 100, maxMs = 5_000, floorMs = 0, random = Math.random }: BackoffOptions = {},
): number {
  const ceiling = Math.max(floorMs, Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30)));
  return Math.floor(floorMs + random() * (ceiling - floorMs));
}

export interface RetryOptions extends BackoffOptions {
  /** Stop after this many attempts; by default retries until `signal` aborts. */
  readonly attempts?: number;
  readonly signal?: AbortSignal;
  /** Called before each wait, e.g. to log or count the retry, or to send a heartbeat. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void | Promise<void>;
}

/**
 * Runs `operation` until it succeeds, waiting with {@link backoffDelay} between attempts. Non-retriable errors,
 * the last attempt's error and an abort are thrown to the caller.
 */
export async function retry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { attempts = Number.POSITIVE_INFINITY, signal, onRetry } = options;
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await operation(attempt);
    } catch (error) {
      if (!isRetriable(error) || attempt + 1 >= attempts || signal?.aborted) throw error;
      const delayMs = backoffDelay(attempt, options);
      await onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/**
 * Settles like `promise`, or rejects with a retriable {@link ParleyError} after `ms`. The operation itself goes on
 * (a Kafka append may still land); callers whose retries are idempotent can simply try again.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ParleyError(`${what} timed out after ${ms} ms`, { retriable: true })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
