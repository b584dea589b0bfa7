/**
 * Centrifugo as a peer in the fan-out benchmark: what users would pick instead of Parley, run as N nodes on one
 * Redis, configured as close to Parley's Bus as Centrifugo allows. The load generator speaks to it through
 * `loadgen/centrifugo.ts`; the binary is built by `scripts/tools.sh centrifugo` (`PARLEY_CENTRIFUGO`).
 *
 * The nodes share one generated config file (written to a temp folder per run, removed by `stop`), checked with
 * `centrifugo checkconfig --strict` first, because the server itself only warns about keys it does not know and a
 * misspelt option would silently benchmark the defaults. What it sets, against Parley's Bus:
 * - the Redis engine (broker and presence manager), keys under `prefix`: Parley's Redis Pub/Sub fan-out and presence;
 * - a namespace for the rooms with a history capped at 1,000 publications like Parley's recent buffer (kept 300 s
 *   after a room's last publication), and forced recovery, which implies positioning: offsets on every publication, as Parley's seqs, and a resubscribe with the
 *   last offset replays what was missed, as Parley's join with `since`;
 * - presence with joins and leaves pushed to every subscriber, as Parley announces presence to the room's members;
 * - clients publish into the channels they are subscribed to (Parley's `send` to a joined room), connect with an
 *   HS256 JWT whose `sub` is the user, and may read the history of their channels (Parley's history API);
 * - the health endpoint on, the server HTTP API and usage stats off.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, waitFor } from "@parley/testkit";
import { CENTRIFUGO_NAMESPACE, CENTRIFUGO_TOKEN_SECRET } from "./loadgen/centrifugo.js";

/** Parley's recent buffer holds this many messages per room (PARLEY_RECENT_LIMIT's default). */
const HISTORY_SIZE = 1000;
const HISTORY_TTL = "300s";
/** Stream meta (epoch, offset) outlives the history: an hour, not the default 30 days, so a run's keys go soon. */
const HISTORY_META_TTL = "3600s";
/** How long a node may take to answer its health endpoint. */
const START_TIMEOUT_MS = 30_000;
/** Centrifugo's own shutdown gives up after `shutdown.timeout` (30 s by default); SIGKILL only past that. */
const STOP_GRACE_MS = 40_000;

export interface CentrifugoCluster {
  /** One `ws://127.0.0.1:PORT` base URL per node, in node order. */
  readonly targets: readonly string[];
  /** The nodes' process ids, in node order (to sample their CPU, or to kill one). */
  readonly pids: readonly number[];
  /** SIGTERMs every node, waits for them to exit and removes the run's config folder. */
  stop(): Promise<void>;
}

export interface CentrifugoOptions {
  /** The centrifugo executable (`PARLEY_CENTRIFUGO` from `scripts/tools.sh env`). */
  readonly binary: string;
  /** The Redis every node uses as broker and presence manager. */
  readonly redisUrl: string;
  /** How many nodes to run, each on its own port. */
  readonly nodes: number;
  /** Prefix of every Redis key and Pub/Sub channel of this cluster, unique per run so that runs never see each other. */
  readonly prefix: string;
}

/** The config every node runs with; each node's port comes on its command line. */
function config(redisUrl: string, prefix: string): object {
  return {
    http_server: { address: "127.0.0.1" },
    engine: { type: "redis", redis: { address: [redisUrl], prefix } },
    client: { token: { hmac_secret_key: CENTRIFUGO_TOKEN_SECRET } },
    channel: {
      namespaces: [
        {
          name: CENTRIFUGO_NAMESPACE,
          history_size: HISTORY_SIZE,
          history_ttl: HISTORY_TTL,
          history_meta_ttl: HISTORY_META_TTL,
          force_recovery: true,
          presence: true,
          join_leave: true,
          force_push_join_leave: true,
          allow_subscribe_for_client: true,
          allow_publish_for_subscriber: true,
          allow_history_for_subscriber: true,
        },
      ],
    },
    health: { enabled: true },
    http_api: { disabled: true },
    usage_stats: { disabled: true },
  };
}

interface Node {
  readonly port: number;
  readonly pid: number;
  readonly log: string;
  readonly child: ChildProcess;
  /** How the process ended ("exit code 1", "signal SIGTERM", a spawn error), once it has. */
  readonly exited: Promise<string>;
}

/**
 * Starts `nodes` Centrifugo nodes, each on its own free loopback port, and resolves once every one answers its
 * health endpoint. The nodes get an empty environment, so no CENTRIFUGO_* variable of the caller's overrides the
 * generated config. If any node fails to start, all are stopped and the error carries that node's log.
 */
export async function startCentrifugo(options: CentrifugoOptions): Promise<CentrifugoCluster> {
  const { binary, redisUrl, nodes, prefix } = options;
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`startCentrifugo: nodes must be a whole number >= 1`);
  const dir = await mkdtemp(join(tmpdir(), "parley-centrifugo-"));
  const configFile = join(dir, "config.json");
  await writeFile(configFile, `${JSON.stringify(config(redisUrl, prefix), null, 2)}\n`);
  const started: Node[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map(stopNode));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await promisify(execFile)(binary, ["checkconfig", "--strict", "--config", configFile], { env: {} }).catch(
      (error: unknown) => {
        // It prints what is wrong (unknown keys, invalid values) on stdout and exits 1.
        const said = error instanceof Error && "stdout" in error ? String(error.stdout).trim() : "";
        const missing = error instanceof Error && "code" in error && error.code === "ENOENT";
        throw new Error(
          `centrifugo checkconfig: ${said || String(error)}${missing ? " (scripts/tools.sh centrifugo builds it)" : ""}`,
        );
      },
    );
    const ports = new Set<number>();
    while (ports.size < nodes) ports.add(await freePort());
    for (const [i, port] of [...ports].entries()) started.push(await spawnNode(binary, configFile, port, dir, i));
    await Promise.all(started.map(healthy));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    targets: started.map(({ port }) => `ws://127.0.0.1:${port}`),
    pids: started.map(({ pid }) => pid),
    stop,
  };
}

async function spawnNode(binary: string, configFile: string, port: number, dir: string, i: number): Promise<Node> {
  const log = join(dir, `node-${i}.log`);
  const file = await open(log, "w");
  try {
    const child = spawn(binary, ["--config", configFile, "--http_server.port", String(port)], {
      env: {},
      stdio: ["ignore", file.fd, file.fd],
    });
    const exited = new Promise<string>((resolve) => {
      child.once("exit", (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
      child.once("error", (error) => resolve(`spawn error: ${error.message}`));
    });
    if (child.pid === undefined) throw new Error(`centrifugo ${binary}: ${await exited}`);
    return { port, pid: child.pid, log, child, exited };
  } finally {
    await file.close(); // the child has its own copy of the descriptor
  }
}

async function healthy(node: Node): Promise<void> {
  const url = `http://127.0.0.1:${node.port}/health`;
  let ended: string | undefined;
  void node.exited.then((how) => {
    ended = how;
  });
  try {
    await waitFor(async () => ended !== undefined || (await fetch(url)).ok, `centrifugo to answer ${url}`, {
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: 50,
    });
    if (ended !== undefined) throw new Error(`centrifugo on port ${node.port} ended (${ended}) before it was healthy`);
  } catch (error) {
    const tail = (await readFile(node.log, "utf8")).trimEnd().split("\n").slice(-30).join("\n");
    throw new Error(`${error instanceof Error ? error.message : String(error)}; its log ends:\n${tail}`);
  }
}

async function stopNode({ child, exited }: Node): Promise<void> {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
