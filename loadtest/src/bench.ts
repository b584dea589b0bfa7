/**
 * The benchmark harness: side by side in one run, Parley (N gateways on Redis, Kafka and PostgreSQL, and a
 * persister, so the durable path runs), the Socket.IO + @socket.io/redis-adapter baseline, the bare uWebSockets.js
 * reference (the ceiling) and Centrifugo, each with N server processes on the same Redis, all driven by our own load
 * generator (`loadgen/`); k6 drives the SLO runs and is measured once for its own cost per frame.
 *
 *   npm run bench        # builds, starts the local services, runs everything below (about 35 minutes)
 *
 * Scenarios (BENCH_SCENARIOS, comma-separated; all by default):
 * - `fanout`: BENCH_CONNECTIONS connections in rooms of BENCH_ROOM_SIZE, every connection sending, at each load of
 *   BENCH_LOADS (messages/s in all; 200 to 700 in steps of 100, 1,000 and 2,000 = 20k to 200k deliveries/s offered),
 *   for each system of BENCH_SYSTEMS after BENCH_WARMUP_S (default 10) of its lowest load, unmeasured; then k6
 *   drives Parley at BENCH_K6_LOAD messages/s (0: not) to compare the generators' CPU per received frame.
 * - `broadcast` (Parley): every connection in one room, five of them sending BENCH_BROADCAST_LOAD messages/s in all.
 * - `ack` (Parley): send -> durable ack at BENCH_ACK_LOAD messages/s (default 1,000) from BENCH_ACK_CONNECTIONS
 *   connections (default 1,000) in rooms of 10, so that the load generator's own work stays small.
 * - `acceptance` (Parley, k6): the 10,000-connection run at BENCH_TARGET_LOAD messages/s; must pass its thresholds.
 * - `storm` (Parley, k6): a third into the steady phase the first gateway is killed (SIGKILL); all its clients
 *   reconnect to the others at once, rejoin with `since` and resend what was not acked. Thresholds: no gaps,
 *   complete replays, no errors.
 *
 * BENCH_PROFILE=1 runs those Parley gateways and the persister under `node --cpu-prof`: one profile per process in
 * `.parley/bench/<date>/profiles/`, written when they stop (open them in Chrome DevTools or speedscope).
 *
 * Per run it records deliveries/s, the delivered and acked shares, client-measured latencies, the servers' CPU per
 * delivery and the CPU of every process role (servers, Redis, Kafka, persister, PostgreSQL, load generator) over
 * the measured window. Our generator's windows are its sends plus the drain, with BENCH_LOADGEN_WORKERS worker
 * processes (default 2); k6's are its steady phase (BENCH_RAMP_S of connecting, then BENCH_DURATION_S of sending).
 *
 * Writes k6's summaries and HTML reports under `.parley/bench/<date>/<run>/`, all figures to
 * `.parley/bench/<date>/results.json`, the chart to BENCH_CHARTS_DIR (default `docs/benchmarks/`), and prints
 * Markdown tables. Exits non-zero if a run that must pass its thresholds did not.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type Scrape, scrape } from "@parley/testkit/metrics";
import { renderCharts } from "./charts.js";
import { type CpuSample, type CpuSplit, cpuBetween, type RolePids, sampleCpu, servicePids } from "./cpu.js";
import { runK6 } from "./k6.js";
import { type LoadOptions, runLoad } from "./loadgen/load.js";
import {
  cpuTable,
  fanoutTable,
  generatorCost,
  type Point,
  runsTable,
  type Scenario,
  type ServerLatency,
  serverTable,
  sustainedTable,
} from "./report.js";
import { type ParleySystem, SYSTEM_NAMES, type System, startParley, startSystem } from "./systems.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const settings = {
  connections: Number(process.env.BENCH_CONNECTIONS ?? 10_000),
  servers: Number(process.env.BENCH_GATEWAYS ?? 2),
  roomSize: Number(process.env.BENCH_ROOM_SIZE ?? 100),
  loads: (process.env.BENCH_LOADS ?? "200,300,400,500,600,700,1000,2000").split(",").map(Number),
  systems: (process.env.BENCH_SYSTEMS ?? SYSTEM_NAMES.join(",")).split(",").map(systemName),
  k6Load: Number(process.env.BENCH_K6_LOAD ?? 200),
  targetLoad: Number(process.env.BENCH_TARGET_LOAD ?? 50),
  broadcastLoad: Number(process.env.BENCH_BROADCAST_LOAD ?? 1),
  stormLoad: Number(process.env.BENCH_STORM_LOAD ?? 50),
  ackLoad: Number(process.env.BENCH_ACK_LOAD ?? 1000),
  ackConnections: Number(process.env.BENCH_ACK_CONNECTIONS ?? 1000),
  loadgenWorkers: Number(process.env.BENCH_LOADGEN_WORKERS ?? 2),
  rampS: Number(process.env.BENCH_RAMP_S ?? 20),
  durationS: Number(process.env.BENCH_DURATION_S ?? 30),
  warmupS: Number(process.env.BENCH_WARMUP_S ?? 10),
  scenarios: (process.env.BENCH_SCENARIOS ?? "fanout,broadcast,ack,acceptance,storm").split(","),
  profile: process.env.BENCH_PROFILE === "1",
};
/** k6's pause between the ramp and the sends. */
const K6_SETTLE_S = 5;
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const outDir = `${ROOT}.parley/bench/${stamp}`;
const chartsDir = process.env.BENCH_CHARTS_DIR ?? `${ROOT}docs/benchmarks`;

