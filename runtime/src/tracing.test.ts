import { Writable } from "node:stream";
import { tracing as sdk } from "@opentelemetry/sdk-node";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
import { contextFromHeaders, inSpan, startTracing, traceHeaders, tracer } from "./tracing.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

/** Spans are exported once the SDK's resource is detected, a moment after they end. */
async function finished(exporter: InstanceType<typeof sdk.InMemorySpanExporter>, count: number) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const spans = exporter.getFinishedSpans();
    if (spans.length >= count) return spans;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`fewer than ${count} spans were exported`);
}

// Runs in order: first without an SDK (tracing off), then with one (the SDK registers globally, once per process).
describe("tracing and logs", () => {
  it("is a no-op while off: no headers, no ids in log lines", async () => {
    const tracing = await startTracing("test", { kind: "off" });
    const { lines, stream } = capture();
    const logger = createLogger("test", "info", stream);
    await inSpan(tracer("test"), "work", {}, async () => {
      expect(traceHeaders()).toEqual({});
      logger.info("inside");
    });
    expect(lines[0]).not.toHaveProperty("trace_id");
    await tracing.shutdown();
  });

  it("puts the active span's trace and span ids in log lines, and carries the context through record headers", async () => {
    const exporter = new sdk.InMemorySpanExporter();
    const tracing = await startTracing("test", { kind: "off" }, exporter);
    try {
      const { lines, stream } = capture();
      const logger = createLogger("test", "info", stream);
      let headers: Record<string, string> = {};
      await inSpan(tracer("test"), "producer", {}, async () => {
        logger.info({ room: "r" }, "inside");
        headers = traceHeaders();
      });
      logger.info("outside");
      const [producer] = await finished(exporter, 1);
      expect(producer?.name).toBe("producer");
      expect(lines[0]).toMatchObject({
        msg: "inside",
        trace_id: producer?.spanContext().traceId,
        span_id: producer?.spanContext().spanId,
      });
      expect(lines[1]).not.toHaveProperty("trace_id");
      expect(headers.traceparent).toBe(`00-${producer?.spanContext().traceId}-${producer?.spanContext().spanId}-01`);

      await inSpan(tracer("test"), "consumer", { parent: contextFromHeaders(headers) }, async () => {});
      const consumer = (await finished(exporter, 2)).find((span) => span.name === "consumer");
      expect(consumer?.spanContext().traceId).toBe(producer?.spanContext().traceId);
      expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);

      // A span whose work throws is marked failed, and the error reaches the caller.
      await expect(
        inSpan(tracer("test"), "failing", {}, async () => {
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      const failing = (await finished(exporter, 3)).find((span) => span.name === "failing");
      expect(failing?.status).toMatchObject({ code: 2, message: "boom" });
    } finally {
      await tracing.shutdown();
    }
  });
});
