import { createHash, randomUUID } from "node:crypto";
import { framePieces, type RoomEvent } from "@parley/protocol";
import {
  announcePersisted,
  type RedisClient,
  type RedisTarget,
  readRecent,
  redisClient,
  roomKeys,
} from "@parley/runtime";
import {
  type Bus,
  type BusListener,
  type BusOptions,
  DEFAULT_DEDUPE_TTL_SECONDS,
  DEFAULT_PRESENCE_LIST_LIMIT,
  DEFAULT_PRESENCE_TTL_SECONDS,
  DEFAULT_RECENT_LIMIT,
  type InboxFrame,
  type Presence,
  type Published,
  type PublishInput,
} from "./bus.js";
import { decodeBusEvent, decodeInboxEvent, epochEvent, inboxEvent, readEvent, typingEvent } from "./bus-event.js";

export interface RedisBusOptions extends BusOptions {
  /** The standalone Redis or the Redis Cluster. */
  readonly target: RedisTarget;
  /** Prefix of every key and channel, so several deployments can share one Redis. @default "parley" */
  readonly prefix?: string;
  /** Called when a payload from Redis cannot be decoded (it is dropped). */
  readonly onInvalidPayload?: (payload: string) => void;
  /**
   * How far above the Store's highest seq a room restarts when Redis lost its counter (a restart without
   * persistence, a failover to a replica that missed writes). Messages that were acked but not yet persisted at
   * that moment hold seqs between the two; the margin must exceed how many of them one room can have, i.e. its
   * message rate times the persister's lag. The skipped seqs end up in `lost_ranges` once the persister's gap
   * timeout passes. A room whose Store is empty starts at 1.
   * @default 10000
   */
  readonly reseedMargin?: number;
  /**
   * How often the subscriber's path is probed: the process publishes on a channel of its own and must receive it.
   * A probe not back within {@link PROBE_TIMEOUT_INTERVALS} intervals (a subscriber connection that stopped
   * receiving while commands still work) makes the Bus not ready and reconnects the subscriber, which subscribes
   * to every channel again. @default 5000
   */
  readonly probeIntervalMs?: number;
  /** Called when a probe did not come back and the subscriber is being reconnected. */
  readonly onSubscriberStalled?: () => void;
}

export const DEFAULT_PROBE_INTERVAL_MS = 5_000;
/** Probe intervals a probe may take to come back before the subscriber counts as stalled. */
export const PROBE_TIMEOUT_INTERVALS = 3;

export const DEFAULT_RESEED_MARGIN = 10_000;

/**
 * Sequences with one Lua script: dedupe by (from, cid), INCR, append to the capped recent buffer and SPUBLISH, in a
 * single round trip. Every key and the channel of a room share the hash tag `{room}`, so the script and sharded
 * pub/sub also run on Redis Cluster. Redis delivers a channel's messages in publish order, and publishes happen in
 * seq order inside the script, so subscribers see seq order. When the room has no counter (new room, or Redis lost
 * its data), or a counter below the highest seq this process has seen there (a failover to a replica that missed the
 * latest writes), the script answers 2 and is run again with a floor above both the Store's and that seq. The run
 * with the floor checks the counter again and sets it only if it is still missing or behind: the publishes that
 * were waiting during an outage all get 2, and the first of them to run again reseeds the room; the rest find a
 * counter and are sequenced from it, even though by then the Store (holding the first reseed's messages) would
 * give them a higher floor. So a loss reseeds each room once. The floor is above every seq handed out before, so a
 * seq is never handed out twice, and when it is above 0 the script also publishes an epoch frame, so subscribers
 * know to re-sync.
 */
const PUBLISH_SCRIPT = `
local existing = redis.call('GET', KEYS[3])
if existing then return {0, existing} end
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if current < 0 or current < tonumber(ARGV[8]) then
  if ARGV[6] == '' then return {2} end
  redis.call('SET', KEYS[1], ARGV[6])
  if ARGV[7] ~= '' then redis.call('SPUBLISH', ARGV[5], ARGV[7]) end
end
local seq = redis.call('INCR', KEYS[1])
local payload = ARGV[1] .. seq .. ARGV[2]
redis.call('SET', KEYS[3], payload, 'EX', ARGV[4])
redis.call('RPUSH', KEYS[2], payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('SPUBLISH', ARGV[5], payload)
return {1, payload}
`;

