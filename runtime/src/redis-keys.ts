/**
 * Where a room lives in Redis, shared by the gateways' bus and the persister's watermark feed. Every key and the
 * channel of a room carry the hash tag `{room}`, so one Lua script can touch them all on Redis Cluster, and the
 * channel is a sharded pub/sub channel of the same slot.
 */
export function roomKeys(prefix: string, room: string) {
  const tag = `${prefix}:{${room}}`;
  return {
    /** The room's last assigned seq. */
    seq: `${tag}:seq`,
    /** Capped list of the room's latest message frames, for recovery. */
    recent: `${tag}:recent`,
    /** Remembers `(from, cid)` for idempotent retries. */
    dedupe: (from: string, cid: string) => `${tag}:cid:${from}:${cid}`,
    /** Sorted set of the gateway processes with members in the room, scored by when their entry expires (ms). */
    presenceProcesses: `${tag}:presence-processes`,
    /** Set of the users present in the room through one gateway process. */
    presenceOf: (process: string) => `${tag}:presence:${process}`,
    /** Hash user -> number of processes that have them, so joins and leaves across gateways are counted once. */
    presenceUsers: `${tag}:presence-users`,
    /** Sharded pub/sub channel carrying the room's frames (messages, typing, presence, watermarks). */
    channel: `${tag}:events`,
  } as const;
}
