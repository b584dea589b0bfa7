import type { Log } from "@parley/log";
import type { Logger } from "@parley/runtime";
import type { Store } from "@parley/store";
import type { createPersisterMetrics } from "./metrics.js";
import { Persister } from "./persister.js";
import { type RoomFeed, WatermarkTracker } from "./watermark.js";

export interface PersistenceOptions {
  readonly log: Log;
  readonly store: Store;
  readonly group: string;
  readonly logger: Logger;
  readonly metrics: ReturnType<typeof createPersisterMetrics>;
  /** Where watermarks are announced and gaps repaired from; without one, gaps can only be recorded lost. */
  readonly feed?: RoomFeed;
  readonly gapTimeoutMs: number;
  readonly onFatal?: (error: unknown) => void;
}

/**
 * The persister with its watermark tracker and their metrics wired together, as both composition roots run it (the
 * persister service, and the gateway's embedded mode). The caller owns start and the shutdown order: close the
 * persister first (the batch in hand finishes), then the watermarks.
 */
export function createPersistence(options: PersistenceOptions): { persister: Persister; watermarks: WatermarkTracker } {
  const { log, store, group, logger, metrics, feed, gapTimeoutMs, onFatal } = options;
  const watermarks = new WatermarkTracker({
    store,
    ...(feed === undefined ? {} : { feed }),
    gapTimeoutMs,
    logger,
    onGapResolved: (repaired, lost) => {
      metrics.gapSeqsRepaired.inc(repaired);
      metrics.gapSeqsLost.inc(lost);
    },
  });
  metrics.watch({ watermarkLag: () => watermarks.lag() });
  const persister = new Persister({
    log,
    store,
    group,
    logger,
    metrics,
    onPersisted: (batch) => watermarks.persisted(batch),
    onAssigned: (owns) => watermarks.assigned(owns),
    ...(onFatal === undefined ? {} : { onFatal }),
  });
  return { persister, watermarks };
}
