/**
 * The load generator's coordinator: forks the workers (`worker.ts`), gives each a contiguous share of the
 * connections and of the send rate, steps them through the phases together (connect and join, settle, send for
 * `durationS`, drain, close) and merges their figures into one {@link LoadResult}.
 */
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Histogram } from "./histogram.js";
import type { ConnectionCounts, FromWorker, ToWorker, WorkerPlan, WorkerStats } from "./messages.js";
import type { ProtocolName } from "./protocols.js";

const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));
/** A worker that does not exit this long after `close` is killed (its sockets get 5 s to close). */
const EXIT_TIMEOUT_MS = 15_000;

export interface LoadOptions {
  readonly protocol: ProtocolName;
  /** Base URLs (`ws://host:port`) the protocol builds its URL on; connection n dials `targets[n % targets.length]`. */
  readonly targets: readonly string[];
  /** Connection n is user `u<n>` and joins room `r<floor(n / roomSize)>`. */
  readonly connections: number;
  readonly roomSize: number;
  /** Messages per second offered, in all, spread evenly over the senders. */
  readonly rate: number;
  readonly durationS: number;
  /** Connection n sends when n is a multiple of this. @default 1 (every connection) */
  readonly sendEvery?: number;
  /** Worker processes. @default 2 */
  readonly workers?: number;
  /** Connections each worker opens per second. @default 500 */
  readonly connectRate?: number;
  /**
   * Seconds between the last join and the first send, as k6's runs pause: the join burst's garbage, and its first
   * collections, are not the steady state a load measures. @default 5
   */
  readonly settleS?: number;
  /** Seconds after the last send during which deliveries still count. @default 2 */
  readonly drainS?: number;
  /** Seconds a worker waits for its joins after opening its last connection. @default 30 */
  readonly joinTimeoutS?: number;
  /**
   * Bind worker w's sockets to 127.0.0.(2 + w), so each worker has a local port range of its own and thousands of
   * connections (and their TIME_WAITs from earlier runs) never exhaust one. Loopback targets only.
   * @default false
   */
  readonly sourceAddresses?: boolean;
  /** Called as the sends begin and once the drain is over, to measure other processes over the same window. */
  readonly window?: LoadWindow;
}

export interface LoadWindow {
  begin(): Promise<void>;
  end(): Promise<void>;
}

/** Milliseconds: upper bounds of the 1 %-wide histogram buckets holding each percentile; `max` exact. */
export interface Latency {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export interface LoadResult {
  readonly protocol: ProtocolName;
  readonly connections: ConnectionCounts & { readonly offered: number };
  readonly sends: number;
  readonly acks: number;
  readonly ackedShare: number;
  readonly deliveries: number;
  /** Every send reaching its whole room: sends × room size. */
  readonly expectedDeliveries: number;
  readonly deliveredShare: number;
  /** Deliveries (in the sending and the drain) per second of sending. */
  readonly deliveriesPerSecond: number;
  /** Stamp in the body -> received, at the receiver. */
  readonly latency: Latency;
  /** Send -> ack, at the sender. */
  readonly ackLatency: Latency;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** Seconds from the first send to the end of the drain: what the counts and the CPU figures cover. */
  readonly windowS: number;
  /** The generator's own cost over the window, all workers together. */
  readonly generator: {
    readonly workers: number;
    readonly cpuSeconds: number;
    readonly frames: number;
    readonly microsPerFrame: number;
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const workers = planWorkers(options).map((plan) => ({
    plan,
    child: fork(WORKER, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }),
  }));
  try {
    await Promise.all(workers.map(({ plan, child }) => ask(child, { kind: "start", plan }, "connected")));
    await new Promise((resolve) => setTimeout(resolve, (options.settleS ?? 5) * 1000));
    await options.window?.begin();
    const started = performance.now();
    const done = await Promise.all(workers.map(({ child }) => ask(child, { kind: "send" }, "done")));
    const windowS = (performance.now() - started) / 1000;
    await options.window?.end();
    await Promise.all(workers.map(({ child }) => closeWorker(child)));
    return summarize(
      options,
      done.map(({ stats }) => stats),
      windowS,
    );
  } finally {
    for (const { child } of workers) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  }
}

/**
 * Cids count up from a base that moves by this much per second of the clock: a run sends fewer than that per
 * second it lasts, so the next run's cids never meet its own.
 */
const CIDS_PER_SECOND = 100_000;
/** The base wraps after this many seconds (11 h, beyond any dedupe window), keeping cids below 2^32. */
const CID_BASE_SECONDS = 40_000;

function planWorkers(options: LoadOptions): WorkerPlan[] {
  const count = options.workers ?? 2;
  const sendEvery = options.sendEvery ?? 1;
  const { connections } = options;
  // The senders among connections [0, n): the multiples of sendEvery below n.
  const sendersBelow = (n: number) => Math.ceil(n / sendEvery);
  const cidBase = (Math.floor(Date.now() / 1000) % CID_BASE_SECONDS) * CIDS_PER_SECOND;
  return Array.from({ length: count }, (_, w) => {
    const first = Math.floor((w * connections) / count);
    const end = Math.floor(((w + 1) * connections) / count);
    return {
      protocol: options.protocol,
      targets: options.targets,
      first,
      count: end - first,
      roomSize: options.roomSize,
      sendEvery,
      rate: (options.rate * (sendersBelow(end) - sendersBelow(first))) / sendersBelow(connections),
      durationS: options.durationS,
      drainS: options.drainS ?? 2,
      connectRate: options.connectRate ?? 500,
      joinTimeoutS: options.joinTimeoutS ?? 30,
      localAddress: options.sourceAddresses ? `127.0.0.${2 + w}` : undefined,
      cidBase,
    };
  });
}

/** Sends `message` to the worker and resolves with its next message of `kind`; rejects if it exits first. */
function ask<K extends FromWorker["kind"]>(
  worker: ChildProcess,
  message: ToWorker,
  kind: K,
): Promise<Extract<FromWorker, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: FromWorker) => {
      if (!isKind(reply, kind)) return;
      worker.off("exit", onExit);
      worker.off("message", onMessage);
      resolve(reply);
    };
    const onExit = (code: number | null, signal: string | null) => {
      worker.off("message", onMessage);
      reject(new Error(`load generator worker ${worker.pid} exited (${signal ?? code}) waiting for ${kind}`));
    };
    worker.on("message", onMessage);
    worker.once("exit", onExit);
    worker.send(message);
  });
}

