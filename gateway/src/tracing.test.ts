/**
 * One message, one trace: the gateway's send span, its Bus and Log children, and the persister's span for the
 * message's insert, joined through the W3C trace context in the Log record's headers. In one process, with the
 * real Node SDK set up as in production but exporting to memory, the reference Bus and Log, and a recording Store.
 */

import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { MemoryLog } from "@parley/log";
import { Persister } from "@parley/persister/persister";
import type { ChatMessage } from "@parley/protocol";
import { createLogger, startTracing, type Tracing } from "@parley/protocol/runtime";
import { waitFor } from "@parley/testkit";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBus } from "./bus/memory-bus.js";
import type { Gateway } from "./gateway.js";
import { inProcessGateway, RecordingSocket, RecordingTopics } from "./in-process.testing.js";
import { instrumentAppend, instrumentBus } from "./instrumented.js";
import { createGatewayMetrics } from "./metrics.js";

describe("tracing", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  beforeAll(async () => {
    tracing = await startTracing("parley-test", { kind: "off" }, exporter);
  });
  afterAll(() => tracing.shutdown());

  it("follows one message from the WebSocket frame through sequencing and the Log record to its insert", async () => {
    const metrics = createGatewayMetrics(new Registry());
    const logger = createLogger("parley-test", "silent");
    const stored: ChatMessage[] = [];
    const log = new MemoryLog();
    const store = {
      insert: async (messages: readonly ChatMessage[]) => {
        stored.push(...messages);
        return messages.length;
      },
      history: async () => [],
    };
    const persister = new Persister({ log, store, group: "test", logger });
    await persister.start();
    const bus = instrumentBus(new MemoryBus({ listener: (event) => gateway.deliver(event) }), metrics, "memory");
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({
      bus,
      log: instrumentAppend(log, metrics, "memory"),
      store,
      metrics,
      logger,
      topics,
    });
    const socket = new RecordingSocket(topics);
    const session = gateway.open(socket, { user: "ann" });
    try {
      session.text(JSON.stringify({ t: "join", room: "traced" }));
      await waitFor(() => socket.frames.some((f) => f.t === "presence"), "joined");
      session.text(JSON.stringify({ t: "send", room: "traced", cid: "c1", body: "hello" }));
      const ack = await waitFor(() => socket.frames.find((f) => f.t === "ack"), "the ack");
      await waitFor(() => stored.length === 1, "the insert");

      const spans = await waitFor(() => {
        const finished = exporter.getFinishedSpans();
        return finished.some((s) => s.name === "parley.persist") && finished;
      }, "the persister's span");
      const byName = (name: string): ReadableSpan => {
        const span = spans.find((s) => s.name === name);
        if (!span) throw new Error(`no span ${name} among ${spans.map((s) => s.name).join(", ")}`);
        return span;
      };
      const send = byName("parley.send");
      const publish = byName("parley.bus.publish");
      const append = byName("parley.log.append");
      const persist = byName("parley.persist");
      const traceId = send.spanContext().traceId;
      expect(send.parentSpanContext).toBeUndefined();
      for (const span of [publish, append, persist]) expect(span.spanContext().traceId).toBe(traceId);
      expect(publish.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
      expect(append.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
      // The persister continues from the record's traceparent, i.e. from the producer span.
      expect(persist.parentSpanContext?.spanId).toBe(append.spanContext().spanId);
      expect(persist.parentSpanContext?.isRemote).toBe(true);
      expect(send.instrumentationScope.name).toBe("parley-gateway");
      expect(persist.instrumentationScope.name).toBe("parley-persister");
      expect(send.attributes["parley.seq"]).toBe(ack.seq);
      expect(persist.attributes).toMatchObject({
        "parley.room": "traced",
        "parley.seq": ack.seq,
        "parley.message_id": ack.id,
      });
      // No message body in any span.
      expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain("hello");
    } finally {
      session.closed(1000);
      await persister.close();
      await log.close();
      await bus.close();
    }
  });
});
