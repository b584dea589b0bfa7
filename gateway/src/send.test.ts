import type { LogRecord } from "@parley/log";
import { decodeEnvelope, ErrorCode } from "@parley/protocol";
import { createLogger } from "@parley/runtime";
import { describe, expect, it } from "vitest";
import { MemoryBus } from "./bus/memory-bus.js";
import { type SendContext, sendEvent } from "./send.js";

/** The pipeline over the reference Bus and a Log that records, fails or never answers, as `append` says. */
function pipeline(
  append: (record: LogRecord) => Promise<void> = async () => {},
  bus: SendContext["bus"] = new MemoryBus({ listener: () => {} }),
) {
  const records: LogRecord[] = [];
  const appends: boolean[] = [];
  const context: SendContext = {
    bus,
    log: {
      append: (record) => {
        records.push(record);
        return append(record);
      },
    },
    limits: { appendTimeoutMs: 50 },
    logger: createLogger("send-test", "silent"),
    appended: (ok) => appends.push(ok),
  };
  return { context, records, appends };
}

const input = (cid: string) => ({ room: "lobby", from: "ann", cid, body: `body of ${cid}` });

describe("sendEvent", () => {
  it("sequences each message and appends it to the Log, keyed by room, before the ack", async () => {
    const { context, records, appends } = pipeline();
    const first = await sendEvent(context, input("c1"));
    const second = await sendEvent(context, input("c2"));
    expect(first).toMatchObject({ ok: true, event: { room: "lobby", seq: 1, from: "ann", cid: "c1" } });
    expect(second).toMatchObject({ ok: true, event: { seq: 2, cid: "c2" } });
    expect(records.map((record) => record.key)).toEqual(["lobby", "lobby"]);
    expect(records.map((record) => decodeEnvelope(record.value))).toMatchObject([
      { ok: true, event: { seq: 1, body: "body of c1" } },
      { ok: true, event: { seq: 2, body: "body of c2" } },
    ]);
    expect(appends).toEqual([true, true]);
  });

  it("answers a repeated cid with the original seq and id, and appends it again", async () => {
    const { context, records } = pipeline();
    const original = await sendEvent(context, input("c1"));
    const retry = await sendEvent(context, input("c1"));
    if (!original.ok || !retry.ok) throw new Error("both sends should succeed");
    expect(retry.event).toEqual(original.event);
    expect(records).toHaveLength(2);
  });

  it("answers unavailable, appending nothing, when the Bus cannot sequence", async () => {
    const down: SendContext["bus"] = {
      publish: async () => {
        throw new Error("Redis down");
      },
    };
    const { context, records, appends } = pipeline(undefined, down);
    expect(await sendEvent(context, input("c1"))).toEqual({
      ok: false,
      code: ErrorCode.Unavailable,
      reason: "sequencing failed, retry with the same cid",
    });
    expect(records).toEqual([]);
    expect(appends).toEqual([]);
  });

  it.each([
    ["fails", () => Promise.reject(new Error("broker down"))],
    ["takes longer than the append timeout", () => new Promise<void>(() => {})],
  ])("answers unavailable when the Log append %s, and reports the Log unhealthy", async (_what, append) => {
    const { context, appends } = pipeline(append);
    expect(await sendEvent(context, input("c1"))).toEqual({
      ok: false,
      code: ErrorCode.Unavailable,
      reason: "not stored durably, retry with the same cid",
    });
    expect(appends).toEqual([false]);
  });

  it("takes a retry after a failed append with the seq the first attempt got", async () => {
    let failing = true;
    const { context } = pipeline(async () => {
      if (failing) throw new Error("broker down");
    });
    expect(await sendEvent(context, input("c1"))).toMatchObject({ ok: false });
    failing = false;
    expect(await sendEvent(context, input("c1"))).toMatchObject({ ok: true, event: { seq: 1 } });
    expect(await sendEvent(context, input("c2"))).toMatchObject({ ok: true, event: { seq: 2 } });
  });
});
