import { randomUUID } from "node:crypto";
import type { Log } from "@parley/log";
import { ErrorCode, encodeEnvelope, type RoomEvent, type UnsequencedEvent, withTimeout } from "@parley/protocol";
import type { Logger } from "@parley/runtime";
import type { Bus } from "./bus/bus.js";

/** What the send pipeline needs (a session's context has it all); each collaborator narrowed to the call it makes. */
export interface SendContext {
  readonly bus: Pick<Bus, "publish">;
  readonly log: Pick<Log, "append">;
  /** `appendTimeoutMs`: a Log append that takes longer fails the send. */
  readonly limits: { readonly appendTimeoutMs: number };
  readonly logger: Logger;
  /** Told whether each Log append succeeded (readiness follows the Log's health). */
  readonly appended: (ok: boolean) => void;
}

/** A send's outcome: the stored event to ack, or an `unavailable` error that the client retries with its cid. */
export type SendOutcome =
  | { readonly ok: true; readonly event: RoomEvent }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string };

/** A message, edit, deletion or reaction as a client asked for it: the gateway adds its id and time. */
export type SendInput = UnsequencedEvent extends infer E
  ? E extends UnsequencedEvent
    ? Omit<E, "id" | "ts">
    : never
  : never;

/**
 * An event's path to its ack: sequenced by the Bus, which answers a `(from, cid)` it has seen with the original seq
 * and id (so a retry is never a second event), then appended to the Log within the append timeout. A duplicate is
 * appended again: the first attempt may have died before reaching the Log, and the persister stores a seq once.
 * Every failure is `unavailable`, because a retry with the same cid is always safe.
 */
export async function sendEvent(context: SendContext, input: SendInput): Promise<SendOutcome> {
  let event: RoomEvent;
  try {
    ({ event } = await context.bus.publish({ ...input, id: randomUUID(), ts: Date.now() }));
  } catch (error) {
    context.logger.warn({ err: error, room: input.room }, "bus publish failed");
    return { ok: false, code: ErrorCode.Unavailable, reason: "sequencing failed, retry with the same cid" };
  }
  try {
    await withTimeout(
      context.log.append({ key: input.room, value: encodeEnvelope(event) }),
      context.limits.appendTimeoutMs,
      "log append",
    );
  } catch (error) {
    context.appended(false);
    context.logger.warn({ err: error, room: input.room }, "log append failed");
    return { ok: false, code: ErrorCode.Unavailable, reason: "not stored durably, retry with the same cid" };
  }
  context.appended(true);
  return { ok: true, event };
}
