import { fileURLToPath } from "node:url";
import { ServiceProcess } from "./process.js";
import { TestClient } from "./ws-client.js";

const GATEWAY = fileURLToPath(new URL("../../gateway/dist/main.js", import.meta.url));
/** The embedded server (`npm start`): the gateway with the persister on the in-memory Log beside it. */
const EMBEDDED = fileURLToPath(new URL("../../embedded/dist/main.js", import.meta.url));

/** A gateway running as its own process on free ports, as in production. */
export class GatewayProcess {
  private constructor(
    readonly service: ServiceProcess,
    readonly port: number,
  ) {}

  /**
   * Starts the gateway with `env` as deployed: the gateway service (`gateway/dist/main.js`) on a Kafka Log, the
   * embedded server otherwise. `nodeArgs` are Node's flags (see {@link ServiceProcess.start}).
   */
  static async start(env: Record<string, string>, nodeArgs: readonly string[] = []): Promise<GatewayProcess> {
    const service = await ServiceProcess.start(
      env.PARLEY_LOG === "kafka" ? GATEWAY : EMBEDDED,
      { PARLEY_HOST: "127.0.0.1", PARLEY_PORT: "0", PARLEY_METRICS_PORT: "0", PARLEY_LOG_LEVEL: "info", ...env },
      (log) => typeof log.port === "number" && typeof log.msg === "string" && log.msg.includes("listening"),
      { nodeArgs },
    );
    return new GatewayProcess(service, Number(service.readyLog.port));
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The WebSocket endpoint, without a query. */
  get wsEndpoint(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  wsUrl(query: string): string {
    return `${this.wsEndpoint}?${query}`;
  }

  /** A dev-auth client connected as `user`. */
  connect(user: string): Promise<TestClient> {
    return TestClient.connect(this.wsUrl(`user=${encodeURIComponent(user)}`));
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, init);
  }
}
