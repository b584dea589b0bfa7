import type { RoomEvent } from "@parley/protocol";
import type { Logger } from "@parley/runtime";
import type { LostRange, Store } from "@parley/store";

/**
 * What the tracker needs of the fan-out side (the gateways' Bus): the recent buffer, to repair a seq whose message
 * never reached the log, and a way to tell the room's members about the new watermark.
 */
export interface RoomFeed {
  recent(room: string, after: number): Promise<RoomEvent[]>;
  publishPersisted(room: string, upTo: number): Promise<void>;
}

export interface WatermarkOptions {
  readonly store: Pick<
    Store,
    "events" | "insert" | "watermark" | "saveWatermarks" | "roomsBehind" | "recordLost" | "lostRanges"
  >;
  /** Without a feed nothing is announced and gaps cannot be repaired, only recorded lost. */
  readonly feed?: RoomFeed;
  /**
   * How long a missing seq may stay missing while later ones are stored before it is repaired from the recent
   * buffer or recorded lost. Keep it above the gateways' append timeout, so a slow append is not declared lost.
   * @default 30000
   */
  readonly gapTimeoutMs?: number;
  readonly logger: Logger;
  /** Counts gap repairs: seqs restored from the recent buffer and seqs recorded lost. */
  readonly onGapResolved?: (repaired: number, lost: number) => void;
}

interface RoomState {
  upTo: number;
  /**
   * The highest watermark the feed took; below `upTo` after a failed announcement, or one held back by
   * {@link ANNOUNCE_INTERVAL_MS}, which the timer then sends.
   */
  announced: number;
  /** When the room's watermark was last announced (or tried), in ms since the epoch. */
  announcedAt: number;
  /**
   * Stored seqs above `upTo` (a gap keeps them from counting yet), each with when this process learnt it was stored:
   * the missing seqs below it were assigned before it, so a gap is as old as the stored seq right above it.
   */
  readonly pending: Map<number, number>;
  lost: LostRange[];
  /** How old the lowest gap is (when the seq right above it was stored); undefined without a gap. */
  gapSince: number | undefined;
}

const DEFAULT_GAP_TIMEOUT_MS = 30_000;
/**
 * A room's watermark is announced at most once a second: at once when it was not in the last second, otherwise by a
 * tick after that. A busy room so costs the gateways one `persisted` event a second, not one per stored batch (they
 * forward a room's watermark at most once a second anyway).
 */
const ANNOUNCE_INTERVAL_MS = 1_000;
/** Rows read per query when a room's state is loaded after a restart. */
const CATCH_UP_PAGE = 1_000;
/** Why a gap's seqs are recorded lost: no record in the log and none in the recent buffer after the gap timeout. */
export const LOST_NEVER_LOGGED =
  "missing from the log and the recent buffer: never appended, or skipped when Redis lost the room's counter";

/**
 * The per-room persisted watermark: the highest seq below which every message is stored in the Store or recorded
 * lost. It advances after each batch commit and is announced to the room's members at once, or by the timer when the
 * room's last announcement is under a second old or failed (until the feed takes it). The timer also saves the watermarks that moved, of all rooms in one call,
 * so a restarted persister resumes from them: a saved watermark trails the announced one by up to a tick, and a
 * restart re-reads what was stored above it. A gap (a seq assigned but
 * never appended, e.g. its gateway died in between) is repaired from the recent buffer after `gapTimeoutMs` when the
 * message is still there, and recorded lost otherwise, so it never stalls the watermark. Every gap that is that old
 * is resolved in the same pass.
 *
 * Gap state survives a restart: when the log assigns this process its rooms ({@link WatermarkTracker.assigned}), it
 * takes up those the Store has stored past their saved watermark, counting their gaps from that moment, so a quiet
 * room's watermark still reaches its end one gap timeout later.
 *
 * Correct with one tracker per room at a time, which the log gives: a room's records share a partition, and a
 * partition has one consumer in the group; rooms that moved to another process are forgotten here. Work for one
 * room is serialised; rooms proceed independently.
 */
