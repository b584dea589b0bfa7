/** The benchmark's figures per run (`results.json`) and the Markdown tables it prints. */
import { type CpuSplit, ROLES } from "./cpu.js";
import type { Latency, LoadResult } from "./loadgen/load.js";
import type { SystemName } from "./systems.js";

export type Scenario = "fanout" | "broadcast" | "ack" | "storm" | "acceptance" | "k6-cost";

/** One run: one system under one load, driven by our generator or by k6. */
export interface Point {
  readonly run: string;
  readonly system: SystemName;
  readonly scenario: Scenario;
  readonly generator: "loadgen" | "k6";
  readonly connections: number;
  readonly roomSize: number;
  /** Messages per second the senders offered, and the deliveries that makes at the room size. */
  readonly offeredSends: number;
  readonly offeredDeliveries: number;
  readonly deliveriesPerSecond: number;
  /** Deliveries over sends × room size. */
  readonly deliveredShare: number;
  /** Delivery latency (sender's stamp in the body -> received), ms. */
  readonly latency: Latency;
  readonly ackP99: number;
  /** Acks over sends (NaN for k6, which does not count them). */
  readonly ackedShare: number;
  readonly errors: number;
  /** Seconds the CPU figures cover: the sends and the drain (loadgen), the steady phase (k6). */
  readonly windowS: number;
  /** CPU seconds by process role over the window. */
  readonly cpu: CpuSplit;
  /** The servers' CPU over the window per delivery in it, µs; NaN when a server died. */
  readonly serverCpuMicrosPerDelivery: number;
  /** The load generator's CPU over the window per frame it received, µs. */
  readonly generatorMicrosPerFrame: number;
  /** Our generator's runs: connections opened, failed, joined and closed by the server (by code); error samples. */
  readonly load?: Pick<LoadResult, "connections" | "errorSamples">;
  /** k6's runs: whether its thresholds passed, and its own checks. */
  readonly k6?: {
    readonly passed: boolean;
    readonly connectSuccess: number;
    readonly gaps: number;
    readonly duplicates: number;
    readonly retries: number;
    readonly reconnects: number;
  };
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
export interface ServerLatency {
  readonly count: number;
  /** Share of observations within 50 ms. */
  readonly within50ms: number;
  /** Upper bound of the bucket holding the 99th percentile, ms. */
  readonly p99AtMostMs: number;
}

const SYSTEM_ORDER: readonly SystemName[] = ["parley", "reference", "socketio", "centrifugo"];

const fixed = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");
const share = (value: number) => (Number.isFinite(value) ? `${(value * 100).toFixed(1)} %` : "n/a");
const thousands = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString("en") : "n/a");

/** The fan-out comparison: per offered load, one row per system. */
export function fanoutTable(points: readonly Point[]): string {
  const rows = points
    .filter((point) => point.scenario === "fanout" && point.generator === "loadgen")
    .toSorted(
      (a, b) =>
        a.offeredDeliveries - b.offeredDeliveries || SYSTEM_ORDER.indexOf(a.system) - SYSTEM_ORDER.indexOf(b.system),
    );
  const lines = [
    "| offered deliveries/s | system | deliveries/s | delivered | p50 / p99 ms | ack p99 ms | acked | server CPU µs/delivery | loadgen µs/frame | errors | failed / closed connections |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const connections = row.load?.connections;
    const closed = Object.values(connections?.closedByServer ?? {}).reduce((sum, count) => sum + count, 0);
    lines.push(
      `| ${thousands(row.offeredDeliveries)} | ${row.system} | ${thousands(row.deliveriesPerSecond)} | ${share(row.deliveredShare)} | ${fixed(row.latency.p50, 1)} / ${fixed(row.latency.p99, 1)} | ${fixed(row.ackP99, 1)} | ${share(row.ackedShare)} | ${fixed(row.serverCpuMicrosPerDelivery, 2)} | ${fixed(row.generatorMicrosPerFrame, 2)} | ${row.errors} | ${connections?.failed ?? 0} / ${closed} |`,
    );
  }
  return lines.join("\n");
}

/** What counts as sustained: the client-measured p99 within this, and every message delivered. */
export const SUSTAINED_P99_MS = 50;

/**
 * Per system, the highest fan-out load it sustained: at that load and at every lower one, the p99 stayed within
 * {@link SUSTAINED_P99_MS} and every message was delivered. 0 when even the lowest failed.
 */
export function sustained(points: readonly Point[]): Map<SystemName, number> {
  const result = new Map<SystemName, number>();
  const failed = new Set<SystemName>();
  const runs = points
    .filter((point) => point.scenario === "fanout" && point.generator === "loadgen")
    .toSorted((a, b) => a.offeredDeliveries - b.offeredDeliveries);
  for (const point of runs) {
    if (!result.has(point.system)) result.set(point.system, 0);
    if (failed.has(point.system)) continue;
    if (point.latency.p99 <= SUSTAINED_P99_MS && point.deliveredShare >= 1) {
      result.set(point.system, point.deliveriesPerSecond);
    } else {
      failed.add(point.system);
    }
  }
  return result;
}

