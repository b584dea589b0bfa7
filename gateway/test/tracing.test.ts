import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { uniqueName, waitFor } from "@parley/testkit";
import { Stack } from "@parley/testkit/stack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface ExportedSpan {
  readonly service: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly attributes: Record<string, unknown>;
}

/** A stand-in OTLP/HTTP collector: keeps every span the services export (JSON encoding, `/v1/traces`). */
async function collector(): Promise<{ server: Server; url: string; spans: ExportedSpan[] }> {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: {
            resource: { attributes: { key: string; value: { stringValue?: string } }[] };
            scopeSpans: {
              spans: {
                name: string;
                traceId: string;
                spanId: string;
                parentSpanId?: string;
                attributes: { key: string; value: Record<string, unknown> }[];
              }[];
            }[];
          }[];
        };
        for (const { resource, scopeSpans } of body.resourceSpans) {
          const service = resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
          for (const span of scopeSpans.flatMap((scope) => scope.spans)) {
            spans.push({
              service,
              name: span.name,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? "",
              attributes: Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]])),
            });
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans };
}

/**
 * Tracing as deployed: gateway and persister processes on the real services export over OTLP/HTTP, and one
 * message's spans from both processes form one trace, joined through the Kafka record's traceparent header.
 */
describe("tracing across processes", () => {
  let stack: Stack;
  let otlp: Awaited<ReturnType<typeof collector>>;

  beforeAll(async () => {
    otlp = await collector();
    stack = await Stack.start({ gateways: 1, gatewayEnv: { PARLEY_OTEL_ENDPOINT: otlp.url }, otelEndpoint: otlp.url });
  });
  afterAll(async () => {
    await stack?.stop();
    otlp?.server.close();
  });

  it("exports one trace per message from the gateway's frame to the persister's insert", async () => {
    const room = uniqueName("room");
    const client = await stack.gateways[0]?.connect("tracer");
    if (!client) throw new Error("no gateway");
    await client.join(room);
    client.send({ t: "send", room, cid: "traced", body: "secret body" });
    const ack = await client.next("ack");
    const persist = await waitFor(
      () =>
        otlp.spans.find((span) => span.name === "parley.persist" && Number(span.attributes["parley.seq"]) === ack.seq),
      "the persister's span",
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const trace = await waitFor(
      () => {
        const spans = otlp.spans.filter((span) => span.traceId === persist.traceId);
        return spans.some((span) => span.name === "parley.send") && spans;
      },
      "the gateway's spans of that trace",
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const byName = (name: string) => trace.find((span) => span.name === name);
    expect(byName("parley.send")?.service).toBe("parley-gateway");
    expect(byName("parley.bus.publish")?.parentSpanId).toBe(byName("parley.send")?.spanId);
    expect(byName("parley.log.append")?.parentSpanId).toBe(byName("parley.send")?.spanId);
    expect(persist.service).toBe("parley-persister");
    expect(persist.parentSpanId).toBe(byName("parley.log.append")?.spanId);
    expect(JSON.stringify(otlp.spans)).not.toContain("secret body");
    client.close();
  });
});
