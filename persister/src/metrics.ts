import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { PersisterMetrics } from "./persister.js";

/** What the persister's gauges read at scrape time. */
export interface PersisterProbe {
  /** See `WatermarkTracker.lag`. */
  watermarkLag(): { readonly pendingSeqs: number; readonly oldestGapSeconds: number };
}

/**
 * The persister's Prometheus metrics (process defaults included unless `processMetrics` is false, e.g. when the
 * persister runs inside the embedded gateway, whose registry has them already); names are stable, carry their
 * unit, and are documented in the README ("Metrics"). Dashboards and alerts in the chart use only these.
 */
export function createPersisterMetrics(
  registry: Registry = new Registry(),
  { processMetrics = true }: { readonly processMetrics?: boolean } = {},
) {
  if (processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let probe: PersisterProbe | undefined;
  return {
    registry,
    /** Lets the watermark gauges follow the tracker. */
    watch(source: PersisterProbe): void {
      probe = source;
    },
    recordsConsumed: new Counter({
      name: "parley_persister_records_consumed_total",
      help: "Records handed to the persister by the log (redeliveries included)",
      registers,
    }),
    rowsInserted: new Counter({
      name: "parley_persister_rows_inserted_total",
      help: "Messages newly stored (replays of stored messages not counted)",
      registers,
    }),
    deadLettered: new Counter({
      name: "parley_persister_dead_lettered_total",
      help: "Records sent to the dead-letter topic (undecodable, or refused by the database)",
      registers,
    }),
    retries: new Counter({
      name: "parley_persister_retries_total",
      help: "Failed database or dead-letter writes that were retried",
      registers,
    }),
    batchSize: new Histogram({
      name: "parley_persister_batch_size_records",
      help: "Records per batch handed over by the log",
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers,
    }),
    insertDuration: new Histogram({
      name: "parley_persister_insert_duration_seconds",
      help: "Database insert calls that succeeded (a batch in one transaction), retries not included",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    consumerLag: new Gauge({
      name: "parley_persister_consumer_lag_records",
      help: "Records between this replica's position and the end of each partition it consumes, as of its latest fetch",
      labelNames: ["partition"],
      registers,
    }),
    watermarkPendingSeqs: new Gauge({
      name: "parley_persister_watermark_pending_seqs",
      help: "Seqs stored above their room's persisted watermark, waiting for a gap below them",
      registers,
      collect() {
        this.set(probe?.watermarkLag().pendingSeqs ?? 0);
      },
    }),
    watermarkGapAge: new Gauge({
      name: "parley_persister_watermark_gap_age_seconds",
      help: "Age of the oldest gap holding back a room's persisted watermark (0 without one)",
      registers,
      collect() {
        this.set(probe?.watermarkLag().oldestGapSeconds ?? 0);
      },
    }),
    gapSeqsRepaired: new Counter({
      name: "parley_persister_gap_seqs_repaired_total",
      help: "Seqs missing from the log that were stored from the gateways' recent buffer",
      registers,
    }),
    gapSeqsLost: new Counter({
      name: "parley_persister_gap_seqs_lost_total",
      help: "Seqs missing from the log and from the recent buffer, recorded in lost_ranges",
      registers,
    }),
  } satisfies PersisterMetrics & Record<string, unknown>;
}