/** {@link sustained} as a table, each system against the reference. */
export function sustainedTable(points: readonly Point[]): string {
  const reached = sustained(points);
  const reference = reached.get("reference");
  const lines = [
    `| system | deliveries/s sustained at p99 ≤ ${SUSTAINED_P99_MS} ms, all delivered | share of the reference's |`,
    "|---|---|---|",
  ];
  for (const system of SYSTEM_ORDER.filter((name) => reached.has(name))) {
    const value = reached.get(system) ?? 0;
    lines.push(`| ${system} | ${thousands(value)} | ${reference ? share(value / reference) : "n/a"} |`);
  }
  return lines.join("\n");
}

/** Every other run (Parley's broadcast and ack runs, k6's). */
export function runsTable(points: readonly Point[]): string {
  const lines = [
    "| run | generator | connections | offered msg/s | deliveries/s | delivered | p50 / p95 / p99 ms | ack p99 ms | server CPU µs/delivery | generator µs/frame | errors | k6 thresholds |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of points.filter((point) => point.scenario !== "fanout" || point.generator === "k6")) {
    const { p50, p95, p99 } = row.latency;
    const thresholds = row.k6
      ? `${row.k6.passed ? "pass" : "fail"} (gaps ${row.k6.gaps}, duplicates ${row.k6.duplicates})`
      : "";
    lines.push(
      `| ${row.run} | ${row.generator} | ${thousands(row.connections)} | ${row.offeredSends} | ${thousands(row.deliveriesPerSecond)} | ${share(row.deliveredShare)} | ${fixed(p50)} / ${fixed(p95)} / ${fixed(p99)} | ${fixed(row.ackP99)} | ${fixed(row.serverCpuMicrosPerDelivery, 2)} | ${fixed(row.generatorMicrosPerFrame, 2)} | ${row.errors} | ${thresholds} |`,
    );
  }
  return lines.join("\n");
}

/**
 * Where the CPU went in each run, in cores (CPU seconds per second of the window), and the cores the hypervisor
 * held back from this machine meanwhile.
 */
export function cpuTable(points: readonly Point[]): string {
  const lines = [
    `| run | window s | ${ROLES.join(" | ")} | total | stolen by the hypervisor |`,
    `|---|---|${ROLES.map(() => "---|").join("")}---|---|`,
  ];
  for (const row of points) {
    const cores = ROLES.map((role) => row.cpu[role] / row.windowS);
    const total = cores.reduce((sum, value) => sum + (Number.isFinite(value) ? value : 0), 0);
    lines.push(
      `| ${row.run} | ${fixed(row.windowS, 1)} | ${cores.map((value) => fixed(value, 2)).join(" | ")} | ${fixed(total, 2)} | ${fixed(row.cpu.stolen / row.windowS, 2)} |`,
    );
  }
  return lines.join("\n");
}

/**
 * The gateways' own view of each Parley run: how much of send -> ack the sequencing and the Kafka append took, and
 * how soon each message was handed to a gateway's members (what the clients measure beyond that is the kernel and
 * the load generator).
 */
export function serverTable(points: readonly Point[]): string {
  const cell = ({ within50ms, p99AtMostMs }: ServerLatency) =>
    `${(within50ms * 100).toFixed(1)} % / ≤ ${p99AtMostMs} ms`;
  const lines = [
    "| run | sends timed | ack: within 50 ms / p99 | publish (Redis) | append (Kafka) | fan-out: send -> handed to members |",
    "|---|---|---|---|---|---|",
  ];
  for (const { run, server } of points) {
    if (!server) continue;
    lines.push(
      `| ${run} | ${server.ack.count} | ${cell(server.ack)} | ${cell(server.publish)} | ${cell(server.append)} | ${cell(server.fanout)} |`,
    );
  }
  return lines.join("\n");
}

/** Our generator's CPU per received frame against k6's, driving Parley at the same load. */
export function generatorCost(points: readonly Point[]): string {
  const k6 = points.find((point) => point.scenario === "k6-cost");
  if (!k6) return "";
  const ours = points.find(
    (point) =>
      point.scenario === "fanout" &&
      point.generator === "loadgen" &&
      point.system === k6.system &&
      point.offeredSends === k6.offeredSends,
  );
  if (!ours)
    return `k6 at ${thousands(k6.offeredDeliveries)} deliveries/s: ${fixed(k6.generatorMicrosPerFrame, 2)} µs/frame`;
  const ratio = ours.generatorMicrosPerFrame / k6.generatorMicrosPerFrame;
  return `Load generator CPU per received frame at ${thousands(k6.offeredDeliveries)} deliveries/s on ${k6.system}: ours ${fixed(ours.generatorMicrosPerFrame, 2)} µs, k6 ${fixed(k6.generatorMicrosPerFrame, 2)} µs (ours / k6 = ${fixed(ratio, 2)}; target ≤ 0.33)`;
}
