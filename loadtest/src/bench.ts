/**
 * The benchmark harness: starts the local stack with N gateways (Redis bus, Kafka log, PostgreSQL store, a
 * persister) and a Socket.IO + @socket.io/redis-adapter baseline with N servers on the same Redis, and drives both
 * with the same k6 load generator.
 *
 *   npm run bench        # builds, starts the local services, runs everything below (about 15 minutes)
 *
 * Scenarios (BENCH_SCENARIOS, comma-separated; all by default):
 * - `fanout`: CONNECTIONS connections in rooms of ROOM_SIZE, every connection sending, at each offered load of
 *   BENCH_LOADS (messages/s in all) for Parley and then for the baseline; the point at BENCH_TARGET_LOAD is the
 *   10,000-connection acceptance run and must pass its k6 thresholds.
 * - `broadcast` (Parley): every connection in one room, five of them sending BENCH_BROADCAST_LOAD messages/s in all.
 * - `ack` (Parley): send -> durable ack at BENCH_ACK_LOAD messages/s (default 1,000) from BENCH_ACK_CONNECTIONS
 *   connections (default 1,000) in rooms of 10, so that the load generator's own work stays small.
 * - `storm` (Parley): a third into the steady phase the first gateway is killed (SIGKILL); all its clients
 *   reconnect to the others at once, rejoin with `since` and resend what was not acked. Thresholds: no gaps,
 *   complete replays, no errors.
 *
 * Writes, per run, k6's summary and HTML report under `.parley/bench/<date>/<run>/`, all figures to
 * `.parley/bench/<date>/results.json`, the charts to BENCH_CHARTS_DIR (default `docs/benchmarks/`), and prints a
 * Markdown table. Exits non-zero if a run that must pass its thresholds did not.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { serviceEnv, uniqueName } from "@parley/testkit";
import { type Scrape, scrape } from "@parley/testkit/metrics";
import { ServiceProcess } from "@parley/testkit/process";
import { Stack } from "@parley/testkit/stack";
import { renderCharts } from "./charts.js";
import { type K6Result, runK6 } from "./k6.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOCKETIO_SERVER = fileURLToPath(new URL("./socketio-server.js", import.meta.url));

const settings = {
  connections: Number(process.env.BENCH_CONNECTIONS ?? 10_000),
  servers: Number(process.env.BENCH_GATEWAYS ?? 2),
  roomSize: Number(process.env.BENCH_ROOM_SIZE ?? 100),
  loads: (process.env.BENCH_LOADS ?? "25,50,100,150,200").split(",").map(Number),
  targetLoad: Number(process.env.BENCH_TARGET_LOAD ?? 50),
  broadcastLoad: Number(process.env.BENCH_BROADCAST_LOAD ?? 1),
  stormLoad: Number(process.env.BENCH_STORM_LOAD ?? 50),
  ackLoad: Number(process.env.BENCH_ACK_LOAD ?? 1000),
  ackConnections: Number(process.env.BENCH_ACK_CONNECTIONS ?? 1000),
  rampS: Number(process.env.BENCH_RAMP_S ?? 20),
  durationS: Number(process.env.BENCH_DURATION_S ?? 30),
  scenarios: (process.env.BENCH_SCENARIOS ?? "fanout,broadcast,ack,storm").split(","),
};
const SETTLE_S = 5;
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const outDir = `${ROOT}.parley/bench/${stamp}`;
const chartsDir = process.env.BENCH_CHARTS_DIR ?? `${ROOT}docs/benchmarks`;

/** One k6 run, as reported. */
export interface Point {
  readonly run: string;
  readonly system: "parley" | "socketio";
  readonly scenario: string;
  /** Messages per second the senders offered, and the deliveries that makes at the room size. */
  readonly offeredSends: number;
  readonly offeredDeliveries: number;
  readonly deliveriesPerSecond: number;
  /** Delivery latency (sender's timestamp in the body -> received), ms. */
  readonly latency: { readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number };
  readonly ackP99: number;
  readonly connectSuccess: number;
  readonly errors: number;
  readonly gaps: number;
  readonly duplicates: number;
  readonly retries: number;
  readonly reconnects: number;
  /**
   * CPU seconds the servers (gateways or Socket.IO servers) used during the run, all together; NaN when one died
   * during the run (the reconnect storm kills one), as its CPU time went with it.
   */
  readonly serverCpuSeconds: number;
  /** Server CPU per delivery in the steady phase (no connects or joins), microseconds; NaN as above. */
  readonly serverCpuMicrosPerDelivery: number;
  /** Whether k6's thresholds passed. */
  readonly passed: boolean;
  /** Parley only: the gateways' own timing of the run's sends, from their /metrics. */
  readonly server?: {
    /** Send frame received -> ack sent. */
    readonly ack: ServerLatency;
    /** Sequencing: the Bus's publish script in Redis. */
    readonly publish: ServerLatency;
    /** The Kafka append (acks from all in-sync replicas). */
    readonly append: ServerLatency;
    /** A message's send -> handed to a gateway's members (once per message and gateway). */
    readonly fanout: ServerLatency;
  };
}