/** Presence frames built in Lua: room and user names are `[A-Za-z0-9_.:-]`, so they need no JSON escaping. */
const PRESENCE_FRAME_LUA = `
local function presence_frame(room, field, users, count, limit)
  local frame = '{"t":"presence","room":"' .. room .. '",'
  if count <= tonumber(limit) and #users > 0 then
    frame = frame .. '"' .. field .. '":["' .. table.concat(users, '","') .. '"],'
  end
  return frame .. '"count":' .. count .. '}'
end
`;

/**
 * Presence keys of a room: a sorted set of the gateway processes with members there, scored by expiry (ms); per
 * process, the set of users it has there; and a hash user -> number of processes that have them. A process's upkeep
 * is one call per room that renews its own entry, whatever its number of users. The per-process sets all carry the
 * room's hash tag, so the scripts that reach a dead process's set by name stay in the room's slot on Redis Cluster.
 *
 * Join. KEYS: processes, this process's users, users hash. ARGV: expiry ms, process id, channel, room, list limit,
 * then users. Renews the entry and adds the users; announces, in one frame, the users no process had yet. One call
 * joins a user, or puts back all of a process's users of a room after Redis lost them.
 */
const PRESENCE_JOIN_SCRIPT = `${PRESENCE_FRAME_LUA}
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local joined = {}
for i = 6, #ARGV do
  local user = ARGV[i]
  if redis.call('SADD', KEYS[2], user) == 1 and redis.call('HINCRBY', KEYS[3], user, 1) == 1 then
    table.insert(joined, user)
  end
end
if #joined == 0 then return 0 end
redis.call('SPUBLISH', ARGV[3], presence_frame(ARGV[4], 'joined', joined, redis.call('HLEN', KEYS[3]), ARGV[5]))
return #joined
`;

/**
 * KEYS as for join. ARGV: process id, user, channel, room, list limit. Drops the process's entry with its last user;
 * announces the user gone when no process has them.
 */
const PRESENCE_LEAVE_SCRIPT = `${PRESENCE_FRAME_LUA}
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('ZREM', KEYS[1], ARGV[1]) end
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) > 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('SPUBLISH', ARGV[3], presence_frame(ARGV[4], 'left', {ARGV[2]}, redis.call('HLEN', KEYS[3]), ARGV[5]))
return 1
`;

/**
 * KEYS as for join. ARGV: now ms, expiry ms, process id, channel, room, list limit, the name of a process's users
 * set without the process id. Renews this process's entry, then drops the processes that died without leaving and
 * announces, in one frame, the users nobody has any more. Answers 1 when Redis had lost this process's users, which
 * the caller then joins again.
 */
const PRESENCE_REFRESH_SCRIPT = `${PRESENCE_FRAME_LUA}
local lost = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) == 1 or redis.call('EXISTS', KEYS[2]) == 0
local left = {}
for _, process in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  redis.call('ZREM', KEYS[1], process)
  local users = ARGV[7] .. process
  for _, user in ipairs(redis.call('SMEMBERS', users)) do
    if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then
      redis.call('HDEL', KEYS[3], user)
      table.insert(left, user)
    end
  end
  redis.call('DEL', users)
end
if #left > 0 then
  redis.call('SPUBLISH', ARGV[4], presence_frame(ARGV[5], 'left', left, redis.call('HLEN', KEYS[3]), ARGV[6]))
end
if lost then return 1 end
return 0
`;

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

const SCRIPTS = {
  publish: script(PUBLISH_SCRIPT),
  presenceJoin: script(PRESENCE_JOIN_SCRIPT),
  presenceLeave: script(PRESENCE_LEAVE_SCRIPT),
  presenceRefresh: script(PRESENCE_REFRESH_SCRIPT),
};

