import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { healthAnswer, isHealthPath } from "./health.js";

/** The part of a prom-client Registry the endpoint needs. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsServerOptions {
  /**
   * For a service whose only port this is (the persister): also answer `GET /healthz` (200 while the process lives)
   * and `GET /readyz` (200 while this returns true, else 503), as `healthAnswer` does on the gateway's own port.
   * @default undefined (`/healthz` and `/readyz` are 404, like every other path)
   */
  readonly ready?: () => boolean;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves Prometheus text on `GET /metrics` on its own port, apart from client traffic. */
export async function serveMetrics(
  source: MetricsSource,
  host: string,
  port: number,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  const { ready } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (ready !== undefined && isHealthPath(path)) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      const { status, body } = healthAnswer(path, ready);
      res.writeHead(status, { "content-type": "text/plain" }).end(body);
      return;
    }
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { "content-type": source.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