/** A gateway latency histogram over one run, all gateways together. */
interface ServerLatency {
  readonly count: number;
  /** Share of observations within 50 ms. */
  readonly within50ms: number;
  /** Upper bound of the bucket holding the 99th percentile, ms. */
  readonly p99AtMostMs: number;
}

interface System {
  readonly name: Point["system"];
  readonly targets: string[];
  readonly processes: ServiceProcess[];
  /** Where each gateway serves /metrics (none for the baseline). */
  readonly metricsPorts: number[];
  stop(): Promise<void>;
}

async function startParley(): Promise<System> {
  const stack = await Stack.start({
    gateways: settings.servers,
    // As the figures in docs/benchmarks.md were measured (the default is 60 s; uWS pings idle receivers either way).
    gatewayEnv: { PARLEY_IDLE_TIMEOUT_SECONDS: "120" },
  });
  return {
    name: "parley",
    targets: stack.gateways.map((gateway) => gateway.wsEndpoint),
    processes: stack.gateways.map((gateway) => gateway.service),
    metricsPorts: stack.gateways.map((gateway) => Number(gateway.service.readyLog.metricsPort)),
    stop: () => stack.stop(),
  };
}

async function startSocketIo(): Promise<System> {
  const key = uniqueName("socket.io");
  const processes = await Promise.all(
    Array.from({ length: settings.servers }, () =>
      ServiceProcess.start(
        SOCKETIO_SERVER,
        { REDIS_URL: serviceEnv().redisUrl, PORT: "0", REDIS_KEY: key },
        (log) => log.msg === "socket.io baseline listening",
      ),
    ),
  );
  return {
    name: "socketio",
    targets: processes.map((server) => `ws://127.0.0.1:${String(server.readyLog.port)}`),
    processes,
    metricsPorts: [],
    stop: async () => {
      await Promise.all(processes.map((server) => server.stop()));
    },
  };
}

/** utime + stime of a process, in seconds (clock ticks of 1/100 s). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

async function serversCpu(system: System): Promise<number> {
  const each = await Promise.all(system.processes.map((server) => cpuSeconds(server.child.pid)));
  return each.reduce((sum, seconds) => sum + seconds, 0);
}

/**
 * How a histogram of the gateways moved between two scrapes of each, over the gateways that answered both (one
 * killed during the run has taken its counts with it).
 */
function histogramDelta(
  scrapedBefore: readonly (Scrape | undefined)[],
  scrapedAfter: readonly (Scrape | undefined)[],
  name: string,
  labels: Record<string, string> = {},
): ServerLatency {
  const answered = scrapedBefore.flatMap((scrape, index) => {
    const later = scrapedAfter[index];
    return scrape && later ? [[scrape, later] as const] : [];
  });
  const before = answered.map(([scrape]) => scrape);
  const after = answered.map(([, scrape]) => scrape);
  const bucket = `${name}_bucket`;
  const sum = (scrapes: readonly Scrape[], le: string) =>
    scrapes.reduce((total, scrape) => total + scrape.value(bucket, { ...labels, le }), 0);
  const delta = (le: string) => sum(after, le) - sum(before, le);
  const bounds = [
    ...new Set(after.flatMap((scrape) => scrape.select(bucket, labels).map((sample) => sample.labels.le ?? "+Inf"))),
  ];
  const count = delta("+Inf");
  const p99 = bounds.find((le) => delta(le) >= 0.99 * count) ?? "+Inf";
  return {
    count,
    within50ms: count === 0 ? Number.NaN : delta("0.05") / count,
    p99AtMostMs: p99 === "+Inf" ? Number.POSITIVE_INFINITY : Number(p99) * 1000,
  };
}

const scrapeAll = (system: System) =>
  Promise.all(system.metricsPorts.map((port) => scrape(port).catch(() => undefined)));