export class RedisBus implements Bus {
  readonly #commands: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #listener: BusListener;
  readonly #prefix: string;
  readonly #recentLimit: number;
  readonly #dedupeTtlSeconds: number;
  readonly #onInvalidPayload: (payload: string) => void;
  readonly #seed: (room: string) => Promise<number>;
  /** Per room, the Store read of a floor in flight: the publishes waiting out an outage share one query. */
  readonly #seeding = new Map<string, Promise<number>>();
  readonly #reseedMargin: number;
  /**
   * Per subscribed room, the highest seq this process has seen assigned (its publishes, its subscription's messages
   * and epochs): a counter below it means Redis lost writes this process saw.
   */
  readonly #seen = new Map<string, number>();
  /** Per room, the last subscribe/unsubscribe in flight, so they apply in call order. */
  readonly #pending = new Map<string, Promise<unknown>>();
  /** The users whose inbox channel this process subscribed to, by channel. */
  readonly #userChannels = new Map<string, string>();
  /** This process's presence entries, refreshed until left; the process id keeps entries of processes apart. */
  readonly #present = new Map<string, Set<string>>();
  readonly #processId = randomUUID();
  readonly #presenceListLimit: number;
  readonly #presenceTtlMs: number;
  readonly #presenceTimer: NodeJS.Timeout;
  readonly #probeChannel: string;
  readonly #probeIntervalMs: number;
  readonly #onSubscriberStalled: () => void;
  #probeTimer: NodeJS.Timeout | undefined;
  #probesSent = 0;
  #probesAnswered = 0;
  /** The oldest probe that was published and has not come back. */
  #unanswered: { readonly probe: number; readonly at: number } | undefined;

