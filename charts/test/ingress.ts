/**
 * A stand-in for the chart's ingress in front of the containers, with its routing rules: `/ws` (WebSocket upgrades)
 * and `/api/` go to the gateways, everything else to the web server. A new WebSocket goes to the serving gateway with
 * the fewest open ones (first on a tie), so connections made one after another spread over the gateways the same way
 * on every run; `routes` records where each went. `withdraw` takes a gateway out of the endpoints, as Kubernetes does
 * with a terminating pod before it gets SIGTERM.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export interface Route {
  /** Request path and query. */
  readonly url: string;
  /** Index of the gateway in the list the ingress was started with. */
  readonly gateway: number;
}

export class Ingress {
  /** Where each WebSocket upgrade went, in order. */
  readonly routes: Route[] = [];
  readonly #open: number[];
  readonly #withdrawn = new Set<number>();
  readonly #sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly gateways: readonly Upstream[],
    private readonly web: Upstream,
  ) {
    this.#open = gateways.map(() => 0);
  }

  static async start(gateways: readonly Upstream[], web: Upstream): Promise<Ingress> {
    const server = createServer();
    const ingress = new Ingress(server, gateways, web);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => ingress.#request(req, res));
    server.on("upgrade", (req: IncomingMessage, client: Socket, head: Buffer) => ingress.#upgrade(req, client, head));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return ingress;
  }

  get origin(): string {
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("ingress is not listening");
    return `http://127.0.0.1:${address.port}`;
  }

  get wsOrigin(): string {
    return this.origin.replace(/^http/, "ws");
  }

  /** Open WebSockets per gateway. */
  get open(): readonly number[] {
    return [...this.#open];
  }

  /** New connections and requests no longer go to this gateway. */
  withdraw(index: number): void {
    this.#withdrawn.add(index);
  }

  restore(index: number): void {
    this.#withdrawn.delete(index);
  }

  /** The serving gateway with the fewest open WebSockets, the first on a tie; -1 when none serves. */
  #pick(): number {
    let best = -1;
    for (const [index, open] of this.#open.entries()) {
      if (this.#withdrawn.has(index)) continue;
      if (best === -1 || open < (this.#open[best] ?? 0)) best = index;
    }
    return best;
  }

  #gateway(index: number): Upstream {
    const gateway = this.gateways[index];
    if (!gateway) throw new Error(`no gateway ${index}`);
    return gateway;
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? "/";
    const gateway = path.startsWith("/api/") ? this.#pick() : undefined;
    if (gateway === -1) {
      res.writeHead(503).end();
      return;
    }
    const target = gateway === undefined ? this.web : this.#gateway(gateway);
    const upstream = request(
      { host: target.host, port: target.port, method: req.method, path, headers: req.headers },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  }

  #upgrade(req: IncomingMessage, client: Socket, head: Buffer): void {
    const url = req.url ?? "/";
    if (!/^\/ws(\?|$)/.test(url)) {
      client.destroy();
      return;
    }
    const index = this.#pick();
    if (index === -1) {
      client.end("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    this.routes.push({ url, gateway: index });
    this.#open[index] = (this.#open[index] ?? 0) + 1;
    const target = this.#gateway(index);
    const upstream = connect(target.port, target.host);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    let counted = true;
    const uncount = () => {
      if (counted) this.#open[index] = (this.#open[index] ?? 1) - 1;
      counted = false;
    };
    upstream.once("connect", () => {
      // The request as it came, then both directions as bytes: the WebSocket frames, and the close handshake.
      const lines = [`${req.method} ${url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    // A side that closes ends the other after what it sent is flushed (the gateway's close frame, e.g. 1012).
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      socket.on("error", () => {
        uncount();
        client.destroy();
        upstream.destroy();
      });
      socket.on("close", () => {
        uncount();
        this.#sockets.delete(socket);
        other.end();
      });
    }
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, "close");
  }
}
