/**
 * What the coordinator (`load.ts`) and its workers (`worker.ts`) tell each other over the fork's IPC channel:
 * `start` with the worker's plan, answered `connected` once its connections are joined (or given up on); `send`,
 * answered `done` with its figures after the sending and the drain; then `close`, after which it exits.
 */
import type { HistogramData } from "./histogram.js";
import type { ProtocolName } from "./protocols.js";

/** One worker's share of a run. */
export interface WorkerPlan {
  readonly protocol: ProtocolName;
  readonly targets: readonly string[];
  /** Its connections are numbers `first` to `first + count - 1` of the run's (user `u<n>`, room, target by n). */
  readonly first: number;
  readonly count: number;
  readonly roomSize: number;
  /** Connection n sends when n is a multiple of this. */
  readonly sendEvery: number;
  /** Messages per second this worker sends, all its senders together, for `durationS`. */
  readonly rate: number;
  readonly durationS: number;
  /** How long after the last send deliveries are still counted. */
  readonly drainS: number;
  /** Connections opened per second. */
  readonly connectRate: number;
  /** How long to wait for joins after the last connection was opened, before reporting `connected` anyway. */
  readonly joinTimeoutS: number;
  /** The local address its sockets bind to, so that each worker has its own ephemeral ports. */
  readonly localAddress: string | undefined;
  /**
   * Cids are decimal integers counting up from this (Socket.IO's ack ids must be integers, Centrifugo's command ids
   * below 2^32), and it moves with the clock, so a run never repeats an earlier run's cids to the same user (Parley
   * dedupes sends by user and cid).
   */
  readonly cidBase: number;
}

export type ToWorker = { readonly kind: "start"; readonly plan: WorkerPlan } | { readonly kind: "send" | "close" };

export type FromWorker = { readonly kind: "connected" } | { readonly kind: "done"; readonly stats: WorkerStats };

/** What became of a worker's connections (or, summed, of a run's). */
export interface ConnectionCounts {
  readonly opened: number;
  /** Connections that never opened (refused, timed out, rejected at the upgrade). */
  readonly failed: number;
  /** Connections that joined their room (also those closed since). */
  readonly joined: number;
  /** Connections the server closed or lost before the end, by close code (1006: no close frame). */
  readonly closedByServer: Readonly<Record<string, number>>;
}

/** One worker's figures; counts of messages and frames are over the sending and the drain only. */
export interface WorkerStats extends ConnectionCounts {
  readonly sends: number;
  readonly acks: number;
  readonly deliveries: number;
  readonly errors: number;
  /** The first few error frames, for the report. */
  readonly errorSamples: readonly string[];
  /** Every frame received, deliveries and acks and the rest. */
  readonly frames: number;
  /** The worker's own CPU (user + system), µs. */
  readonly cpuMicros: number;
  /** Delivery latency (stamp in the body -> received), ms. */
  readonly latency: HistogramData;
  /** Send -> ack, ms. */
  readonly ackLatency: HistogramData;
}
