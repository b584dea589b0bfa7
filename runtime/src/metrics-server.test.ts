import { afterEach, describe, expect, it } from "vitest";
import { healthAnswer } from "./health.js";
import { type MetricsServer, serveMetrics } from "./metrics-server.js";

const source = { contentType: "text/plain; version=0.0.4", metrics: async () => "parley_up 1\n" };

describe("serveMetrics", () => {
  const servers: MetricsServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  async function start(options?: Parameters<typeof serveMetrics>[3]) {
    const server = await serveMetrics(source, "127.0.0.1", 0, options);
    servers.push(server);
    const get = async (path: string, method = "GET") => {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
      return { status: response.status, body: await response.text(), headers: response.headers };
    };
    return get;
  }

  it("serves /metrics and nothing else without a readiness function", async () => {
    const get = await start();
    const metrics = await get("/metrics");
    expect(metrics).toMatchObject({ status: 200, body: "parley_up 1\n" });
    expect(metrics.headers.get("content-type")).toBe(source.contentType);
    expect((await get("/healthz")).status).toBe(404);
    expect((await get("/readyz")).status).toBe(404);
    expect((await get("/metrics", "POST")).status).toBe(404);
  });

  it("answers /readyz from the readiness function at each request, and /healthz 200 throughout", async () => {
    let ready = false;
    const get = await start({ ready: () => ready });
    expect(await get("/readyz")).toMatchObject({ status: 503, body: "not ready" });
    expect(await get("/healthz")).toMatchObject({ status: 200, body: "ok" });
    ready = true;
    expect(await get("/readyz")).toMatchObject({ status: 200, body: "ready" });
    expect((await get("/readyz?verbose")).status).toBe(200);
    expect((await get("/readyz", "HEAD")).status).toBe(200);
    ready = false;
    expect((await get("/readyz")).status).toBe(503);
    expect((await get("/healthz")).status).toBe(200);
    // Metrics are still served beside the probes.
    expect((await get("/metrics")).status).toBe(200);
    expect((await get("/other")).status).toBe(404);
  });

  it("refuses other methods on the probes with 405 and the methods it takes", async () => {
    const get = await start({ ready: () => true });
    const refused = await get("/readyz", "POST");
    expect(refused.status).toBe(405);
    expect(refused.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("healthAnswer", () => {
  it("asks for readiness only on /readyz", () => {
    let asked = 0;
    const ready = () => {
      asked++;
      return false;
    };
    expect(healthAnswer("/healthz", ready)).toEqual({ status: 200, body: "ok" });
    expect(asked).toBe(0);
    expect(healthAnswer("/readyz", ready)).toEqual({ status: 503, body: "not ready" });
    expect(asked).toBe(1);
  });
});