function systemName(name: string): System["name"] {
  const found = SYSTEM_NAMES.find((known) => known === name);
  if (!found) throw new Error(`BENCH_SYSTEMS: unknown system "${name}" (expected ${SYSTEM_NAMES.join(", ")})`);
  return found;
}

/** The processes of every role while `system` runs; the generator's are added by the caller. */
async function rolePids(system: System, generator: readonly number[]): Promise<RolePids> {
  return {
    servers: system.serverPids,
    persister: system.persisterPids,
    generator,
    ...(await servicePids(process.env)),
  };
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

/** Parley's gateway timings over a run, from /metrics scraped before and after it. */
function serverTimings(
  system: System,
  before: readonly (Scrape | undefined)[],
  after: readonly (Scrape | undefined)[],
) {
  if (system.metricsPorts.length === 0) return {};
  const server = (name: string, labels?: Record<string, string>) => histogramDelta(before, after, name, labels);
  return {
    server: {
      ack: server("parley_gateway_ack_latency_seconds"),
      publish: server("parley_gateway_bus_call_duration_seconds", { op: "publish" }),
      append: server("parley_gateway_log_append_duration_seconds"),
      fanout: server("parley_gateway_fanout_latency_seconds"),
    },
  };
}

interface Shape {
  /** Messages per second, in all. */
  readonly sends: number;
  readonly roomSize: number;
  readonly connections: number;
  /** Connection n sends when n is a multiple of this. */
  readonly sendEvery: number;
}

const points: Point[] = [];

function record(point: Point): Point {
  points.push(point);
  console.error(JSON.stringify(point));
  return point;
}

/** Our generator's options for `shape` against `system`, sending for `durationS`. */
function loadOf(system: System, shape: Shape, durationS: number): LoadOptions {
  return {
    protocol: system.protocol,
    targets: system.targets,
    connections: shape.connections,
    roomSize: shape.roomSize,
    rate: shape.sends,
    durationS,
    sendEvery: shape.sendEvery,
    workers: settings.loadgenWorkers,
    sourceAddresses: true,
  };
}

/** One run of our load generator against `system`, with every process's CPU over its sends and drain. */
async function measureLoad(system: System, scenario: Scenario, shape: Shape): Promise<Point> {
  const metricsBefore = await scrapeAll(system);
  const samples: CpuSample[] = [];
  const sample = async () => {
    samples.push(await sampleCpu(await rolePids(system, [])));
  };
  const result = await runLoad({
    ...loadOf(system, shape, settings.durationS),
    window: { begin: sample, end: sample },
  });
  const [before, after] = samples;
  if (!before || !after) throw new Error("the load generator did not report its window");
  // The workers measure their own CPU over the same window.
  const cpu: CpuSplit = { ...cpuBetween(before, after), generator: result.generator.cpuSeconds };
  return record({
    run: `${system.name}-${scenario}-${shape.sends}`,
    system: system.name,
    scenario,
    generator: "loadgen",
    connections: shape.connections,
    roomSize: shape.roomSize,
    offeredSends: shape.sends,
    offeredDeliveries: shape.sends * shape.roomSize,
    deliveriesPerSecond: Math.round(result.deliveriesPerSecond),
    deliveredShare: result.deliveredShare,
    latency: result.latency,
    ackP99: result.ackLatency.p99,
    ackedShare: result.ackedShare,
    errors: result.errors,
    windowS: result.windowS,
    cpu,
    serverCpuMicrosPerDelivery: (cpu.servers * 1e6) / result.deliveries,
    generatorMicrosPerFrame: result.generator.microsPerFrame,
    load: { connections: result.connections, errorSamples: result.errorSamples },
    ...serverTimings(system, metricsBefore, await scrapeAll(system)),
  });
}

/**
 * One k6 run against Parley; the CPU window is its steady phase from a second in (k6 takes about a second to start)
 * to the end of the sends, k6's own CPU included.
 */
async function measureK6(
  system: ParleySystem,
  scenario: Scenario,
  shape: Shape,
  { vars = {}, during }: { vars?: Record<string, string>; during?: () => void } = {},
): Promise<Point> {
  const run = `${system.name}-${scenario}-${shape.sends}`;
  const senders = Math.ceil(shape.connections / shape.sendEvery);
  const metricsBefore = await scrapeAll(system);
  let k6Pid: number | undefined;
  const samples: Promise<CpuSample>[] = [];
  const sample = () => samples.push(rolePids(system, k6Pid === undefined ? [] : [k6Pid]).then(sampleCpu));
  const steadyStart = (settings.rampS + K6_SETTLE_S) * 1000;
  const timers = [setTimeout(sample, steadyStart + 1000), setTimeout(sample, steadyStart + settings.durationS * 1000)];
  if (during) timers.push(setTimeout(during, steadyStart + (settings.durationS * 1000) / 3));
  const result = await runK6(
    {
      TARGETS: system.targets.map((target) => `${target}/ws`).join(","),
      CONNECTIONS: String(shape.connections),
      ROOM_SIZE: String(shape.roomSize),
      SEND_EVERY: String(shape.sendEvery),
      SEND_INTERVAL_MS: String(Math.round((senders / shape.sends) * 1000)),
      RAMP_S: String(settings.rampS),
      SETTLE_S: String(K6_SETTLE_S),
      DURATION_S: String(settings.durationS),
      ...vars,
    },
    `${outDir}/${run}`,
    (pid) => {
      k6Pid = pid;
    },
  ).finally(() => {
    for (const timer of timers) clearTimeout(timer);
  });
  if (result.code !== 0 && result.code !== 99) throw new Error(`k6 failed (exit ${result.code}):\n${result.output}`);
  const [before, after] = await Promise.all(samples);
  if (!before || !after) throw new Error(`k6 ended before its steady phase did:\n${result.output}`);
  const cpu = cpuBetween(before, after);
  const metric = (name: string) => result.summary.metrics[name] ?? {};
  const latency = metric("chat_delivery_latency");
  const deliveries = metric("chat_messages_received").count ?? 0;
  const sent = metric("chat_messages_sent").count ?? 0;
  // Nearly every frame arrives during the sends; the window covers all of them but the first second.
  const inWindow = (settings.durationS - 1) / settings.durationS;
  return record({
    run,
    system: system.name,
    scenario,
    generator: "k6",
    connections: shape.connections,
    roomSize: shape.roomSize,
    offeredSends: shape.sends,
    offeredDeliveries: shape.sends * shape.roomSize,
    deliveriesPerSecond: Math.round(deliveries / settings.durationS),
    deliveredShare: sent === 0 ? Number.NaN : deliveries / (sent * shape.roomSize),
    latency: {
      p50: latency.med ?? Number.NaN,
      p95: latency["p(95)"] ?? Number.NaN,
      p99: latency["p(99)"] ?? Number.NaN,
      max: latency.max ?? Number.NaN,
    },
    ackP99: metric("chat_ack_latency")["p(99)"] ?? Number.NaN,
    ackedShare: Number.NaN,
    errors: metric("chat_errors").count ?? 0,
    windowS: settings.durationS - 1,
    cpu,
    serverCpuMicrosPerDelivery: (cpu.servers * 1e6) / (deliveries * inWindow),
    // k6's frames: the deliveries and the acks (one per send).
    generatorMicrosPerFrame: (cpu.generator * 1e6) / ((deliveries + sent) * inWindow),
    k6: {
      passed: result.code === 0,
      connectSuccess: metric("chat_connect_success").value ?? 0,
      gaps: metric("chat_gaps").count ?? 0,
      duplicates: metric("chat_duplicates").count ?? 0,
      retries: metric("chat_retries").count ?? 0,
      reconnects: metric("chat_reconnects").count ?? 0,
    },
    ...serverTimings(system, metricsBefore, await scrapeAll(system)),
  });
}

const everyoneSends = (connections: number) => ({ connections, sendEvery: 1 });
const fanout: Shape[] = settings.loads.map((sends) => ({
  sends,
  roomSize: settings.roomSize,
  ...everyoneSends(settings.connections),
}));
const mustPass: Point[] = [];
const wanted = (scenario: Scenario) => settings.scenarios.includes(scenario);
await mkdir(outDir, { recursive: true });

/** Runs `body` on a started system and stops it, also when `body` fails. */
async function using<S extends System>(system: S, body: (system: S) => Promise<void>): Promise<void> {
  try {
    await body(system);
  } finally {
    await system.stop();
  }
}

/**
 * The fan-out loads, after BENCH_WARMUP_S of the lowest one that is not measured: the first run of a freshly started
 * system otherwise also measures its JIT warming up, its first joins and its first Kafka requests.
 */
async function fanoutRuns(system: System): Promise<void> {
  const [lowest] = [...fanout].sort((a, b) => a.sends - b.sends);
  if (lowest && settings.warmupS > 0) {
    await runLoad(loadOf(system, lowest, settings.warmupS));
  }
  for (const shape of fanout) await measureLoad(system, "fanout", shape);
}

const parleyFanout = wanted("fanout") && settings.systems.includes("parley");
if (parleyFanout || (["broadcast", "ack", "acceptance"] as const).some(wanted)) {
  const profile = settings.profile ? ["--cpu-prof", `--cpu-prof-dir=${outDir}/profiles`] : [];
  await using(await startParley(settings.servers, profile), async (parley) => {
    if (parleyFanout) {
      await fanoutRuns(parley);
      if (settings.k6Load > 0) {
        await measureK6(parley, "k6-cost", {
          sends: settings.k6Load,
          roomSize: settings.roomSize,
          ...everyoneSends(settings.connections),
        });
      }
    }
    if (wanted("broadcast")) {
      await measureLoad(parley, "broadcast", {
        sends: settings.broadcastLoad,
        roomSize: settings.connections,
        connections: settings.connections,
        sendEvery: Math.ceil(settings.connections / 5),
      });
    }
    if (wanted("ack")) {
      await measureLoad(parley, "ack", {
        sends: settings.ackLoad,
        roomSize: 10,
        ...everyoneSends(settings.ackConnections),
      });
    }
    if (wanted("acceptance")) {
      mustPass.push(
        await measureK6(parley, "acceptance", {
          sends: settings.targetLoad,
          roomSize: settings.roomSize,
          ...everyoneSends(settings.connections),
        }),
      );
    }
  });
}

for (const name of settings.systems) {
  if (name !== "parley" && wanted("fanout")) await using(await startSystem(name, settings.servers), fanoutRuns);
}

if (wanted("storm")) {
  await using(await startParley(settings.servers), async (parley) => {
    const shape = { sends: settings.stormLoad, roomSize: settings.roomSize, ...everyoneSends(settings.connections) };
    mustPass.push(
      await measureK6(parley, "storm", shape, {
        // Replayed messages arrive late by design; this run is judged on gaps, replays and errors.
        vars: { RECONNECT: "1", P95_MS: "60000", P99_MS: "60000", ACK_P99_MS: "60000" },
        during: () => parley.kill(0),
      }),
    );
  });
}

await writeFile(`${outDir}/results.json`, `${JSON.stringify({ settings, date: new Date(), points }, null, 2)}\n`);
const charted = points.filter((point) => point.scenario === "fanout" && point.generator === "loadgen");
if (charted.length > 0) {
  const title = `Room fan-out: ${settings.connections.toLocaleString("en")} connections in rooms of ${settings.roomSize}, ${settings.servers} servers (${stamp.slice(0, 10)})`;
  await renderCharts(charted, chartsDir, title);
}
console.log(fanoutTable(points));
console.log(`\n${sustainedTable(points)}`);
console.log(`\n${runsTable(points)}`);
console.log(`\nCPU by process role, in cores over each run's window:\n\n${cpuTable(points)}`);
console.log(`\n${serverTable(points)}`);
console.log(`\n${generatorCost(points)}`);
console.log(`\nk6 reports and results.json: ${outDir}`);
const failed = mustPass.filter((point) => !point.k6?.passed);
if (failed.length > 0) {
  console.error(`thresholds failed: ${failed.map((point) => point.run).join(", ")}`);
  process.exitCode = 1;
}
