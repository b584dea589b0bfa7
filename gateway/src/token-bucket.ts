/**
 * A token bucket of `burst` tokens refilled at `perSecond`, kept as one number per bucket: the time at which it is
 * full again (at or before now: full). One per connection limits its frame rate, so the state is a plain field of
 * the session rather than an object of its own (the generic cell rate algorithm's "theoretical arrival time").
 *
 * Takes one token from the bucket that is full at `fullAt`: its new `fullAt`, or `undefined` when it is empty.
 */
export function takeToken(
  fullAt: number,
  perSecond: number,
  burst: number,
  now = performance.now(),
): number | undefined {
  const next = Math.max(fullAt, now) + 1000 / perSecond;
  return next - now <= (burst * 1000) / perSecond ? next : undefined;
}