const points: Point[] = [];

async function measure(
  system: System,
  scenario: string,
  {
    sends,
    roomSize,
    senders,
    connections = settings.connections,
    vars = {},
    during,
  }: {
    sends: number;
    roomSize: number;
    senders: number;
    connections?: number;
    vars?: Record<string, string>;
    during?: () => void;
  },
): Promise<Point> {
  const run = `${system.name}-${scenario}-${sends}`;
  const sendIntervalMs = Math.round((senders / sends) * 1000);
  const cpuBefore = await serversCpu(system);
  const metricsBefore = await scrapeAll(system);
  const steadyStart = (settings.rampS + SETTLE_S) * 1000;
  const steady: Promise<number>[] = [];
  const timers = [
    // k6 takes about a second to start; the steady window is measured a second in and ends with the sends.
    setTimeout(() => steady.push(serversCpu(system)), steadyStart + 1000),
    setTimeout(() => steady.push(serversCpu(system)), steadyStart + settings.durationS * 1000),
  ];
  if (during) timers.push(setTimeout(during, steadyStart + (settings.durationS * 1000) / 3));
  let result: K6Result;
  try {
    result = await runK6(
      system.name === "parley" ? "chat" : "socketio",
      {
        TARGETS: system.targets.join(","),
        CONNECTIONS: String(connections),
        ROOM_SIZE: String(roomSize),
        SEND_EVERY: String(Math.round(connections / senders)),
        SEND_INTERVAL_MS: String(sendIntervalMs),
        RAMP_S: String(settings.rampS),
        SETTLE_S: String(SETTLE_S),
        DURATION_S: String(settings.durationS),
        ...vars,
      },
      `${outDir}/${run}`,
    );
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
  const [steadyFrom = 0, steadyTo = 0] = await Promise.all(steady);
  const serverDied = system.processes.some(
    (server) => server.child.exitCode !== null || server.child.signalCode !== null,
  );
  const metricsAfter = await scrapeAll(system);
  const server = (name: string, labels?: Record<string, string>) =>
    histogramDelta(metricsBefore, metricsAfter, name, labels);
  const metric = (name: string) => result.summary.metrics[name] ?? {};
  const latency = metric("chat_delivery_latency");
  const deliveries = metric("chat_messages_received").count ?? 0;
  const point: Point = {
    run,
    system: system.name,
    scenario,
    offeredSends: sends,
    offeredDeliveries: sends * roomSize,
    deliveriesPerSecond: Math.round(deliveries / settings.durationS),
    latency: {
      p50: latency.med ?? Number.NaN,
      p95: latency["p(95)"] ?? Number.NaN,
      p99: latency["p(99)"] ?? Number.NaN,
      max: latency.max ?? Number.NaN,
    },
    ackP99: metric("chat_ack_latency")["p(99)"] ?? Number.NaN,
    connectSuccess: metric("chat_connect_success").value ?? 0,
    errors: metric("chat_errors").count ?? 0,
    gaps: metric("chat_gaps").count ?? 0,
    duplicates: metric("chat_duplicates").count ?? 0,
    retries: metric("chat_retries").count ?? 0,
    reconnects: metric("chat_reconnects").count ?? 0,
    serverCpuSeconds: serverDied ? Number.NaN : Number(((await serversCpu(system)) - cpuBefore).toFixed(1)),
    serverCpuMicrosPerDelivery: serverDied
      ? Number.NaN
      : Number(
          (((steadyTo - steadyFrom) * 1e6) / (deliveries * ((settings.durationS - 1) / settings.durationS))).toFixed(1),
        ),
    passed: result.code === 0,
    ...(system.name === "parley"
      ? {
          server: {
            ack: server("parley_gateway_ack_latency_seconds"),
            publish: server("parley_gateway_bus_call_duration_seconds", { op: "publish" }),
            append: server("parley_gateway_log_append_duration_seconds"),
            fanout: server("parley_gateway_fanout_latency_seconds"),
          },
        }
      : {}),
  };
  if (result.code !== 0 && result.code !== 99) throw new Error(`k6 failed (exit ${result.code}):\n${result.output}`);
  points.push(point);
  console.error(JSON.stringify(point));
  return point;
}

const mustPass: Point[] = [];
await mkdir(outDir, { recursive: true });

if (["fanout", "broadcast", "ack"].some((scenario) => settings.scenarios.includes(scenario))) {
  const parley = await startParley();
  try {
    if (settings.scenarios.includes("fanout")) {
      for (const sends of settings.loads) {
        const point = await measure(parley, "fanout", {
          sends,
          roomSize: settings.roomSize,
          senders: settings.connections,
        });
        if (sends === settings.targetLoad) mustPass.push(point);
      }
    }
    if (settings.scenarios.includes("broadcast")) {
      await measure(parley, "broadcast", {
        sends: settings.broadcastLoad,
        roomSize: settings.connections,
        senders: 5,
      });
    }
    if (settings.scenarios.includes("ack")) {
      await measure(parley, "ack", {
        sends: settings.ackLoad,
        roomSize: 10,
        senders: settings.ackConnections,
        connections: settings.ackConnections,
      });
    }
  } finally {
    await parley.stop();
  }
}

if (settings.scenarios.includes("storm")) {
  const parley = await startParley();
  try {
    const victim = parley.processes[0];
    mustPass.push(
      await measure(parley, "storm", {
        sends: settings.stormLoad,
        roomSize: settings.roomSize,
        senders: settings.connections,
        // Replayed messages arrive late by design; this run is judged on gaps, replays and errors.
        vars: { RECONNECT: "1", P95_MS: "60000", P99_MS: "60000", ACK_P99_MS: "60000" },
        during: () => victim?.kill("SIGKILL"),
      }),
    );
  } finally {
    await parley.stop();
  }
}

if (settings.scenarios.includes("fanout")) {
  const baseline = await startSocketIo();
  try {
    for (const sends of settings.loads) {
      await measure(baseline, "fanout", { sends, roomSize: settings.roomSize, senders: settings.connections });
    }
  } finally {
    await baseline.stop();
  }
}

await writeFile(`${outDir}/results.json`, `${JSON.stringify({ settings, date: new Date(), points }, null, 2)}\n`);
const fanout = points.filter((point) => point.scenario === "fanout");
if (fanout.length > 0) {
  const title = `Room fan-out: ${settings.connections.toLocaleString("en")} connections in rooms of ${settings.roomSize}, ${settings.servers} servers (${stamp.slice(0, 10)})`;
  await renderCharts(fanout, chartsDir, title);
}
console.log(table(points));
console.log(`\n${serverTable(points)}`);
console.log(`\nk6 reports and results.json: ${outDir}`);
const failed = mustPass.filter((point) => !point.passed);
if (failed.length > 0) {
  console.error(`thresholds failed: ${failed.map((point) => point.run).join(", ")}`);
  process.exitCode = 1;
}

function table(rows: readonly Point[]): string {
  const lines = [
    "| run | offered msg/s | deliveries/s | p50 / p95 / p99 ms | ack p99 ms | server CPU µs/delivery | connected | errors | gaps / duplicates | thresholds |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const { p50, p95, p99 } = row.latency;
    lines.push(
      `| ${row.run} | ${row.offeredSends} | ${row.deliveriesPerSecond.toLocaleString("en")} | ${p50.toFixed(0)} / ${p95.toFixed(0)} / ${p99.toFixed(0)} | ${row.ackP99.toFixed(0)} | ${Number.isNaN(row.serverCpuMicrosPerDelivery) ? "n/a" : row.serverCpuMicrosPerDelivery} | ${(row.connectSuccess * 100).toFixed(1)} % | ${row.errors} | ${row.gaps} / ${row.duplicates} | ${row.passed ? "pass" : "fail"} |`,
    );
  }
  return lines.join("\n");
}

/**
 * The gateways' own view of each Parley run: how much of send -> ack the sequencing and the Kafka append took, and
 * how soon each message was handed to a gateway's members (what k6 measures beyond that is the kernel and k6).
 */
function serverTable(rows: readonly Point[]): string {
  const cell = ({ within50ms, p99AtMostMs }: ServerLatency) =>
    `${(within50ms * 100).toFixed(1)} % / ≤ ${p99AtMostMs} ms`;
  const lines = [
    "| run | sends timed | ack: within 50 ms / p99 | publish (Redis) | append (Kafka) | fan-out: send -> handed to members |",
    "|---|---|---|---|---|---|",
  ];
  for (const { run, server } of rows) {
    if (!server) continue;
    lines.push(
      `| ${run} | ${server.ack.count} | ${cell(server.ack)} | ${cell(server.publish)} | ${cell(server.append)} | ${cell(server.fanout)} |`,
    );
  }
  return lines.join("\n");
}
