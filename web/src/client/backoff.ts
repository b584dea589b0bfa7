/**
 * Reconnect delay: exponential backoff with full jitter, a random delay in [floor, min(max, initial * 2^attempt)).
 * The same formula as the services' `backoffDelay` (`@parley/protocol/runtime`, which the browser cannot import:
 * it pulls in the Node logger). The jitter spreads the reconnects of every client a restarted gateway dropped.
 */
export interface BackoffOptions {
  /** @default 500 */
  readonly initialMs?: number;
  /** @default 15000 */
  readonly maxMs?: number;
  /** Shortest delay, so a failing server is never hammered in a tight loop. @default 100 */
  readonly floorMs?: number;
}

export function backoffDelay(
  attempt: number,
  random: () => number,
  { initialMs = 500, maxMs = 15_000, floorMs = 100 }: BackoffOptions = {},
): number {
  const ceiling = Math.max(floorMs, Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30)));
  return Math.floor(floorMs + random() * (ceiling - floorMs));
}
