/**
 * Idle connections on one gateway: RSS growth per connection at N open WebSockets.
 *
 *   npm run build && npm run bench:idle -w loadtest            # BENCH_CONNECTIONS=19000 by default
 *
 * Starts one gateway process as deployed (Redis bus, Kafka log, PostgreSQL store: `Stack` on the local services),
 * opens WARMUP connections so the heap and uWS have grown to a working size, lets the gateway sit idle, records the
 * RSS, opens the rest from several client processes (each under the 20,000 open-file limit, each from its own
 * 127.0.0.x source address so ephemeral ports never run out), lets every connection join a room of 100, and records
 * the RSS right after the burst and again once the gateway has been idle as long as before. Both baseline and final
 * reading come after the same idle time, so V8 has had the same chance to give back heap it grew for a burst (its
 * memory reducer waits for a low allocation rate). Each reading also has V8's live heap, reserved heap and external
 * memory from /metrics.
 *
 * Then the same for the bare uWS reference server (loadtest/src/reference-server.ts: uWS, one Redis subscriber, a
 * topic per room, no auth, state or metrics), the floor for any uWS server: BENCH_SYSTEMS=parley or =reference runs
 * one of them (RSS only for the reference).
 *
 * BENCH_SNAPSHOT=1 then has the gateway write a heap snapshot, which collects all garbage first: the reading after
 * it separates live heap from garbage V8 had not collected, and the snapshot's objects per connection say whose the
 * live bytes are (by constructor, largest first).
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { fileURLToPath } from "node:url";
import { scrape } from "@parley/testkit/metrics";
import { Stack } from "@parley/testkit/stack";
import { startSystem } from "./systems.js";

const connections = Number(process.env.BENCH_CONNECTIONS ?? 19_000);
const perClient = Number(process.env.BENCH_PER_CLIENT ?? 5_000);
const warmup = Number(process.env.BENCH_WARMUP ?? 1_000);
/** Whether each connection joins a room (BENCH_JOIN=0: bare connections). */
const join = process.env.BENCH_JOIN ?? "1";
const settleMs = Number(process.env.BENCH_SETTLE_MS ?? 5_000);
const idleMs = Number(process.env.BENCH_IDLE_MS ?? 120_000);
const snapshot = process.env.BENCH_SNAPSHOT === "1";
/** Parley's gateway, and the bare uWS reference server (loadtest/src/reference-server.ts) in the same run. */
const systems = (process.env.BENCH_SYSTEMS ?? "parley,reference").split(",");
const CLIENT = fileURLToPath(new URL("./idle-client.js", import.meta.url));
const snapshotDir = snapshot ? await mkdtemp(joinPath(tmpdir(), "parley-idle-")) : "";

/** A server under test: its process, where clients connect, and (Parley) where it serves /metrics. */
interface Server {
  readonly pid: number;
  /** The WebSocket URL up to the query, which the clients end with `user=<name>`. */
  readonly url: string;
  readonly metricsPort: number | undefined;
  stop(): Promise<void>;
}