function isKind<K extends FromWorker["kind"]>(reply: FromWorker, kind: K): reply is Extract<FromWorker, { kind: K }> {
  return reply.kind === kind;
}

async function closeWorker(worker: ChildProcess): Promise<void> {
  const exited = once(worker, "exit");
  worker.send({ kind: "close" } satisfies ToWorker);
  const timer = setTimeout(() => worker.kill("SIGKILL"), EXIT_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

function summarize(options: LoadOptions, stats: readonly WorkerStats[], windowS: number): LoadResult {
  const sum = (pick: (stats: WorkerStats) => number) => stats.reduce((total, each) => total + pick(each), 0);
  const latency = new Histogram();
  const ackLatency = new Histogram();
  const closedByServer: Record<string, number> = {};
  for (const each of stats) {
    latency.add(each.latency);
    ackLatency.add(each.ackLatency);
    for (const [code, count] of Object.entries(each.closedByServer)) {
      closedByServer[code] = (closedByServer[code] ?? 0) + count;
    }
  }
  const sends = sum((each) => each.sends);
  const acks = sum((each) => each.acks);
  const deliveries = sum((each) => each.deliveries);
  const expectedDeliveries = sends * options.roomSize;
  const frames = sum((each) => each.frames);
  const cpuSeconds = sum((each) => each.cpuMicros) / 1e6;
  return {
    protocol: options.protocol,
    connections: {
      offered: options.connections,
      opened: sum((each) => each.opened),
      failed: sum((each) => each.failed),
      joined: sum((each) => each.joined),
      closedByServer,
    },
    sends,
    acks,
    ackedShare: sends === 0 ? Number.NaN : acks / sends,
    deliveries,
    expectedDeliveries,
    deliveredShare: expectedDeliveries === 0 ? Number.NaN : deliveries / expectedDeliveries,
    deliveriesPerSecond: deliveries / options.durationS,
    latency: percentiles(latency),
    ackLatency: percentiles(ackLatency),
    errors: sum((each) => each.errors),
    errorSamples: stats.flatMap((each) => each.errorSamples),
    windowS,
    generator: {
      workers: stats.length,
      cpuSeconds,
      frames,
      microsPerFrame: frames === 0 ? Number.NaN : (cpuSeconds * 1e6) / frames,
    },
  };
}

function percentiles(histogram: Histogram): Latency {
  return {
    p50: histogram.quantile(0.5),
    p95: histogram.quantile(0.95),
    p99: histogram.quantile(0.99),
    max: histogram.max,
  };
}