export class WatermarkTracker {
  readonly #rooms = new Map<string, Promise<RoomState>>();
  /** The rooms whose state has loaded, for {@link WatermarkTracker.lag}. */
  readonly #loaded = new Map<string, RoomState>();
  readonly #queues = new Map<string, Promise<void>>();
  /** Watermarks that moved since they were last saved. */
  #unsaved = new Map<string, number>();
  #saving: Promise<void> | undefined;
  /** The latest assignment whose rooms have not been taken up yet (the Store failed); retried by the tick. */
  #toResume: ((room: string) => boolean) | undefined;
  readonly #gapTimeoutMs: number;
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly options: WatermarkOptions) {
    this.#gapTimeoutMs = options.gapTimeoutMs ?? DEFAULT_GAP_TIMEOUT_MS;
    this.#timer = setInterval(() => this.#tick(), Math.max(100, Math.min(1_000, this.#gapTimeoutMs / 2)));
    this.#timer.unref();
  }

  /** Seqs now committed in the Store, per room (the Persister's `onPersisted`). */
  persisted(batch: ReadonlyMap<string, readonly number[]>): void {
    for (const [room, seqs] of batch) {
      this.#enqueue(room, async (state) => {
        const now = Date.now();
        for (const seq of seqs) if (seq > state.upTo && !state.pending.has(seq)) state.pending.set(seq, now);
        await this.#advance(room, state);
      });
    }
  }

  /**
   * The log now hands this process the rooms `owns` accepts (the Persister's `onAssigned`). Forgets the rooms it no
   * longer handles, and takes up each of its rooms the Store has stored past the saved watermark.
   */
  assigned(owns: (room: string) => boolean): void {
    for (const room of [...this.#rooms.keys()]) {
      if (owns(room)) continue;
      this.#rooms.delete(room);
      this.#loaded.delete(room);
    }
    this.#toResume = owns;
    void this.#resume();
  }

  async #resume(): Promise<void> {
    const owns = this.#toResume;
    if (owns === undefined) return;
    let behind: string[];
    try {
      behind = await this.options.store.roomsBehind();
    } catch (error) {
      this.options.logger.warn({ err: error }, "listing the rooms behind their watermark failed; retrying");
      return;
    }
    if (this.#toResume === owns) this.#toResume = undefined;
    for (const room of behind) {
      if (owns(room) && !this.#rooms.has(room)) this.#enqueue(room, (state) => this.#advance(room, state));
    }
  }

  /**
   * How far watermarks trail what is stored, over all rooms: seqs stored above their room's watermark (waiting for
   * a gap below them) and the age of the oldest such gap in seconds (0 without one).
   */
  lag(now = Date.now()): { readonly pendingSeqs: number; readonly oldestGapSeconds: number } {
    let pendingSeqs = 0;
    let oldest = now;
    for (const state of this.#loaded.values()) {
      pendingSeqs += state.pending.size;
      if (state.gapSince !== undefined) oldest = Math.min(oldest, state.gapSince);
    }
    return { pendingSeqs, oldestGapSeconds: (now - oldest) / 1000 };
  }

  /** Stops checking gaps, waits for the work in hand and saves the watermarks it moved. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#queues.values()]);
    await this.#saving;
    await this.#save();
  }

  #enqueue(room: string, work: (state: RoomState) => Promise<void>): void {
    const previous = this.#queues.get(room) ?? Promise.resolve();
    const next = previous
      .then(() => this.#state(room))
      .then(work)
      .catch((error: unknown) => this.options.logger.error({ err: error, room }, "watermark update failed"));
    this.#queues.set(room, next);
    void next.then(() => {
      if (this.#queues.get(room) === next) this.#queues.delete(room);
    });
  }

  #state(room: string): Promise<RoomState> {
    let state = this.#rooms.get(room);
    if (!state) {
      state = this.#load(room);
      state.then(
        (loaded) => this.#loaded.set(room, loaded),
        () => this.#rooms.delete(room),
      );
      this.#rooms.set(room, state);
    }
    return state;
  }

  /** Resumes from the saved watermark and counts what was stored above it before this process took over. */
  async #load(room: string): Promise<RoomState> {
    const { store } = this.options;
    const upTo = await store.watermark(room);
    const state: RoomState = {
      upTo,
      announced: upTo,
      announcedAt: 0,
      pending: new Map(),
      lost: await store.lostRanges(room, upTo),
      gapSince: undefined,
    };
    const now = Date.now();
    for (let after = upTo; ; ) {
      const page = await store.events({ room, after, limit: CATCH_UP_PAGE });
      for (const event of page) state.pending.set(event.seq, now);
      const last = page.at(-1);
      if (page.length < CATCH_UP_PAGE || last === undefined) break;
      after = last.seq;
    }
    return state;
  }

  async #advance(room: string, state: RoomState): Promise<void> {
    const before = state.upTo;
    for (;;) {
      const next = state.upTo + 1;
      if (state.pending.delete(next)) {
        state.upTo = next;
        continue;
      }
      const range = state.lost.find((lost) => lost.from <= next && next <= lost.to);
      if (!range) break;
      state.upTo = range.to;
      for (const seq of state.pending.keys()) if (seq <= range.to) state.pending.delete(seq);
    }
    state.lost = state.lost.filter((lost) => lost.to > state.upTo);
    state.gapSince = lowestGapAge(state);
    if (state.upTo === before) return;
    this.#unsaved.set(room, state.upTo);
    if (Date.now() - state.announcedAt >= ANNOUNCE_INTERVAL_MS) await this.#announce(room, state, "warn");
  }

  /**
   * Tells the room's members the watermark. A failure is logged (at `level`) and left to the timer: the room's
   * last batch may be long past, and only a watermark covering their own messages marks them stored for its members.
   */
  async #announce(room: string, state: RoomState, level: "warn" | "debug"): Promise<void> {
    const { feed, logger } = this.options;
    if (!feed || state.announced >= state.upTo) return;
    const upTo = state.upTo;
    state.announcedAt = Date.now();
    try {
      await feed.publishPersisted(room, upTo);
      state.announced = Math.max(state.announced, upTo);
    } catch (error) {
      logger[level]({ err: error, room }, "announcing the watermark failed");
    }
  }

  /**
   * Saves the watermarks that moved, in one call. A failed save is logged and its watermarks are kept for the next
   * tick (a newer value of a room wins).
   */
  async #save(): Promise<void> {
    if (this.#unsaved.size === 0) return;
    const saving = this.#unsaved;
    this.#unsaved = new Map();
    try {
      await this.options.store.saveWatermarks(saving);
    } catch (error) {
      this.options.logger.warn({ err: error, rooms: saving.size }, "saving watermarks failed; retrying");
      for (const [room, upTo] of saving) this.#unsaved.set(room, Math.max(upTo, this.#unsaved.get(room) ?? 0));
    }
  }

  /**
   * Each tick: saves the watermarks that moved, repairs gaps older than the gap timeout, and announces watermarks that
   * were held back or whose announcement failed, once the room's last try is a second old.
   */
  #tick(): void {
    if (this.#toResume !== undefined) void this.#resume();
    if (this.#saving === undefined) {
      this.#saving = this.#save().finally(() => {
        this.#saving = undefined;
      });
    }
    const now = Date.now();
    for (const [room, statePromise] of this.#rooms) {
      void statePromise.then(
        (state) => {
          if (state.gapSince !== undefined && now - state.gapSince >= this.#gapTimeoutMs) {
            state.gapSince = now; // one repair at a time per gap
            this.#enqueue(room, (current) => this.#repair(room, current));
          } else if (
            this.options.feed &&
            state.announced < state.upTo &&
            now - state.announcedAt >= ANNOUNCE_INTERVAL_MS &&
            !this.#queues.has(room)
          ) {
            this.#enqueue(room, (current) => this.#announce(room, current, "debug"));
          }
        },
        () => {},
      );
    }
  }

  /**
   * Resolves every gap above the watermark that is at least the gap timeout old (the lowest is, or the tick would
   * not have called): fills it from the recent buffer where it can and records the rest lost, all in one pass.
   */
  async #repair(room: string, state: RoomState): Promise<void> {
    const { store, feed, logger, onGapResolved } = this.options;
    const cutoff = Date.now() - this.#gapTimeoutMs;
    const gaps: { from: number; to: number }[] = [];
    let previous = state.upTo;
    for (const seq of [...state.pending.keys()].sort((a, b) => a - b)) {
      if (seq > previous + 1) {
        if (gaps.length > 0 && (state.pending.get(seq) ?? 0) > cutoff) break;
        gaps.push({ from: previous + 1, to: seq - 1 });
      }
      previous = seq;
    }
    const last = gaps.at(-1);
    if (last === undefined) return;
    const inGap = (seq: number) => gaps.some((gap) => gap.from <= seq && seq <= gap.to);
    const buffered = feed ? (await feed.recent(room, state.upTo)).filter((message) => inGap(message.seq)) : [];
    if (buffered.length > 0) await store.insert(buffered);
    const found = new Set(buffered.map((message) => message.seq));
    const lost: LostRange[] = [];
    for (const gap of gaps) {
      for (let seq = gap.from; seq <= gap.to; seq++) {
        if (found.has(seq)) continue;
        const range = lost.at(-1);
        if (range && range.to === seq - 1) lost[lost.length - 1] = { ...range, to: seq };
        else lost.push({ from: seq, to: seq, reason: LOST_NEVER_LOGGED });
      }
    }
    for (const range of lost) await store.recordLost(room, range);
    const now = Date.now();
    for (const seq of found) state.pending.set(seq, now);
    state.lost.push(...lost);
    const lostCount = lost.reduce((sum, range) => sum + range.to - range.from + 1, 0);
    logger.warn(
      { room, from: gaps[0]?.from, to: last.to, gaps: gaps.length, repaired: found.size, lost: lostCount },
      "resolved gaps in the room",
    );
    onGapResolved?.(found.size, lostCount);
    await this.#advance(room, state);
  }
}

/** When the seq right above the room's lowest gap was stored; undefined without a gap. */
function lowestGapAge(state: RoomState): number | undefined {
  let lowest = Number.POSITIVE_INFINITY;
  for (const seq of state.pending.keys()) if (seq < lowest) lowest = seq;
  return state.pending.get(lowest);
}
