/** A token bucket: `burst` tokens, refilled at `perSecond`. One per connection limits its frame rate. */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number = performance.now(),
  ) {
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** Takes one token if there is one. */
  take(now: number = performance.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.perSecond);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
