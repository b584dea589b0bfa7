import { randomUUID } from "node:crypto";
import type { Log } from "@parley/log";
import { type ChatMessage, ErrorCode, encodeEnvelope, withTimeout } from "@parley/protocol";
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

/** A `send`'s outcome: the stored message to ack, or an `unavailable` error that the client retries with its cid. */
export type SendOutcome =
  | { readonly ok: true; readonly message: ChatMessage }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string };

export interface SendInput {
  readonly room: string;
  readonly from: string;
  readonly cid: string;
  readonly body: string;
}

/**
 * A message's path to its ack: sequenced by the Bus, which answers a `(from, cid)` it has seen with the original seq
 * and id (so a retry is never a second message), then appended to the Log within the append timeout. A duplicate is
 * appended again: the first attempt may have died before reaching the Log, and the persister stores a seq once.
 * Every failure is `unavailable`, because a retry with the same cid is always safe.
 */
export async function sendMessage(context: SendContext, { room, from, cid, body }: SendInput): Promise<SendOutcome> {
  let message: ChatMessage;
  try {
    ({ message } = await context.bus.publish({ room, from, cid, body, id: randomUUID(), ts: Date.now() }));
  } catch (error) {
    context.logger.warn({ err: error, room }, "bus publish failed");
    return { ok: false, code: ErrorCode.Unavailable, reason: "sequencing failed, retry with the same cid" };
  }
  try {
    await withTimeout(
      context.log.append({ key: room, value: encodeEnvelope(message) }),
      context.limits.appendTimeoutMs,
      "log append",
    );
  } catch (error) {
    context.appended(false);
    context.logger.warn({ err: error, room }, "log append failed");
    return { ok: false, code: ErrorCode.Unavailable, reason: "not stored durably, retry with the same cid" };
  }
  context.appended(true);
  return { ok: true, message };
}
