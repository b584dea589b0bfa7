import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type FreshDatabase, freshDatabase, withClient } from "./database.js";
import { GatewayProcess } from "./gateway-process.js";
import { serviceEnv, uniqueName } from "./index.js";
import { ServiceProcess } from "./process.js";

const PERSISTER = fileURLToPath(new URL("../../persister/dist/main.js", import.meta.url));
const MIGRATE = fileURLToPath(new URL("../../persister/dist/migrate.js", import.meta.url));

export interface StoredRow {
  readonly room: string;
  readonly seq: number;
  readonly id: string;
}

/**
 * The distributed deployment on the local real services: gateways on Redis, Kafka and PostgreSQL, and a persister,
 * each a process of its own. Every stack has its own database, topics, consumer group and Redis key prefix.
 */
export class Stack {
  readonly gateways: GatewayProcess[] = [];
  persister: ServiceProcess | undefined;

  private constructor(
    readonly database: FreshDatabase,
    readonly env: Record<string, string>,
    /** Variables only the persister gets. */
    private readonly persisterEnv: Record<string, string> = {},
    private readonly persisterNodeArgs: readonly string[] = [],
    /** What every gateway of the stack is started with. */
    private readonly gatewayStart: { readonly env: Record<string, string>; readonly nodeArgs: readonly string[] } = {
      env: {},
      nodeArgs: [],
    },
  ) {}

  static async start({
    gateways = 2,
    gatewayEnv = {},
    gatewayNodeArgs = [],
    persisterNodeArgs = [],
    gapTimeoutMs = 30_000,
    otelEndpoint,
    redisCluster = false,
  }: {
    gateways?: number;
    gatewayEnv?: Record<string, string>;
    /** Node's flags for the gateways (e.g. `--cpu-prof`). */
    gatewayNodeArgs?: readonly string[];
    /** Node's flags for the persister. */
    persisterNodeArgs?: readonly string[];
    /** The persister's PARLEY_GAP_TIMEOUT_MS. */
    gapTimeoutMs?: number;
    /** The persister's PARLEY_OTEL_ENDPOINT (gateways take theirs from `gatewayEnv`). */
    otelEndpoint?: string;
    /** Gateways and persister on the local Redis Cluster instead of the standalone Redis. */
    redisCluster?: boolean;
  } = {}) {
    const services = serviceEnv();
    const database = await freshDatabase("stack");
    const topic = uniqueName("parley.messages");
    const env = {
      PARLEY_DATABASE_URL: database.url,
      PARLEY_KAFKA_BROKERS: services.kafkaBrokers.join(","),
      PARLEY_KAFKA_TOPIC: topic,
      PARLEY_KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      PARLEY_KAFKA_PARTITIONS: "4",
      PARLEY_REDIS_URL: redisCluster ? services.redisClusterUrls : services.redisUrl,
      PARLEY_REDIS_CLUSTER: String(redisCluster),
      PARLEY_REDIS_PREFIX: uniqueName("parley"),
      PARLEY_GAP_TIMEOUT_MS: String(gapTimeoutMs),
    };
    const stack = new Stack(
      database,
      env,
      otelEndpoint === undefined ? {} : { PARLEY_OTEL_ENDPOINT: otelEndpoint },
      persisterNodeArgs,
      {
        env: { ...env, PARLEY_BUS: "redis", PARLEY_LOG: "kafka", PARLEY_STORE: "postgres", ...gatewayEnv },
        nodeArgs: gatewayNodeArgs,
      },
    );
    await promisify(execFile)(process.execPath, [MIGRATE], { env: { PATH: process.env.PATH ?? "", ...env } });
    await Promise.all(Array.from({ length: gateways }, () => stack.startGateway()));
    await stack.startPersister();
    return stack;
  }

  /** Starts one more gateway like the others (on new ports) and adds it to `gateways`. */
  async startGateway(): Promise<GatewayProcess> {
    const gateway = await GatewayProcess.start(this.gatewayStart.env, this.gatewayStart.nodeArgs);
    this.gateways.push(gateway);
    return gateway;
  }

  async startPersister(): Promise<ServiceProcess> {
    this.persister = await ServiceProcess.start(
      PERSISTER,
      {
        ...this.env,
        PARLEY_KAFKA_GROUP: `${this.env.PARLEY_KAFKA_TOPIC}-persister`,
        PARLEY_METRICS_PORT: "0",
        // A killed persister's partitions move to its successor after this, rather than the default 30 s.
        PARLEY_KAFKA_SESSION_TIMEOUT_MS: "6000",
        PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS: "1000",
        ...this.persisterEnv,
      },
      (log) => log.msg === "persister consuming",
      { nodeArgs: this.persisterNodeArgs },
    );
    return this.persister;
  }

  /** Every stored message key, in (room, seq) order. */
  rows(): Promise<StoredRow[]> {
    return withClient(this.database.url, async (client) => {
      const result = await client.query<{ room: string; seq: string; id: string }>(
        "SELECT room, seq, id FROM messages ORDER BY room, seq",
      );
      return result.rows.map((row) => ({ room: row.room, seq: Number(row.seq), id: row.id }));
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.gateways.map((gateway) => gateway.service.stop()), this.persister?.stop()]);
    await this.database.drop();
  }
}
