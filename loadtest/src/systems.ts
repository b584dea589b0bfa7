/**
 * The systems the fan-out benchmark compares, each started on the local services with `servers` server processes
 * and described the same way: how the load generator speaks to it, where, and which processes are its servers.
 */
import { fileURLToPath } from "node:url";
import { serviceEnv, uniqueName } from "@parley/testkit";
import { ServiceProcess } from "@parley/testkit/process";
import { Stack } from "@parley/testkit/stack";
import { toolPath } from "@parley/testkit/tools";
import { startCentrifugo } from "./centrifugo.js";
import type { ProtocolName } from "./loadgen/protocols.js";

const SOCKETIO_SERVER = fileURLToPath(new URL("./socketio-server.js", import.meta.url));
const REFERENCE_SERVER = fileURLToPath(new URL("./reference-server.js", import.meta.url));

export const SYSTEM_NAMES = ["parley", "socketio", "reference", "centrifugo"] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export interface System {
  readonly name: SystemName;
  readonly protocol: ProtocolName;
  /** Base URLs, `ws://host:port`, one per server process. */
  readonly targets: readonly string[];
  /** The processes whose CPU is the system's own: gateways, Socket.IO servers, reference servers, nodes. */
  readonly serverPids: readonly number[];
  /** Parley's persister (the others have none). */
  readonly persisterPids: readonly number[];
  /** Where each gateway serves /metrics (Parley only). */
  readonly metricsPorts: readonly number[];
  stop(): Promise<void>;
}

export interface ParleySystem extends System {
  /** Kills gateway `index` at once (the reconnect storm). */
  kill(index: number): void;
}

const pidsOf = (processes: readonly ServiceProcess[]) =>
  processes.flatMap((service) => (service.child.pid === undefined ? [] : [service.child.pid]));

/** One of the systems Parley is compared with (Parley itself: {@link startParley}). */
export function startSystem(name: Exclude<SystemName, "parley">, servers: number): Promise<System> {
  switch (name) {
    case "socketio":
      return startServers(name, SOCKETIO_SERVER, servers, "socket.io baseline listening");
    case "reference":
      return startServers(name, REFERENCE_SERVER, servers, "reference listening");
    case "centrifugo":
      return startCentrifugoSystem(servers);
    default:
      throw new Error(`unknown system "${String(name)}" (expected ${SYSTEM_NAMES.join(", ")})`);
  }
}

/**
 * Parley as deployed: gateways on Redis, Kafka and PostgreSQL, and a persister, so the durable path runs.
 * `nodeArgs` are the gateways' and the persister's Node flags (the bench's BENCH_PROFILE passes `--cpu-prof`).
 */
export async function startParley(gateways: number, nodeArgs: readonly string[] = []): Promise<ParleySystem> {
  const stack = await Stack.start({
    gateways,
    gatewayNodeArgs: nodeArgs,
    persisterNodeArgs: nodeArgs,
    // As the figures in docs/benchmarks.md were measured (the default is 60 s; uWS pings idle receivers either way).
    gatewayEnv: { PARLEY_IDLE_TIMEOUT_SECONDS: "120" },
  });
  const services = stack.gateways.map((gateway) => gateway.service);
  return {
    name: "parley",
    protocol: "parley",
    targets: stack.gateways.map((gateway) => `ws://127.0.0.1:${gateway.port}`),
    serverPids: pidsOf(services),
    persisterPids: stack.persister ? pidsOf([stack.persister]) : [],
    metricsPorts: services.map((service) => Number(service.readyLog.metricsPort)),
    kill: (index) => services[index]?.kill("SIGKILL"),
    stop: () => stack.stop(),
  };
}

/** `servers` processes of a single-file server (the Socket.IO baseline, the bare uWS reference) on one Redis. */
async function startServers(
  name: "socketio" | "reference",
  entry: string,
  servers: number,
  listening: string,
): Promise<System> {
  const key = uniqueName(name);
  const processes = await Promise.all(
    Array.from({ length: servers }, () =>
      ServiceProcess.start(
        entry,
        { REDIS_URL: serviceEnv().redisUrl, PORT: "0", REDIS_KEY: key },
        (log) => log.msg === listening,
      ),
    ),
  );
  return {
    name,
    protocol: name === "socketio" ? "socketio" : "parley",
    targets: processes.map((server) => `ws://127.0.0.1:${String(server.readyLog.port)}`),
    serverPids: pidsOf(processes),
    persisterPids: [],
    metricsPorts: [],
    stop: async () => {
      await Promise.all(processes.map((server) => server.stop()));
    },
  };
}

/**
 * Centrifugo nodes on the same Redis (its Redis engine, history and recovery on: loadtest/src/centrifugo.ts), built
 * by `scripts/tools.sh centrifugo` on first use.
 */
async function startCentrifugoSystem(servers: number): Promise<System> {
  const centrifugo = await startCentrifugo({
    binary: toolPath("PARLEY_CENTRIFUGO", "centrifugo"),
    redisUrl: serviceEnv().redisUrl,
    nodes: servers,
    prefix: uniqueName("centrifugo"),
  });
  return {
    name: "centrifugo",
    protocol: "centrifugo",
    targets: centrifugo.targets,
    serverPids: centrifugo.pids,
    persisterPids: [],
    metricsPorts: [],
    stop: () => centrifugo.stop(),
  };
}