async function startServer(system: string): Promise<Server> {
  if (system === "reference") {
    const reference = await startSystem("reference", 1);
    return {
      pid: reference.serverPids[0] ?? 0,
      url: `${reference.targets[0]}/ws?`,
      metricsPort: undefined,
      stop: () => reference.stop(),
    };
  }
  if (system !== "parley") throw new Error(`BENCH_SYSTEMS: unknown system "${system}" (parley, reference)`);
  const stack = await Stack.start({
    gateways: 1,
    gatewayEnv: { PARLEY_IDLE_TIMEOUT_SECONDS: "960" },
    gatewayNodeArgs: snapshot ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${snapshotDir}`] : [],
  });
  const gateway = stack.gateways[0];
  if (!gateway) throw new Error("no gateway");
  return {
    pid: gateway.service.child.pid ?? 0,
    url: gateway.wsUrl(""),
    metricsPort: Number(gateway.service.readyLog.metricsPort),
    stop: () => stack.stop(),
  };
}

/** The server's RSS and, from Parley's /metrics, where V8 has it: live heap, heap reserved, memory outside the heap. */
async function memory({ pid, metricsPort }: Server) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
  if (metricsPort === undefined) return { rss };
  const metrics = await scrape(metricsPort);
  return {
    rss,
    heapUsed: metrics.value("nodejs_heap_size_used_bytes"),
    heapTotal: metrics.value("nodejs_heap_size_total_bytes"),
    external: metrics.value("nodejs_external_memory_bytes"),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, settleMs));
const idle = () => new Promise((resolve) => setTimeout(resolve, idleMs));

async function measure(system: string): Promise<void> {
  const server = await startServer(system);
  const clients: ReturnType<typeof fork>[] = [];
  const open = async (first: number, count: number) => {
    const address = `127.0.0.${clients.length + 2}`;
    const child = fork(CLIENT, [server.url, String(first), String(count), address, join], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    clients.push(child);
    const [message] = (await once(child, "message")) as [{ open: number; failed: number }];
    if (message.failed > 0) throw new Error(`${message.failed} connections failed`);
  };

  await open(0, warmup);
  await idle();
  const before = await memory(server);
  for (let first = warmup; first < connections; first += perClient) {
    await open(first, Math.min(perClient, connections - first));
  }
  await settle();
  const after = await memory(server);
  await idle();
  const late = await memory(server);
  const added = connections - warmup;
  const base: Record<string, number> = before;
  const perConnection = (reading: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(reading).map(([field, value]) => [field, Math.round((value - (base[field] ?? 0)) / added)]),
    );
  console.log(
    JSON.stringify({
      system,
      connections,
      warmup,
      join: join === "1",
      rssAtWarmupMiB: Number((before.rss / 2 ** 20).toFixed(1)),
      rssAfterBurstMiB: Number((after.rss / 2 ** 20).toFixed(1)),
      rssIdleMiB: Number((late.rss / 2 ** 20).toFixed(1)),
      bytesPerConnectionAfterBurst: perConnection(after),
      [`bytesPerConnectionIdle${idleMs / 1000}s`]: perConnection(late),
    }),
  );
  if (snapshot && server.metricsPort !== undefined) {
    process.kill(server.pid, "SIGUSR2");
    const file = await writtenSnapshot();
    const collected = await memory(server);
    console.log(JSON.stringify({ system, bytesPerConnectionAfterSnapshotGc: perConnection(collected) }));
    console.log(topObjects(JSON.parse(await readFile(file, "utf8")), connections).join("\n"));
    await rm(snapshotDir, { recursive: true, force: true });
  }
  for (const child of clients) child.kill();
  await server.stop();
}

for (const system of systems) await measure(system);

/** The snapshot's path once its size stopped changing. */
async function writtenSnapshot(): Promise<string> {
  let size = -1;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const name = (await readdir(snapshotDir)).find((entry) => entry.endsWith(".heapsnapshot"));
    if (name === undefined) continue;
    const path = joinPath(snapshotDir, name);
    const now = (await stat(path)).size;
    if (now === size && now > 0) return path;
    size = now;
  }
}

interface HeapSnapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: [string[]] } };
  readonly nodes: number[];
  readonly strings: string[];
}

/** Bytes per connection by object kind (type and constructor), the 20 largest. */
function topObjects(heap: HeapSnapshot, count: number): string[] {
  const {
    node_fields: fields,
    node_types: [types],
  } = heap.snapshot.meta;
  const [type, name, size] = ["type", "name", "self_size"].map((field) => fields.indexOf(field)) as [
    number,
    number,
    number,
  ];
  const totals = new Map<string, { objects: number; bytes: number }>();
  for (let index = 0; index < heap.nodes.length; index += fields.length) {
    const kind = types[heap.nodes[index + type] ?? 0] ?? "";
    const key =
      kind === "object" || kind === "closure" ? `${kind} ${heap.strings[heap.nodes[index + name] ?? 0]}` : kind;
    const total = totals.get(key) ?? { objects: 0, bytes: 0 };
    total.objects++;
    total.bytes += heap.nodes[index + size] ?? 0;
    totals.set(key, total);
  }
  return [...totals]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, 20)
    .map(
      ([key, { objects, bytes }]) =>
        `${(bytes / count).toFixed(0).padStart(6)} B  ${(objects / count).toFixed(2).padStart(6)} per connection  ${key}`,
    );
}
