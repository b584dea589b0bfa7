import { Counter, collectDefaultMetrics, Registry } from "prom-client";
import type { PersisterMetrics } from "./persister.js";

/** The persister's Prometheus metrics (process defaults included); names are stable and documented in the README. */
export function createPersisterMetrics(registry: Registry = new Registry()) {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
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
  } satisfies PersisterMetrics & Record<string, Counter | Registry>;
}
