/**
 * Per key (a room), a call that runs at once when the key last ran at least `intervalMs` ago, and otherwise once at
 * the end of that interval however often it was asked meanwhile: typing events and read reports both go out so.
 */
export class KeyedThrottle {
  /** When each key last ran (only runs that did something count). */
  readonly #last = new Map<string, number>();
  readonly #trailing = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  /** Runs `run` now or at the end of the interval; `run` answers whether it did something (else it does not count). */
  request(key: string, run: () => boolean): void {
    if (this.#trailing.has(key)) return;
    const wait = (this.#last.get(key) ?? Number.NEGATIVE_INFINITY) + this.intervalMs - this.now();
    if (wait <= 0) {
      this.#run(key, run);
      return;
    }
    this.#trailing.set(
      key,
      setTimeout(() => {
        this.#trailing.delete(key);
        this.#run(key, run);
      }, wait),
    );
  }

  /** Drops the key: its waiting run is cancelled and its next request runs at once. */
  forget(key: string): void {
    clearTimeout(this.#trailing.get(key));
    this.#trailing.delete(key);
    this.#last.delete(key);
  }

  /** Cancels every waiting run. */
  cancel(): void {
    for (const timer of this.#trailing.values()) clearTimeout(timer);
    this.#trailing.clear();
  }

  #run(key: string, run: () => boolean): void {
    if (run()) this.#last.set(key, this.now());
  }
}
