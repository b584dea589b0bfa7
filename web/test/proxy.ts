import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP load balancer in front of the gateways, as the ingress is in production: the browser keeps one origin (so
 * its saved session and rooms stay), and the test decides which gateway new connections reach. Connections already
 * open stay on their gateway until it closes them.
 */
export class Balancer {
  #target: number | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    target: number,
  ) {
    this.#target = target;
  }

  static async start(targetPort: number): Promise<Balancer> {
    const server = createServer();
    const balancer = new Balancer(server, targetPort);
    server.on("connection", (client) => balancer.#route(client));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return balancer;
  }

  get origin(): string {
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("balancer is not listening");
    return `http://127.0.0.1:${address.port}`;
  }

  /** Sends new connections to this gateway port (`undefined`: refuse them, no healthy backend). */
  route(port: number | undefined): void {
    this.#target = port;
  }

  #route(client: Socket): void {
    this.#sockets.add(client);
    client.on("close", () => this.#sockets.delete(client));
    if (this.#target === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(this.#target, "127.0.0.1");
    this.#sockets.add(upstream);
    upstream.on("close", () => this.#sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.server.close();
    await once(this.server, "close");
  }
}