  constructor(options: RedisBusOptions) {
    this.#commands = redisClient(options.target, "parley-bus");
    this.#subscriber = redisClient(options.target, "parley-bus-sub", { subscriber: true });
    this.#listener = options.listener;
    this.#prefix = options.prefix ?? "parley";
    this.#recentLimit = options.recentLimit ?? DEFAULT_RECENT_LIMIT;
    this.#dedupeTtlSeconds = options.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS;
    this.#onInvalidPayload = options.onInvalidPayload ?? (() => {});
    this.#seed = options.seed ?? (async () => 0);
    this.#reseedMargin = options.reseedMargin ?? DEFAULT_RESEED_MARGIN;
    this.#presenceListLimit = options.presenceListLimit ?? DEFAULT_PRESENCE_LIST_LIMIT;
    this.#presenceTtlMs = (options.presenceTtlSeconds ?? DEFAULT_PRESENCE_TTL_SECONDS) * 1000;
    this.#presenceTimer = setInterval(() => void this.#maintainPresence(), this.#presenceTtlMs / 3);
    this.#presenceTimer.unref();
    // The hash tag keeps the channel on one shard of a Cluster: the probe covers that shard's connection.
    this.#probeChannel = `${this.#prefix}:probe:{${this.#processId}}`;
    this.#probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.#onSubscriberStalled = options.onSubscriberStalled ?? (() => {});
    this.#subscriber.on("smessage", (channel: string, payload: string) => {
      if (channel === this.#probeChannel) {
        this.#answered(Number(payload));
        return;
      }
      const user = this.#userChannels.get(channel);
      const event = user === undefined ? decodeBusEvent(payload) : decodeInboxEvent(user, payload);
      if (event?.t === "sequenced") this.#see(event.event.room, event.event.seq);
      if (event?.t === "epoch") this.#see(event.room, event.seq);
      if (event) this.#listener(event);
      else this.#onInvalidPayload(payload);
    });
  }

  /** Connects both clients; resolves once Redis answers. */
  async connect(): Promise<void> {
    await Promise.all([this.#commands.connect(), this.#subscriber.connect()]);
    await this.#subscriber.ssubscribe(this.#probeChannel);
    this.#probeTimer = setInterval(() => this.#probe(), this.#probeIntervalMs);
    this.#probeTimer.unref();
  }

  async publish(input: PublishInput): Promise<Published> {
    const { room, from, cid } = input;
    const { prefix, suffix } = framePieces(input);
    const names = roomKeys(this.#prefix, room);
    const keys = [names.seq, names.recent, names.dedupe(from, cid)];
    const args = [prefix, suffix, String(this.#recentLimit), String(this.#dedupeTtlSeconds), names.channel];
    // Taken once: concurrent publishes that find the counter missing or behind then agree on the floor, and the
    // seqs they are assigned from it do not raise it again.
    const seen = this.#seen.get(room) ?? 0;
    let reply = await this.#eval(SCRIPTS.publish, keys, [...args, "", "", String(seen)]);
    if (Array.isArray(reply) && reply[0] === 2) {
      const floor = await this.#floor(room, seen);
      const retry = [String(floor), this.#epochFrame(room, floor), String(seen)];
      reply = await this.#eval(SCRIPTS.publish, keys, [...args, ...retry]);
    }
    if (!Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1) || typeof reply[1] !== "string") {
      throw new Error("unexpected reply from the publish script");
    }
    const published = decodeBusEvent(reply[1]);
    if (published?.t !== "sequenced") throw new Error("the publish script returned an undecodable event");
    this.#see(room, published.event.seq);
    return { event: published.event, duplicate: reply[0] === 0 };
  }

  async publishTyping(room: string, user: string): Promise<void> {
    await this.#commands.spublish(this.#channel(room), typingEvent(room, user).frame);
  }

  async publishRead(room: string, user: string, seq: number): Promise<void> {
    await this.#commands.spublish(this.#channel(room), readEvent(room, user, seq).frame);
  }

  async publishPersisted(room: string, upTo: number): Promise<void> {
    await announcePersisted(this.#commands, this.#prefix, room, upTo);
  }

  subscribe(room: string): Promise<void> {
    return this.#inOrder(room, () => this.#subscriber.ssubscribe(this.#channel(room)));
  }

  unsubscribe(room: string): Promise<void> {
    return this.#inOrder(room, async () => {
      await this.#subscriber.sunsubscribe(this.#channel(room));
      this.#seen.delete(room);
    });
  }

  async publishInbox(user: string, frame: InboxFrame): Promise<void> {
    await this.#commands.spublish(this.#userChannel(user), inboxEvent(user, frame).frame);
  }

  /** Ordered with the rooms' calls by channel name, which no room's shares. */
  subscribeUser(user: string): Promise<void> {
    const channel = this.#userChannel(user);
    return this.#inOrder(channel, async () => {
      this.#userChannels.set(channel, user);
      await this.#subscriber.ssubscribe(channel);
    });
  }

  unsubscribeUser(user: string): Promise<void> {
    const channel = this.#userChannel(user);
    return this.#inOrder(channel, async () => {
      await this.#subscriber.sunsubscribe(channel);
      this.#userChannels.delete(channel);
    });
  }

  async latest(room: string): Promise<number> {
    const { seq: key, channel } = roomKeys(this.#prefix, room);
    const value = await this.#commands.get(key);
    if (value !== null) return Number(value);
    const floor = await this.#floor(room, this.#seen.get(room) ?? 0);
    const epoch = this.#epochFrame(room, floor);
    if ((await this.#commands.set(key, String(floor), "NX")) && epoch) await this.#commands.spublish(channel, epoch);
    return Number(await this.#commands.get(key));
  }

  recent(room: string, after: number): Promise<RoomEvent[]> {
    return readRecent(this.#commands, this.#prefix, room, after);
  }

  /** Both connections are up, and the subscriber received the last probe in time. */
  isReady(): boolean {
    return this.#commands.status === "ready" && this.#subscriber.status === "ready" && !this.#stalled(Date.now());
  }

  async joinPresence(room: string, user: string): Promise<void> {
    let users = this.#present.get(room);
    if (!users) {
      users = new Set();
      this.#present.set(room, users);
    }
    users.add(user);
    await this.#joinPresence(room, [user]);
  }

  async leavePresence(room: string, user: string): Promise<void> {
    const users = this.#present.get(room);
    users?.delete(user);
    if (users?.size === 0) this.#present.delete(room);
    const keys = roomKeys(this.#prefix, room);
    await this.#eval(SCRIPTS.presenceLeave, this.#presenceKeys(keys), [
      this.#processId,
      user,
      keys.channel,
      room,
      String(this.#presenceListLimit),
    ]);
  }

  async presence(room: string): Promise<Presence> {
    const key = roomKeys(this.#prefix, room).presenceUsers;
    const count = await this.#commands.hlen(key);
    if (count > this.#presenceListLimit) return { count };
    const users = (await this.#commands.hkeys(key)).sort();
    return { count: users.length, users };
  }

  /**
   * Renews this process's entry and sweeps those of dead processes in every room it has members in: one call per room,
   * plus one to put its users back in a room where Redis lost them.
   */
  async #maintainPresence(): Promise<void> {
    for (const [room, users] of this.#present) {
      const keys = roomKeys(this.#prefix, room);
      try {
        const now = Date.now();
        const lost = await this.#eval(SCRIPTS.presenceRefresh, this.#presenceKeys(keys), [
          String(now),
          String(now + this.#presenceTtlMs),
          this.#processId,
          keys.channel,
          room,
          String(this.#presenceListLimit),
          keys.presenceOf(""),
        ]);
        if (lost === 1 && users.size > 0) await this.#joinPresence(room, [...users]);
      } catch {
        // Redis is unavailable: the next round tries again, and readiness reports the outage.
      }
    }
  }

  async #joinPresence(room: string, users: readonly string[]): Promise<void> {
    const keys = roomKeys(this.#prefix, room);
    await this.#eval(SCRIPTS.presenceJoin, this.#presenceKeys(keys), [
      String(Date.now() + this.#presenceTtlMs),
      this.#processId,
      keys.channel,
      room,
      String(this.#presenceListLimit),
      ...users,
    ]);
  }

  /** The keys every presence script takes: the room's processes, this process's users there, the users hash. */
  #presenceKeys(keys: ReturnType<typeof roomKeys>): string[] {
    return [keys.presenceProcesses, keys.presenceOf(this.#processId), keys.presenceUsers];
  }

  async close(): Promise<void> {
    clearInterval(this.#presenceTimer);
    clearInterval(this.#probeTimer);
    await Promise.allSettled([...this.#pending.values()]);
    await Promise.all([this.#commands.quit(), this.#subscriber.quit()]);
  }

  /** The epoch frame announcing a restart above `floor`, or "" for a room that starts from scratch. */
  #epochFrame(room: string, floor: number): string {
    return floor === 0 ? "" : epochEvent(room, floor).frame;
  }

  /**
   * Where a room without a counter, or with one behind `seen` (the highest seq this process saw there), continues:
   * above every seq that may have been handed out before.
   */
  async #floor(room: string, seen: number): Promise<number> {
    let seeding = this.#seeding.get(room);
    if (seeding === undefined) {
      seeding = this.#seed(room).finally(() => this.#seeding.delete(room));
      this.#seeding.set(room, seeding);
    }
    const highest = Math.max(await seeding, seen);
    return highest === 0 ? 0 : highest + this.#reseedMargin;
  }

  /**
   * Publishes the next probe; first, if the oldest unanswered one is overdue, reconnects the subscriber. A probe
   * that could not be published (Redis is down) is not waited for: the connections' status says that already.
   */
  #probe(): void {
    const now = Date.now();
    if (this.#stalled(now) && this.#subscriber.status === "ready") {
      this.#unanswered = undefined;
      this.#onSubscriberStalled();
      this.#subscriber.disconnect(true);
      return;
    }
    const probe = ++this.#probesSent;
    this.#commands.spublish(this.#probeChannel, String(probe)).then(
      () => {
        if (probe > this.#probesAnswered) this.#unanswered ??= { probe, at: now };
      },
      () => {},
    );
  }

  #answered(probe: number): void {
    this.#probesAnswered = Math.max(this.#probesAnswered, probe);
    if (this.#unanswered !== undefined && this.#unanswered.probe <= this.#probesAnswered) this.#unanswered = undefined;
  }

  #stalled(now: number): boolean {
    return (
      this.#unanswered !== undefined && now - this.#unanswered.at > PROBE_TIMEOUT_INTERVALS * this.#probeIntervalMs
    );
  }

  #see(room: string, seq: number): void {
    if (seq > (this.#seen.get(room) ?? 0)) this.#seen.set(room, seq);
  }

  async #eval({ source, sha }: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#commands.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return this.#commands.eval(source, keys.length, ...keys, ...args);
    }
  }

  async #inOrder(room: string, operation: () => Promise<unknown>): Promise<void> {
    const previous = this.#pending.get(room) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(operation);
    this.#pending.set(room, next);
    try {
      await next;
    } finally {
      if (this.#pending.get(room) === next) this.#pending.delete(room);
    }
  }

  #channel(room: string): string {
    return roomKeys(this.#prefix, room).channel;
  }

  /** A user's inbox channel, hash-tagged by the user so it lives on one shard of a Cluster. */
  #userChannel(user: string): string {
    return `${this.#prefix}:user:{${user}}`;
  }
}
