/**
 * One message, one trace, on the gateway's side: the send span, its Bus and Log children, and the W3C trace context of
 * the Log's producer span in the record's headers, where the persister picks it up (its half:
 * `persister/src/tracing.test.ts`). In one process, with the real Node SDK set up as in production but exporting to
 * memory, the reference Bus and Log, and a Store that holds nothing.
 */

import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { type LogRecord, MemoryLog } from "@parley/log";
import { createLogger, startTracing, type Tracing } from "@parley/runtime";
import { waitFor } from "@parley/testkit";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBus } from "./bus/memory-bus.js";
import type { Gateway } from "./gateway.js";
import { EMPTY_STORE, inProcessGateway, RecordingSocket, RecordingTopics } from "./in-process.testing.js";
import { instrumentAppend, instrumentBus } from "./instrumented.js";
import { createGatewayMetrics } from "./metrics.js";

describe("tracing", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  beforeAll(async () => {
    tracing = await startTracing("parley-test", { kind: "off" }, exporter);
  });
  afterAll(() => tracing.shutdown());

  it("follows one message from the WebSocket frame through sequencing to the Log record's trace context", async () => {
    const metrics = createGatewayMetrics(new Registry());
    const logger = createLogger("parley-test", "silent");
    const log = new MemoryLog();
    const appended: LogRecord[] = [];
    const recordingLog = {
      append: (record: LogRecord) => {
        appended.push(record);
        return log.append(record);
      },
    };
    const store = EMPTY_STORE;
    const bus = instrumentBus(new MemoryBus({ listener: (event) => gateway.deliver(event) }), metrics, "memory");
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({
      bus,
      log: instrumentAppend(recordingLog, metrics, "memory"),
      store,
      metrics,
      logger,
      topics,
    });
    const socket = new RecordingSocket(topics);
    const session = gateway.open(socket, { user: "ann", admin: false });
    try {
      session.text(JSON.stringify({ t: "join", room: "traced" }));
      await waitFor(() => socket.frames.some((f) => f.t === "presence"), "joined");
      session.text(JSON.stringify({ t: "send", room: "traced", cid: "c1", body: "hello" }));
      const ack = await waitFor(() => socket.frames.find((f) => f.t === "ack"), "the ack");
      const spans = await waitFor(() => {
        const finished = exporter.getFinishedSpans();
        return finished.some((s) => s.name === "parley.log.append") && finished;
      }, "the Log's span");
      const byName = (name: string): ReadableSpan => {
        const span = spans.find((s) => s.name === name);
        if (!span) throw new Error(`no span ${name} among ${spans.map((s) => s.name).join(", ")}`);
        return span;
      };
      const send = byName("parley.send");
      const publish = byName("parley.bus.publish");
      const append = byName("parley.log.append");
      const traceId = send.spanContext().traceId;
      expect(send.parentSpanContext).toBeUndefined();
      for (const span of [publish, append]) expect(span.spanContext().traceId).toBe(traceId);
      expect(publish.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
      expect(append.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
      expect(send.instrumentationScope.name).toBe("parley-gateway");
      expect(send.attributes["parley.seq"]).toBe(ack.seq);
      // The record carries the producer span as its parent, for the persister to continue from.
      expect(appended).toHaveLength(1);
      expect(appended[0]?.headers?.traceparent).toMatch(
        new RegExp(`^00-${traceId}-${append.spanContext().spanId}-0[01]$`),
      );
      // No message body in any span.
      expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain("hello");
    } finally {
      session.closed(1000);
      await log.close();
      await bus.close();
    }
  });
});
