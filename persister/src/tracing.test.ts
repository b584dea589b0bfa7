/**
 * The persister's half of one message's trace: its span for the insert continues from the W3C trace context in the
 * Log record's headers, which the gateway's producer span put there (the gateway's half: `gateway/src/tracing.test.ts`).
 * With the real Node SDK set up as in production but exporting to memory, the reference Log and a recording Store.
 */

import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { MemoryLog } from "@parley/log";
import { type ChatMessage, encodeEnvelope } from "@parley/protocol";
import { createLogger, inSpan, SpanKind, startTracing, type Tracing, traceHeaders, tracer } from "@parley/runtime";
import { testMessage } from "@parley/store/contract";
import { waitFor } from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Persister } from "./persister.js";

describe("tracing", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  beforeAll(async () => {
    tracing = await startTracing("parley-test", { kind: "off" }, exporter);
  });
  afterAll(() => tracing.shutdown());

  it("continues a record's trace in the span of its insert, without the body", async () => {
    const log = new MemoryLog();
    const stored: ChatMessage[] = [];
    const store = {
      insert: async (messages: readonly ChatMessage[]) => {
        stored.push(...messages);
        return messages.length;
      },
    };
    const persister = new Persister({ log, store, group: "test", logger: createLogger("parley-test", "silent") });
    await persister.start();
    const message = testMessage("traced", 7, { body: "hello" });
    try {
      const producer = await inSpan(tracer("parley-test"), "producer", { kind: SpanKind.PRODUCER }, async (span) => {
        await log.append({ key: message.room, value: encodeEnvelope(message), headers: traceHeaders() });
        return span.spanContext();
      });
      await waitFor(() => stored.length === 1, "the insert");
      const persist = await waitFor(
        () => exporter.getFinishedSpans().find((span) => span.name === "parley.persist"),
        "the persister's span",
      );
      expect(persist.spanContext().traceId).toBe(producer.traceId);
      expect(persist.parentSpanContext?.spanId).toBe(producer.spanId);
      expect(persist.parentSpanContext?.isRemote).toBe(true);
      expect(persist.instrumentationScope.name).toBe("parley-persister");
      expect(persist.attributes).toMatchObject({
        "parley.room": "traced",
        "parley.seq": 7,
        "parley.message_id": message.id,
      });
      expect(JSON.stringify(persist.attributes)).not.toContain("hello");
    } finally {
      await persister.close();
      await log.close();
    }
  });
});
